// Second half of `npm run build` (after tsc -p tsconfig.build.json): copies into dist/ the
// non-TypeScript files the compiled modules read at run time, at the same relative paths
// (contracts/ JSON Schemas, sidecar/src/store/lua/, ...). READMEs are left out.
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const TREES = ['contracts', 'cli', 'sidecar/src', 'parity/src'];

function copyAssets(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) copyAssets(path);
    else if (!/\.(ts|mjs)$/.test(entry) && entry !== 'README.md') cpSync(path, join('dist', path));
  }
}

for (const tree of TREES) if (existsSync(tree)) copyAssets(tree);
