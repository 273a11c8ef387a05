# shellcheck shell=bash
# Shared helpers for scripts/stack/{start,stop,status}.sh. Sourced, not run.
# Expects ROOT (repo root) to be set by the caller.

: "${ROOT:?ROOT must be set before sourcing lib.sh}"

# shellcheck source=scripts/stack/env.sh
. "$ROOT/scripts/stack/env.sh"

RUN_DIR="$ROOT/.cache/run"
KAFKA_LIBS="$ROOT/.cache/kafka/libs"
TOOLS_VENV="$ROOT/.venv/tools"

STACK_SERVICES_ALL=(kafka redis s3)              # what "all" means
STACK_SERVICES_KNOWN=(kafka redis s3 fakesnow)   # everything start/stop/status know

say()  { printf '[stack] %s\n' "$*"; }
warn() { printf '[stack] %s\n' "$*" >&2; }
die()  { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

now_ms() { date +%s%3N; }

# Expand service arguments ("all", names, or nothing = all) into the array SERVICES.
expand_services() {
  local arg
  SERVICES=()
  [ "$#" -eq 0 ] && set -- all
  for arg in "$@"; do
    case "$arg" in
      all) SERVICES+=("${STACK_SERVICES_ALL[@]}") ;;
      kafka|redis|s3|fakesnow) SERVICES+=("$arg") ;;
      -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown service '$arg' (expected one of: all ${STACK_SERVICES_KNOWN[*]})" ;;
    esac
  done
  # de-duplicate, keeping order
  local seen=" " svc uniq=()
  for svc in "${SERVICES[@]}"; do
    [[ "$seen" == *" $svc "* ]] || { uniq+=("$svc"); seen="$seen$svc "; }
  done
  SERVICES=("${uniq[@]}")
}

# Serialise start/stop/status across concurrent invocations in this checkout.
# The lock fd (9) must not leak into daemons: launchers close it with 9>&-.
take_lock() {
  mkdir -p "$RUN_DIR"
  # set (only) by start.sh when it calls stop.sh while holding the lock itself
  [ "${CHURNFEAT_STACK_LOCK_HELD:-0}" = 1 ] && return 0
  exec 9>"$RUN_DIR/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 180 9 || die "could not take $RUN_DIR/.lock within 180 s (another start/stop running?)"
  fi
}

# ---- kafka ----------------------------------------------------------------------------

# kafka_properties NODE_ID VOTERS LISTENERS ADVERTISED INTER_BROKER_LISTENER PROTOCOL_MAP LOG_DIR
# Prints the KRaft lines of a stack broker that is its own controller (listener CONTROLLER):
# start.sh's single broker, ha.sh's three, kafka-security.sh's secured one. Each caller
# writes its header comment before them and its own settings after them.
kafka_properties() {
  cat <<EOF
process.roles=broker,controller
node.id=$1
controller.quorum.voters=$2
listeners=$3
advertised.listeners=$4
controller.listener.names=CONTROLLER
inter.broker.listener.name=$5
listener.security.protocol.map=$6
log.dirs=$7
EOF
}

# ---- per-service facts --------------------------------------------------------

svc_ports() {
  case "$1" in
    kafka)    echo "$CHURNFEAT_KAFKA_PORT $CHURNFEAT_KAFKA_CONTROLLER_PORT" ;;
    redis)    echo "$CHURNFEAT_REDIS_PORT" ;;
    s3)       echo "$CHURNFEAT_S3_PORT" ;;
    fakesnow) echo "$CHURNFEAT_FAKESNOW_PORT" ;;
  esac
}
svc_pidfile() { echo "$RUN_DIR/$1.pid"; }
svc_log()     { echo "$RUN_DIR/$1.log"; }
svc_deadline() {
  case "$1" in
    kafka) echo "${CHURNFEAT_KAFKA_START_TIMEOUT:-90}" ;;
    redis) echo "${CHURNFEAT_REDIS_START_TIMEOUT:-15}" ;;
    *)     echo "${CHURNFEAT_START_TIMEOUT:-30}" ;;
  esac
}
# A substring that the process's command line must contain for us to call it ours.
svc_cmd_pattern() {
  case "$1" in
    kafka)    echo "kafka.Kafka $RUN_DIR/kafka/server.properties" ;;
    redis)    echo "redis-server" ;;
    s3)       echo "$TOOLS_VENV/bin/moto_server" ;;
    fakesnow) echo "$TOOLS_VENV/bin/fakesnow" ;;
  esac
}

# ---- processes and ports ----------------------------------------------------------

# Alive = exists and is not a zombie (daemons are reparented to init, which may
# reap them only after a while; a zombie holds no ports and no resources).
pid_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/stat" ]; then
    local stat; stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat%% *}" != Z ] || return 1
  fi
  return 0
}

pid_cmdline() {
  if [ -r "/proc/$1/cmdline" ]; then
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | sed 's/[[:space:]]*$//'
  else
    ps -o args= -p "$1" 2>/dev/null | sed 's/[[:space:]]*$//' || true
  fi
}

# A command line shortened for messages: its head and its tail (where a java
# main class and its arguments are).
short_cmdline() {
  local c; c="$(pid_cmdline "$1")"
  if [ "${#c}" -gt 200 ]; then
    echo "${c:0:60} ... ${c: -130}"
  else
    echo "$c"
  fi
}

