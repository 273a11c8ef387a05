# shellcheck shell=bash
# Connection settings for the local churnfeat stack. Source it:
#   . scripts/stack/env.sh
# Every port can be overridden by setting its variable before sourcing.
# Safe to source from an interactive shell: sets no shell options.

export CHURNFEAT_KAFKA_PORT="${CHURNFEAT_KAFKA_PORT:-19092}"
export CHURNFEAT_KAFKA_CONTROLLER_PORT="${CHURNFEAT_KAFKA_CONTROLLER_PORT:-19093}"
export CHURNFEAT_REDIS_PORT="${CHURNFEAT_REDIS_PORT:-16379}"
export CHURNFEAT_S3_PORT="${CHURNFEAT_S3_PORT:-15000}"
export CHURNFEAT_FAKESNOW_PORT="${CHURNFEAT_FAKESNOW_PORT:-18080}"
# The high-availability clusters of scripts/stack/ha.sh (make test-ha): port bases.
export CHURNFEAT_HA_KAFKA_BASE_PORT="${CHURNFEAT_HA_KAFKA_BASE_PORT:-19100}"
export CHURNFEAT_HA_REDIS_BASE_PORT="${CHURNFEAT_HA_REDIS_BASE_PORT:-16380}"

export CHURNFEAT_KAFKA_BROKERS="127.0.0.1:${CHURNFEAT_KAFKA_PORT}"
export CHURNFEAT_REDIS_URL="redis://127.0.0.1:${CHURNFEAT_REDIS_PORT}"
export CHURNFEAT_S3_ENDPOINT="http://127.0.0.1:${CHURNFEAT_S3_PORT}"
export CHURNFEAT_FAKESNOW_URL="http://127.0.0.1:${CHURNFEAT_FAKESNOW_PORT}"

# The Redis ACL users start.sh creates (passwords generated at start, in .cache/run/redis):
# CHURNFEAT_REDIS_URL="$CHURNFEAT_REDIS_SIDECAR_URL" churnfeat sidecar, likewise serve.
# Source this file again after a start to pick up the new passwords.
_cf_run="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.cache/run/redis"
if [ -r "$_cf_run/churnfeat-sidecar.password" ] && [ -r "$_cf_run/churnfeat-serving.password" ]; then
  export CHURNFEAT_REDIS_SIDECAR_URL="redis://churnfeat-sidecar:$(cat "$_cf_run/churnfeat-sidecar.password")@127.0.0.1:${CHURNFEAT_REDIS_PORT}"
  export CHURNFEAT_REDIS_SERVING_URL="redis://churnfeat-serving:$(cat "$_cf_run/churnfeat-serving.password")@127.0.0.1:${CHURNFEAT_REDIS_PORT}"
fi
unset _cf_run
