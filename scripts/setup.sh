#!/bin/sh
# What the README's two commands run first, so a fresh machine needs nothing else:
#   setup.sh start  — the runtime's packages, node modules, build, the example image
#   setup.sh test   — every package the tests use (.ci/packages), node modules, build
# Debian: apt (scripts/packages-runtime.txt). FreeBSD: pkg (scripts/packages-freebsd.txt), the
# example image built from this host's /rescue, and the host lines set-up cannot do for you printed.
set -eu
cd "$(dirname "$0")/.."
profile=${1:-start}
case "$profile" in
  start|test) ;;
  *) echo "usage: setup.sh start|test" >&2; exit 2 ;;
esac

if [ "$(uname -s)" = FreeBSD ]; then
  if [ "$(id -u)" = 0 ]; then
    # shellcheck disable=SC2046
    pkg install -y $(sed 's/#.*//' scripts/packages-freebsd.txt | tr -s ' \n' '\n' | grep -v '^$')
  else
    echo "setup: not root, skipping pkg (install: $(sed 's/#.*//' scripts/packages-freebsd.txt | tr -s ' \n' ' '))" >&2
  fi
  npm install --no-audit --no-fund --loglevel=error
  npm run build
  if [ "$profile" = start ]; then
    # The FreeBSD examples (vassals/freebsd/) run freebsd:latest: build it offline from /rescue once.
    if ! node bin/vessel.js image inspect freebsd:latest >/dev/null 2>&1; then
      node bin/vessel.js image base freebsd:latest
    fi
    # Kernel tunables, pf.conf and rc.conf are the host owner's: show what is missing and the lines.
    if ! node bin/vessel.js doctor; then
      node bin/vessel.js setup host
    fi
  fi
  exit 0
fi

case "$profile" in
  start) sh scripts/install-packages.sh scripts/packages-runtime.txt ;;
  test) sh scripts/install-packages.sh scripts/packages-runtime.txt .ci/packages ;;
esac
npm install --no-audit --no-fund --loglevel=error
npm run build
if [ "$profile" = start ]; then
  # The example vassals run busybox:latest: build it from Debian's busybox-static once.
  if ! node bin/vessel.js image inspect busybox:latest >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    sh test/fixtures/build-busybox.sh "$tmp/busybox.tar.gz"
    node bin/vessel.js image import "$tmp/busybox.tar.gz" busybox:latest
  fi
fi