# Prints the pid of our running instance of a service, or nothing.
# Removes the pidfile if it is stale (process gone, or pid reused by another program).
our_pid() {
  local svc="$1" pidfile pid cmd
  pidfile="$(svc_pidfile "$svc")"
  [ -f "$pidfile" ] || return 0
  pid="$(tr -dc '0-9' <"$pidfile" 2>/dev/null || true)"
  if [ -z "$pid" ]; then
    # redis writes its own pidfile a moment after forking; an empty one is stale
    # only if it stays empty.
    sleep 0.2
    pid="$(tr -dc '0-9' <"$pidfile" 2>/dev/null || true)"
  fi
  if pid_alive "$pid"; then
    cmd="$(pid_cmdline "$pid")"
    if [[ "$cmd" == *"$(svc_cmd_pattern "$svc")"* ]]; then
      echo "$pid"
      return 0
    fi
    warn "$svc: pidfile names pid $pid, which is now '$cmd' (not ours); removing stale pidfile"
  else
    [ -n "$pid" ] && warn "$svc: removing stale pidfile (pid $pid is gone)"
  fi
  rm -f "$pidfile"
}

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Describe who listens on a TCP port: "pid 123 (cmdline)" or "an unknown process".
port_owner() {
  local port="$1" pids="" pid out="" inode hexport
  if command -v ss >/dev/null 2>&1; then
    pids="$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true)"
  fi
  if [ -z "$pids" ] && [ -r /proc/net/tcp ]; then
    # Fallback: find the listening socket's inode, then the process holding it.
    hexport="$(printf '%04X' "$port")"
    for inode in $(awk -v p=":$hexport" '$2 ~ p"$" && $4 == "0A" {print $10}' /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u); do
      for fd in /proc/[0-9]*/fd/*; do
        if [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ]; then
          pid="${fd#/proc/}"; pids="$pids ${pid%%/*}"
        fi
      done
    done
    pids="$(echo "$pids" | tr ' ' '\n' | grep . | sort -u || true)"
  fi
  if [ -z "$pids" ]; then
    echo "an unknown process (owner not visible to this user)"
    return 0
  fi
  for pid in $pids; do
    out="${out:+$out, }pid $pid ($(short_cmdline "$pid"))"
  done
  echo "$out"
}

# Fail clearly if any port of the service is already taken by someone else.
check_ports_free() {
  local svc="$1" port
  for port in $(svc_ports "$svc"); do
    if port_open "$port"; then
      die "$svc: cannot start, 127.0.0.1:$port is already in use by $(port_owner "$port"). Stop that process or choose another port (see scripts/stack/env.sh)."
    fi
  done
}

http_status() { # prints an HTTP status code, or 000 when nothing answers
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true
  else
    python3 - "$1" <<'PY' 2>/dev/null || echo 000
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=3).status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
  fi
}

# Start a command detached (own session, stdin closed, lock fd closed) and record its pid.
launch_bg() {
  local pidfile="$1" log="$2"; shift 2
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$log" 2>&1 9>&- &
  # wait until the pidfile is written (it is the first thing the child does)
  local _
  for _ in $(seq 1 50); do [ -s "$pidfile" ] && return 0; sleep 0.05; done
  die "could not launch: $*"
}

# Rotate a service log so health checks only look at this run's output.
rotate_log() {
  local log; log="$(svc_log "$1")"
  [ -f "$log" ] && mv -f "$log" "$log.prev"
  : >"$log"
}

print_log_tail() {
  local log; log="$(svc_log "$1")"
  warn "---- last 40 lines of ${log#"$ROOT"/} ----"
  tail -n 40 "$log" >&2 2>/dev/null || true
  warn "---- end of log ----"
}

# ---- health -----------------------------------------------------------------------------

kafka_java() { java -Xmx256m -cp "$KAFKA_LIBS/*" -Dlog4j.configuration="file:$RUN_DIR/kafka/tools-log4j.properties" "$@"; }

# quick: is the running service answering? (used for "already running")
svc_healthy() {
  local svc="$1" code
  case "$svc" in
    kafka)
      port_open "$CHURNFEAT_KAFKA_PORT" && port_open "$CHURNFEAT_KAFKA_CONTROLLER_PORT" \
        && grep -q 'Kafka Server started' "$(svc_log kafka)" 2>/dev/null ;;
    redis)
      [ "$(redis-cli -h 127.0.0.1 -p "$CHURNFEAT_REDIS_PORT" ping 2>/dev/null)" = "PONG" ] ;;
    s3)
      code="$(http_status "$CHURNFEAT_S3_ENDPOINT/")"; [ "$code" = 200 ] ;;
    fakesnow)
      code="$(http_status "$CHURNFEAT_FAKESNOW_URL/")"; [ "$code" != 000 ] && [ -n "$code" ] ;;
  esac
}

# a real protocol round trip, run once after the broker first reports started
kafka_api_check() {
  kafka_java kafka.admin.BrokerApiVersionsCommand --bootstrap-server "$CHURNFEAT_KAFKA_BROKERS" >/dev/null 2>&1
}
