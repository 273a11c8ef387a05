#!/usr/bin/env bash
# Redis access control and TLS material for the local stack and the security tests.
#   scripts/stack/redis-security.sh acl DIR [KEY_PATTERN]   DIR/users.acl + one password file per user
#   scripts/stack/redis-security.sh tls DIR                 DIR/ca.pem, DIR/server.pem, DIR/server.key (test-only CA)
# Passwords are generated on every call (openssl rand), written 0600 into DIR, never
# committed; users.acl (no comments allowed there) holds only their SHA-256. KEY_PATTERN (default cf:*) is the key
# prefix's pattern: the users may touch no other key. docs/security.md explains each rule.
set -euo pipefail

# The sidecar: its Redis Function (FCALL, FUNCTION LOAD), the registry marker and the
# watermark hash, plus the commands its Lua calls (ACLs apply inside functions too).
SIDECAR_COMMANDS="+ping +info +select +client|setname +fcall +fcall_ro +function|load +function|list +del
  +get +set +exists +hset +hsetnx +hget +hmget +hgetall +hdel +hlen +hincrby +pexpire +zadd +zremrangebyscore +time +xadd"
# Serving: the read function and the read-only keys it and /readyz touch; MULTI/EXEC for the
# explain endpoint (the state hash and the read in one transaction, no write).
SERVING_COMMANDS="+ping +info +select +client|setname +fcall_ro +get +exists +hget +hmget +hgetall +hlen +time +multi +exec"

sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

write_acl() {
  local dir="$1" keys="${2:-cf:*}" user password
  mkdir -p "$dir"
  umask 077
  {
    # The default user stays open for the local stack's own tools and tests (loopback only).
    echo "user default on nopass ~* &* +@all"
    for user in churnfeat-sidecar churnfeat-serving; do
      password="$(openssl rand -hex 24)"
      printf '%s\n' "$password" >"$dir/$user.password"
      if [ "$user" = churnfeat-sidecar ]; then
        echo "user $user on #$(sha256 "$password") resetkeys ~$keys resetchannels -@all $(echo $SIDECAR_COMMANDS)"
      else
        # %R~: read-only access to the keys
        echo "user $user on #$(sha256 "$password") resetkeys %R~$keys resetchannels -@all $(echo $SERVING_COMMANDS)"
      fi
    done
  } >"$dir/users.acl"
}

write_tls() {
  local dir="$1"
  mkdir -p "$dir"
  umask 077
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=churnfeat test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
  rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
}

case "${1:-}" in
  acl) write_acl "${2:?DIR}" "${3:-cf:*}" ;;
  tls) write_tls "${2:?DIR}" ;;
  *) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
