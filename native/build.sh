#!/bin/sh
# Builds vessel's native helpers with the system C compiler (cc exists on Debian and in FreeBSD's
# base): on Linux the container init (vessel-init.c), on FreeBSD the jail exec helper
# (freebsd/*.c, vessel-jail-exec), each only where it can run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${VESSEL_LIBEXEC:-$here/../build}
mkdir -p "$out"
case "$(uname -s)" in
Linux)
  src=$here/vessel-init.c
  bin=$out/vessel-init
  if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
    ${CC:-cc} -O2 -Wall -Wextra -Wno-unused-result -D_FORTIFY_SOURCE=2 -o "$bin.tmp" "$src"
    mv "$bin.tmp" "$bin"
  fi
  ;;
FreeBSD)
  bin=$out/vessel-jail-exec
  stale=0
  [ -x "$bin" ] || stale=1
  for f in "$here"/freebsd/*.c "$here"/freebsd/*.h; do [ "$f" -nt "$bin" ] && stale=1; done
  if [ "$stale" = 1 ]; then
    ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -o "$bin.tmp" "$here"/freebsd/*.c
    mv "$bin.tmp" "$bin"
  fi
  ;;
esac
