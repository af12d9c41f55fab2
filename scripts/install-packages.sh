#!/bin/sh
# Installs the Debian packages named in the given list files (one per line, # comments) that are
# not installed yet. Daemons the packages ship are kept from starting (policy-rc.d exits 101), so
# no service appears on 0.0.0.0. Does nothing when not root, not on Debian, or nothing is missing.
set -eu
[ "$(id -u)" = 0 ] || { echo "install-packages: not root, skipping apt (install: $(cat "$@" | grep -v '^#' | tr '\n' ' '))" >&2; exit 0; }
command -v apt-get >/dev/null 2>&1 || exit 0
pkgs=$(cat "$@" | sed 's/#.*//' | tr -s ' \n' '\n' | grep -v '^$' | sort -u)
missing=""
for p in $pkgs; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$st" in *" installed") ;; *) missing="$missing $p" ;; esac
done
[ -n "$missing" ] || exit 0
echo "install-packages: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
guard=/usr/sbin/policy-rc.d
had_guard=0
[ -e "$guard" ] && had_guard=1
if [ "$had_guard" = 0 ]; then
  printf '#!/bin/sh\nexit 101\n' > "$guard"
  chmod +x "$guard"
  trap 'rm -f "$guard"' EXIT INT TERM
fi
apt-get -o DPkg::Lock::Timeout=600 update -q
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing
