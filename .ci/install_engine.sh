#!/usr/bin/env bash
# Installs and starts ONE Docker engine with BuildKit, the builder users run (the default since
# Docker Engine 23 and in Docker Desktop), on a Debian 12 machine as root:
#
#   dockerd 26.1.5, containerd 1.7.24   Debian 13 ("trixie") packages docker.io and containerd,
#   buildx 0.13.1, Compose v2 2.26.1    docker-buildx and docker-compose; unpacked with dpkg-deb -x
#                                       from a PRIVATE apt state under $SWFT_TOOLS_DIR (they need
#                                       only libc6 >= 2.34), so the system's apt is untouched.
#   runc, tini, iptables                Debian 12's packages (apt-get install).
#
# dockerd runs with the containerd image store ("containerd-snapshotter": true), which BuildKit's
# OCI exporter options (rewrite-timestamp) and multi-platform images need. buildx and Compose v2
# go where the docker CLI finds plugins (/usr/local/libexec/docker/cli-plugins).
#
# Run ONE engine: a second dockerd started beside the first (seen here with --bridge=none) deletes
# the first one's docker0 bridge. When an engine already answers, this script only reports it.
# Idempotent; prints how long each step took. Usage: bash .ci/install_engine.sh
set -euo pipefail

TOOLS=${SWFT_TOOLS_DIR:-/opt/swft-tools}
ENGINE="$TOOLS/engine"
PLUGINS=/usr/local/libexec/docker/cli-plugins
LOG=${SWFT_DOCKERD_LOG:-/tmp/swft-dockerd.log}
source "$(dirname "$0")/_trixie.sh"

took() { printf 'engine: %s in %ss\n' "$1" "$(($(date +%s) - $2))"; }

if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "engine: one already answers: $(docker version --format 'dockerd {{.Server.Version}}')"
  docker buildx version 2>/dev/null || echo "engine: no buildx plugin on this engine's CLI" >&2
  exit 0
fi

t=$(date +%s)
missing=()
command -v runc >/dev/null || missing+=(runc)
command -v tini-static >/dev/null || missing+=(tini)
command -v iptables >/dev/null || missing+=(iptables)
command -v docker >/dev/null || missing+=(docker-cli)
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
took "Debian 12 packages (${missing[*]:-none missing})" "$t"

if [[ ! -x "$ENGINE/usr/sbin/dockerd" ]] || [[ ! -x "$ENGINE/usr/bin/containerd" ]] ||
  [[ ! -x "$ENGINE/usr/libexec/docker/cli-plugins/docker-buildx" ]] ||
  [[ ! -x "$ENGINE/usr/libexec/docker/cli-plugins/docker-compose" ]]; then
  t=$(date +%s)
  rm -rf "$ENGINE"
  for deb in $(trixie_download docker.io containerd docker-buildx docker-compose); do
    dpkg-deb -x "$deb" "$ENGINE"
  done
  took "docker.io, containerd, docker-buildx, docker-compose (Debian 13)" "$t"
fi

mkdir -p "$PLUGINS" /etc/swft
ln -sf "$ENGINE/usr/libexec/docker/cli-plugins/docker-buildx" "$PLUGINS/docker-buildx"
ln -sf "$ENGINE/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGINS/docker-compose"
cat >/etc/swft/daemon.json <<'JSON'
{ "features": { "containerd-snapshotter": true } }
JSON

t=$(date +%s)
# dockerd finds containerd, containerd-shim-runc-v2, docker-proxy and docker-init on its PATH.
(PATH="$ENGINE/usr/sbin:$ENGINE/usr/bin:$PATH" \
  nohup "$ENGINE/usr/sbin/dockerd" --config-file /etc/swft/daemon.json >"$LOG" 2>&1 &)
for _ in $(seq 1 60); do
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
  sleep 1
done
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "engine: dockerd did not answer within 60 s; its log ($LOG) ends:" >&2
  tail -n 20 "$LOG" >&2
  exit 1
fi
took "dockerd start" "$t"
docker version --format 'engine: dockerd {{.Server.Version}}, client {{.Client.Version}}'
docker info --format 'engine: storage {{.Driver}}, cgroup v{{.CgroupVersion}}'
docker buildx version
docker compose version
