#!/usr/bin/env bash
# Print what of the local stack is running.
#   scripts/stack/status.sh [all|kafka|redis|s3|fakesnow ...]    (default: every known service)
# Exit status: with service names given, 0 only if each is running and healthy;
# without arguments, always 0 (it only reports).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/stack/lib.sh
. "$ROOT/scripts/stack/lib.sh"

main() {
  local svc pid port rc=0 state strict=1
  if [ "$#" -eq 0 ]; then
    SERVICES=("${STACK_SERVICES_KNOWN[@]}"); strict=0
  else
    expand_services "$@"
  fi
  printf '%-9s %-10s %-8s %-22s %s\n' SERVICE STATE PID ADDRESS NOTE
  for svc in "${SERVICES[@]}"; do
    port="$(svc_ports "$svc" | cut -d' ' -f1)"
    pid="$(our_pid "$svc" 2>/dev/null)"
    if [ -n "$pid" ]; then
      if svc_healthy "$svc"; then state=running; else state=unhealthy; rc=1; fi
      printf '%-9s %-10s %-8s %-22s %s\n' "$svc" "$state" "$pid" "127.0.0.1:$port" "log ${RUN_DIR#"$ROOT"/}/$svc.log"
    elif port_open "$port"; then
      rc=1
      printf '%-9s %-10s %-8s %-22s %s\n' "$svc" "foreign" "-" "127.0.0.1:$port" "port held by $(port_owner "$port")"
    else
      rc=1
      printf '%-9s %-10s %-8s %-22s %s\n' "$svc" "stopped" "-" "127.0.0.1:$port" ""
    fi
  done
  echo
  echo "export CHURNFEAT_KAFKA_BROKERS=$CHURNFEAT_KAFKA_BROKERS CHURNFEAT_REDIS_URL=$CHURNFEAT_REDIS_URL CHURNFEAT_S3_ENDPOINT=$CHURNFEAT_S3_ENDPOINT"
  [ "$strict" = 1 ] && return "$rc"
  return 0
}

main "$@"
