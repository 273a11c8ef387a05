#!/usr/bin/env bash
# Prepares .cache/peer-main: a directory the Flink peer's scripts (written against an older
# tree, which had sidecar/src/cli/sidecar.ts and sidecar/src/loadgen/cli.ts) can use as PF_MAIN.
# It links the project's package.json, node_modules, dist, dbt_project and contracts, and adds
# two launchers that run the compiled CLI's sidecar and loadgen commands. Run `npm run build` first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
main="$root/.cache/peer-main"
mkdir -p "$main/sidecar/src/cli" "$main/sidecar/src/loadgen"
for f in package.json node_modules dist dbt_project contracts tsconfig.json; do ln -sfn "$root/$f" "$main/$f"; done
launcher() {
  cat >"$2" <<TS
// launcher for the Flink peer's scripts: the compiled CLI's $1 command
const { main } = (await import('$root/dist/cli/churnfeat.js')) as { main: (argv: string[]) => Promise<number> };
process.exit(await main(['$1', ...process.argv.slice(2)]));
TS
}
launcher sidecar "$main/sidecar/src/cli/sidecar.ts"
launcher loadgen "$main/sidecar/src/loadgen/cli.ts"
echo "export PF_MAIN=$main PF_SCRATCH=$root/.cache/peer-flink PF_KAFKA_LIBS=$root/.cache/kafka/libs"
