// dependency-cruiser: the import rules of the folder READMEs, checked by a tool.
//   npx depcruise --config .dependency-cruiser.cjs sidecar parity cli test bench airflow_dags
// (scripts/lint.sh runs it; docs/development.md explains the rules.) Paths are relative to
// the repo root. test/unit/lint/dependency-rules.test.ts runs these rules on small fake trees.

/**
 * The layers of sidecar/src (sidecar/README.md, column "may import"): each folder may import
 * the folders listed, and whatever those may import (the table lists only the nearest layers),
 * plus its own files and the shared root files errors.ts and logging.ts. A folder that is not
 * in this table is an error: a new folder gets its line here and in sidecar/README.md.
 */
const SIDECAR_LAYERS = {
  config: [],
  events: [],
  features: ['events'],
  windows: ['features', 'events'],
  store: ['windows'],
  kafka: ['events'],
  metrics: [],
  lake: ['config', 'events', 'kafka', 'metrics'],
  loadgen: ['config', 'events', 'kafka'],
  quality: ['events', 'loadgen', 'kafka'],
  dedup: ['store', 'kafka'],
  pipeline: ['config', 'store', 'kafka', 'metrics', 'quality', 'dedup'],
  serving: ['config', 'store', 'metrics'],
  canary: ['serving', 'kafka'],
  deletion: ['config', 'store', 'lake', 'kafka', 'metrics', 'serving'],
  audit: ['store', 'lake', 'deletion'],
  bootstrap: ['config', 'store', 'lake', 'kafka'],
};

/** sidecar/src files that every layer may import (and that import no layer). */
const SIDECAR_SHARED = '^sidecar/src/(errors|logging)\\.ts$';

function mayImport(layer, seen = new Set()) {
  for (const below of SIDECAR_LAYERS[layer] ?? []) {
    if (!seen.has(below)) {
      seen.add(below);
      mayImport(below, seen);
    }
  }
  return [...seen];
}

const layerRules = Object.keys(SIDECAR_LAYERS).map((layer) => {
  const allowed = mayImport(layer).sort();
  return {
    name: `sidecar-layer-${layer}`,
    comment: `sidecar/src/${layer}/ may import only ${allowed.length ? allowed.join(', ') : 'no other layer'} (sidecar/README.md)`,
    severity: 'error',
    from: { path: `^sidecar/src/${layer}/` },
    to: { path: '^sidecar/src/', pathNot: [`^sidecar/src/(${[layer, ...allowed].join('|')})/`, SIDECAR_SHARED] },
  };
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles: a cycle means two modules are one module, or one of them is in the wrong layer.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves to a file or an installed package.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'sidecar-not-to-parity',
      comment: 'The sidecar never imports parity/ (parity/README.md): whole-system entry points live above both, in cli/.',
      severity: 'error',
      from: { path: '^sidecar/' },
      to: { path: '^parity/' },
    },
    {
      name: 'nothing-imports-cli',
      comment: 'cli/ holds the entry points: nothing but its own files and its tests imports it; it imports the libraries.',
      severity: 'error',
      from: { pathNot: '^(cli|test)/' },
      to: { path: '^cli/' },
    },
    {
      name: 'only-tests-import-test',
      comment: 'test/ helpers are for tests (test/ and the DAG tests in airflow_dags/tests/), never for the code under test.',
      severity: 'error',
      from: { pathNot: '^(test|airflow_dags/tests)/' },
      to: { path: '^test/' },
    },
    {
      name: 'nothing-imports-bench',
      comment: 'bench/ holds benchmarks: they import the code, nothing imports them.',
      severity: 'error',
      from: { pathNot: '^bench/' },
      to: { path: '^bench/' },
    },
    {
      name: 'parity-imports-sidecar-public-modules',
      comment: "parity/ may import sidecar/src through each folder's index.ts (and errors.ts, logging.ts), never its inner files nor its entry points.",
      severity: 'error',
      from: { path: '^parity/' },
      to: { path: '^sidecar/', pathNot: ['^sidecar/src/[^/]+/index\\.ts$', SIDECAR_SHARED] },
    },
    {
      name: 'sidecar-folder-has-a-layer',
      comment: 'Every folder of sidecar/src has its line in the layer table of .dependency-cruiser.cjs and sidecar/README.md.',
      severity: 'error',
      from: { path: '^sidecar/src/[^/]+/', pathNot: `^sidecar/src/(${Object.keys(SIDECAR_LAYERS).join('|')})/` },
      to: {},
    },
    {
      name: 'sidecar-shared-files-import-no-layer',
      comment: 'errors.ts and logging.ts sit under every layer, so they import none (logging.ts reads its level through config/, the bottom layer, which imports neither).',
      severity: 'error',
      from: { path: SIDECAR_SHARED },
      to: { path: '^sidecar/src/[^/]+/', pathNot: '^sidecar/src/config/' },
    },
    ...layerRules,
    {
      name: 'runtime-code-not-to-dev-dependencies',
      comment: 'Code that runs in production (sidecar/, parity/, cli/) imports no devDependency (test and build tools).',
      severity: 'error',
      from: { path: '^(sidecar|parity|cli)/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // The fake trees of the rule test break the rules on purpose.
    exclude: { path: '^(\\.venv|\\.cache|\\.tools|dist|test/fixtures/depcruise)/' },
    // `import type` counts: a type import across layers couples them as much as a value import.
    tsPreCompilationDeps: true,
    // Resolve packages through their `exports` map, as Node does.
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'], exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], mainFields: ['module', 'main', 'types'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
