#!/usr/bin/env bash
# Stop local stack services started by scripts/stack/start.sh.
#   scripts/stack/stop.sh [all|kafka|redis|s3|fakesnow ...]     (default: all = every known service)
# Only the pids recorded in our pidfiles (.cache/run/*.pid) are signalled: TERM,
# up to 20 s of grace, then KILL. Stopping something that is not running is fine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/stack/lib.sh
. "$ROOT/scripts/stack/lib.sh"

GRACE_S="${CHURNFEAT_STOP_TIMEOUT:-20}"

declare -A PIDS=() T0=()

# Phase 1: send TERM to our pid (if any).
signal_one() {
  local svc="$1" pid
  pid="$(our_pid "$svc")"
  if [ -z "$pid" ]; then
    say "$svc: not running"
    rm -f "$(svc_pidfile "$svc")" "$RUN_DIR/$svc.ports"
    return 0
  fi
  say "$svc: stopping pid $pid"
  PIDS[$svc]="$pid"
  T0[$svc]="$(now_ms)"
  kill -TERM "$pid" 2>/dev/null || true
}

# Phase 2: wait for it to exit, KILL after the grace period, remove the pidfile.
reap_one() {
  local svc="$1" pid="${PIDS[$1]:-}" waited
  [ -n "$pid" ] || return 0
  while pid_alive "$pid"; do
    waited=$(( $(now_ms) - ${T0[$svc]} ))
    if [ "$waited" -ge $(( GRACE_S * 1000 )) ]; then
      warn "$svc: pid $pid still alive after ${GRACE_S} s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  rm -f "$(svc_pidfile "$svc")" "$RUN_DIR/$svc.ports"
  say "$svc: stopped in $(awk -v ms="$(( $(now_ms) - ${T0[$svc]} ))" 'BEGIN{printf "%.1f", ms/1000}') s"
}

main() {
  local svc
  if [ "$#" -eq 0 ] || [ "$*" = all ]; then
    SERVICES=("${STACK_SERVICES_KNOWN[@]}")   # "all" also stops fakesnow if it was started
  else
    expand_services "$@"
  fi
  take_lock
  # Kafka's controlled shutdown is the slowest: signal everything, then wait.
  for svc in "${SERVICES[@]}"; do signal_one "$svc"; done
  for svc in "${SERVICES[@]}"; do reap_one "$svc"; done
}

main "$@"
