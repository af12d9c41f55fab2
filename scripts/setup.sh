#!/bin/sh
# What the README's two commands run first, so a fresh Debian machine needs nothing else:
#   setup.sh start  — Debian packages of the runtime, node modules, build, the example image
#   setup.sh test   — every package the tests use (.ci/packages), node modules, build
set -eu
cd "$(dirname "$0")/.."
profile=${1:-start}
case "$profile" in
  start) sh scripts/install-packages.sh scripts/packages-runtime.txt ;;
  test) sh scripts/install-packages.sh scripts/packages-runtime.txt .ci/packages ;;
  *) echo "usage: setup.sh start|test" >&2; exit 2 ;;
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
