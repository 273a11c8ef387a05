#!/usr/bin/env bash
# Installs the manifest tools, offline-capable once done: kubeconform and kustomize built
# from the Go module proxy into .tools/go/bin, and the Kubernetes JSON schemas of one version
# out of the PyPI wheel kubernetes-validate into .cache/k8s-schemas. Idempotent: each step
# is skipped when its result is there at the pinned version. Versions: deploy/tools.env.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. deploy/tools.env
say() { printf '[deploy-tools] %s\n' "$*"; }

go_tool() { # go_tool BINARY MODULE@VERSION VERSION
  local bin="$TOOLS_BIN/$1" stamp="$TOOLS_BIN/.$1.version"
  if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$3" ]; then
    say "$1 $3: present"
    return 0
  fi
  command -v go >/dev/null 2>&1 || { say "ERROR: go is needed to build $1 ($2)"; exit 1; }
  say "$1 $3: go install $2"
  mkdir -p "$TOOLS_BIN"
  GOBIN="$PWD/$TOOLS_BIN" GOFLAGS=-mod=mod go install "$2"
  echo "$3" >"$stamp"
}

go_tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" "$KUBECONFORM_VERSION"
go_tool kustomize "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" "$KUSTOMIZE_VERSION"

schemas="$K8S_SCHEMA_DIR/v$K8S_SCHEMA_VERSION-local-strict"
if [ -f "$schemas/deployment-apps-v1.json" ] && [ "$(cat "$K8S_SCHEMA_DIR/.version" 2>/dev/null)" = "$KUBERNETES_VALIDATE_VERSION" ]; then
  say "kubernetes schemas v$K8S_SCHEMA_VERSION: present"
else
  say "kubernetes schemas v$K8S_SCHEMA_VERSION: from the kubernetes-validate $KUBERNETES_VALIDATE_VERSION wheel"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  rm -rf "$schemas"
  mkdir -p "$K8S_SCHEMA_DIR"
  python3 - "$tmp"/kubernetes_validate-*.whl "$K8S_SCHEMA_DIR" "v$K8S_SCHEMA_VERSION-local-strict" <<'PY'
# The wheel's schemas are laid out for kubernetes-validate's own resolver: absolute $id and
# $ref ("/api/_definitions.json#/$defs/..."). For kubeconform (draft 4, file loader) each file
# loses its $id, refs become relative to its folder, and $defs is renamed definitions.
import json, os, sys, zipfile
wheel, dest, version = sys.argv[1:]
prefix = f"kubernetes_validate/kubernetes-json-schema/{version}/"

def fix(node):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                value = value.replace("/api/_definitions.json#/$defs/", "_definitions.json#/definitions/").replace("#/$defs/", "#/definitions/")
            out["definitions" if key == "$defs" else key] = fix(value)
        return out
    if isinstance(node, list):
        return [fix(item) for item in node]
    return node

with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and n.endswith(".json")]
    if not names:
        sys.exit(f"{version} is not in {wheel}")
    os.makedirs(os.path.join(dest, version), exist_ok=True)
    for n in names:
        schema = fix(json.loads(z.read(n)))
        schema.pop("$id", None)
        with open(os.path.join(dest, version, n[len(prefix):]), "w") as f:
            json.dump(schema, f)
print(f"{len(names)} schema files")
PY
  echo "$KUBERNETES_VALIDATE_VERSION" >"$K8S_SCHEMA_DIR/.version"
fi
