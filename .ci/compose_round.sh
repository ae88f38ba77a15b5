#!/usr/bin/env bash
# The compose.yaml round CI runs with Compose v2 (COMPOSE="docker compose") and with Debian's
# docker-compose 1.29 (the default here: the oldest Compose a user is likely to have): `config`
# with and without a .env, then up, healthy (and how long it took), /health, the .env's hex
# colour and message on the page, down. Builds runtime-deno from the stand-in bases (no registry
# here). Names start with SWFT_TEST_NAME_PREFIX (default swft-ci).
# Usage: [COMPOSE="docker compose"] bash .ci/compose_round.sh [HOST_PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-18080}
compose=${COMPOSE:-docker-compose}
project=${SWFT_TEST_NAME_PREFIX:-swft-ci}-compose
work=$(mktemp -d)
export SWFT_TARGET=runtime-deno SWFT_IMAGE=$project:test SWFT_HOST_PORT=$port \
  DENO_IMAGE=${SWFT_TEST_DENO_IMAGE:-swft-standin/deno:2.9.6} \
  RUNTIME_IMAGE=${SWFT_TEST_RUNTIME_IMAGE:-swft-standin/distroless-cc-debian13:nonroot}
# A copy of the project without .env, so a developer's own .env neither helps nor breaks the round.
git ls-files -z | xargs -0 cp --parents -t "$work"
cleanup() {
  (cd "$work" && $compose -p "$project" down --rmi all --volumes >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
# A check that fails ends the round (a `grep && echo` list would let set -e pass it by).
fail() {
  echo "compose round: $1: FAILED" >&2
  exit 1
}

echo "compose: $($compose version --short 2>/dev/null || $compose version | head -n1)"
$compose -p "$project" config -q || fail "config without .env"
echo "config without .env: ok"
# Written as .env.example shows: unquoted, a hex colour included (Deno's --env-file alone would
# read it as a comment; dev, docker run --env-file and Compose keep it).
printf 'CUSTOM_MESSAGE=Hello from dotenv & co\nBACKGROUND_COLOR=#1e90ff\n' >.env
# Into a variable first: `config | grep -q` under pipefail fails when grep's early exit kills
# compose with SIGPIPE (seen with Compose v1 while another round ran).
config=$($compose -p "$project" config) || fail "config with .env"
grep -q 'CUSTOM_MESSAGE: Hello from dotenv & co' <<<"$config" || fail "config with .env"
echo "config with .env: ok (interpolated)"

$compose -p "$project" up --build -d --quiet-pull 2>&1 | tail -n 3
id=$($compose -p "$project" ps -q swft)
started=$SECONDS
status=""
for _ in $(seq 1 60); do
  status=$(docker inspect -f '{{.State.Health.Status}}' "$id")
  [[ $status == healthy ]] && break
  [[ $(docker inspect -f '{{.State.Running}}' "$id") == true ]] || break
  sleep 1
done
if [[ $status != healthy ]]; then
  echo "compose: container not healthy (status: ${status:-none})" >&2
  docker logs "$id" >&2 || true
  exit 1
fi
echo "container healthy after $((SECONDS - started)) s (the first check runs one interval after start)"
# mem_limit 256m sizes MAX_CONNECTIONS, also on a cgroup v1 host (the v1 mount's own limit).
listening=$(docker logs "$id" 2>&1 | grep -m1 '"msg":"listening"' || true)
grep -q '"maxConnectionsFrom":"memory limit 256 MiB' <<<"$listening" ||
  fail "MAX_CONNECTIONS from mem_limit: ${listening:-no start-up line}"
echo "MAX_CONNECTIONS from the memory limit: ok ($(grep -o '"maxConnections":[0-9]*' <<<"$listening"))"
page() { curl -fsS "http://127.0.0.1:$port$1" || fail "GET $1"; }
grep -q '"status":"ok"' <<<"$(page /health)" || fail "/health"
echo "/health: ok"
grep -q 'Hello from dotenv &amp; co' <<<"$(page /)" || fail "the .env message on /"
echo "/ shows the .env message: ok"
grep -q -- '--bg:#1e90ff;' <<<"$(page /theme.css)" || fail "the .env colour"
echo "/theme.css has the .env colour: ok"
[[ $(docker inspect -f '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}' "$id") == "true 65532:65532" ]] ||
  fail "read-only root, user 65532"
echo "read-only root, user 65532: ok"
$compose -p "$project" down --rmi all --volumes >/dev/null 2>&1
echo "compose round passed"
