#!/usr/bin/env bash
# Renders deploy/base and every overlay with kustomize and validates the output offline
# with kubeconform against the Kubernetes JSON schemas (strict: unknown fields fail) and
# deploy/schemas/ for the KEDA ScaledObject. Installs what is missing first
# (deploy/install-tools.sh). Writes the rendered manifests to .cache/deploy/<name>.yaml.
#
#   deploy/validate.sh            # exit 0: every manifest valid
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
deploy/install-tools.sh >&2
. deploy/tools.env
mkdir -p .cache/deploy
status=0
for dir in deploy/base deploy/overlays/*; do
  name="$(basename "$dir")"
  out=".cache/deploy/$name.yaml"
  "$KUSTOMIZE" build "$dir" >"$out"
  echo "== $dir -> $out"
  "$KUBECONFORM" -strict -summary -kubernetes-version "$K8S_SCHEMA_VERSION" \
    -schema-location "$ROOT/$K8S_SCHEMA_DIR/{{ .NormalizedKubernetesVersion }}-local-strict/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "$ROOT/deploy/schemas/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
    "$out" || status=1
done
exit "$status"
