import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { DRAIN_DEADLINE_MS } from '../../../cli/command.ts';
import { CANARY_OPTIONS } from '../../../sidecar/src/canary/index.ts';
import { COMMON_OPTIONS, SIDECAR_OPTIONS, type OptionTable } from '../../../sidecar/src/config/index.ts';
import { LAKE_WRITER_OPTIONS } from '../../../sidecar/src/lake/index.ts';
import { SERVE_OPTIONS } from '../../../sidecar/src/serving/index.ts';

// deploy/validate.sh builds kubeconform and kustomize from the Go module proxy the first time
// (deploy/install-tools.sh); without Go it cannot, and outside CI the test is skipped then.
const go = await execa('go', ['version'], { reject: false });
const mustRun = process.env.CI === 'true';
if (go.exitCode !== 0 && !mustRun) process.stderr.write('manifests.test.ts: skipped, no Go toolchain to build kubeconform/kustomize\n');

/**
 * The option table each `churnfeat <command>` reads; the commands with a /metrics listener
 * (cli/commands/metrics-server.ts) also read its bind address, and every command's logger reads the log level.
 */
const TABLES: Record<string, OptionTable> = { sidecar: SIDECAR_OPTIONS, serve: SERVE_OPTIONS, 'lake-writer': LAKE_WRITER_OPTIONS, canary: CANARY_OPTIONS };
const METRICS_LISTENERS = new Set(['sidecar', 'lake-writer', 'canary']);

function knownEnv(command: string): Set<string> {
  const table = TABLES[command];
  if (table === undefined) throw new Error(`no option table for churnfeat ${command}`);
  const known = new Set([...Object.values(table).flatMap((spec) => spec.env ?? []), ...(COMMON_OPTIONS.logLevel.env ?? [])]);
  if (METRICS_LISTENERS.has(command)) for (const variable of COMMON_OPTIONS.metricsHost.env ?? []) known.add(variable);
  return known;
}

interface K8sObject {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
}
interface Container {
  name: string;
  args?: string[];
  env?: Array<{ name: string; valueFrom?: { secretKeyRef?: { key: string } } }>;
  envFrom?: Array<{ configMapRef?: { name: string } }>;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  livenessProbe?: { httpGet?: { path: string } };
  readinessProbe?: { httpGet?: { path: string } };
}

function rendered(name: string): K8sObject[] {
  return (loadAll(readFileSync(`.cache/deploy/${name}.yaml`, 'utf8')) as K8sObject[]).filter(Boolean);
}

function deployments(objects: K8sObject[]) {
  return objects
    .filter((o) => o.kind === 'Deployment')
    .map((o) => {
      const template = (o.spec as { template: { spec: { containers: Container[]; terminationGracePeriodSeconds?: number } } }).template.spec;
      return { name: o.metadata.name, containers: template.containers, grace: template.terminationGracePeriodSeconds ?? 30 };
    });
}

/** Every env variable a container gets: its own `env` and the keys of the ConfigMaps it takes whole. */
function envOf(container: Container, objects: K8sObject[]): string[] {
  const names = (container.env ?? []).map((e) => e.name);
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef?.name;
    const map = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === ref);
    if (map === undefined) throw new Error(`container ${container.name}: ConfigMap ${ref} is not in the render`);
    names.push(...Object.keys(map.data ?? {}));
  }
  return names;
}

describe.skipIf(go.exitCode !== 0 && !mustRun)('deploy/ manifests', () => {
  it('render with kustomize and pass kubeconform -strict against the Kubernetes and KEDA schemas (deploy/validate.sh)', async () => {
    const result = await execa('deploy/validate.sh', [], { reject: false, all: true });
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toMatch(/Summary: \d+ resources found in 1 file - Valid: \d+, Invalid: 0, Errors: 0/);
  }, 600_000);

  for (const overlay of ['base', 'production']) {
    it(`${overlay}: every env variable a container is given is an option of the command it runs`, () => {
      const objects = rendered(overlay);
      const found = deployments(objects);
      expect(found.map((d) => d.name).sort()).toEqual(['churnfeat-canary', 'churnfeat-lake-writer', 'churnfeat-serving', 'churnfeat-sidecar']);
      for (const { name, containers } of found) {
        for (const container of containers) {
          const command = container.args?.[0] ?? '';
          const known = knownEnv(command);
          const unknown = envOf(container, objects).filter((variable) => !known.has(variable));
          expect(unknown, `${name}/${container.name} (churnfeat ${command}) sets variables no option reads`).toEqual([]);
          // A Secret key is named after the variable it fills, so the Secret reads as the option list.
          for (const e of container.env ?? []) if (e.valueFrom?.secretKeyRef) expect(e.valueFrom.secretKeyRef.key).toBe(e.name);
        }
      }
    });

    it(`${overlay}: the grace period covers preStop plus the services' drain deadline`, () => {
      for (const { name, containers, grace } of deployments(rendered(overlay))) {
        for (const container of containers) {
          const sleep = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
          expect(grace, `${name}: terminationGracePeriodSeconds`).toBeGreaterThanOrEqual(sleep + DRAIN_DEADLINE_MS / 1000);
          const paths = [container.livenessProbe?.httpGet?.path, container.readinessProbe?.httpGet?.path].filter(Boolean);
          expect(paths.length, `${name}: probes`).toBeGreaterThan(0);
          for (const path of paths) expect(container.args?.[0] === 'serve' ? ['/healthz', '/readyz'] : ['/metrics']).toContain(path);
        }
      }
    });
  }
});
