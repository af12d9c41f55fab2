#!/bin/sh
# Builds vessel's native helpers with the system C compiler (cc exists on Debian and in FreeBSD's
# base). On FreeBSD the Linux-only init is not built: the jail driver needs no native code.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${VESSEL_LIBEXEC:-$here/../build}
mkdir -p "$out"
[ "$(uname -s)" = Linux ] || exit 0
src=$here/vessel-init.c
bin=$out/vessel-init
if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
  ${CC:-cc} -O2 -Wall -Wextra -Wno-unused-result -D_FORTIFY_SOURCE=2 -o "$bin.tmp" "$src"
  mv "$bin.tmp" "$bin"
fi
