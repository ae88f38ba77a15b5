#!/usr/bin/env bash
# Sourced by .ci/install_tools.sh and .ci/install_engine.sh: Debian 13 ("trixie") packages with a
# PRIVATE apt state (its own sources list, lists and cache under $SWFT_TOOLS_DIR/.apt), so the
# system's apt is untouched. The mirror is this machine's (the first URIs: line of its APT sources)
# or $SWFT_DEBIAN_MIRROR.
#   trixie_download PKG...   prints the path of each downloaded .deb, one a line

_TRIXIE_APT="${SWFT_TOOLS_DIR:-/opt/swft-tools}/.apt"
_TRIXIE_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

debian_mirror() {
  if [[ -n "${SWFT_DEBIAN_MIRROR:-}" ]]; then
    echo "$SWFT_DEBIAN_MIRROR"
    return
  fi
  local uri
  # deb822 sources first, then the one-line format; the first "debian" archive wins.
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' |
    grep -vE 'security|updates' | head -n1 || true)
  if [[ -z "$uri" ]]; then
    uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
      awk '{print $2}' | grep -vE 'security' | head -n1 || true)
  fi
  if [[ -z "$uri" ]]; then
    echo "install: no Debian mirror in the APT sources; set SWFT_DEBIAN_MIRROR" >&2
    exit 1
  fi
  echo "${uri%/}"
}

trixie_download() {
  local apt_dir=$_TRIXIE_APT
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
    "$(debian_mirror)" "$_TRIXIE_KEYRING" >"$apt_dir/trixie.sources"
  local apt_opts=(
    -o "Dir::Etc::sourcelist=$apt_dir/trixie.sources" -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
    -o "Dir::State::status=/dev/null" -o "APT::Sandbox::User=root"
  )
  # One update a run of the installers is enough.
  if [[ -z "${_TRIXIE_UPDATED:-}" ]]; then
    apt-get "${apt_opts[@]}" update -qq >&2
    _TRIXIE_UPDATED=1
  fi
  local pkg
  for pkg in "$@"; do
    (cd "$apt_dir/debs" && rm -f "${pkg}"_*.deb && apt-get "${apt_opts[@]}" download "$pkg" >&2)
    ls "$apt_dir/debs/${pkg}"_*.deb | head -n1
  done
}
