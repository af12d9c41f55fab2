#!/bin/sh
# Builds vessel's native helper with the system C compiler (cc exists on Debian and in FreeBSD's
# base): vessel-init — the containers' monitor, `vessel exec`, Linux's init, FreeBSD's jail exec —
# from the shared files (native/common) and this OS's (native/linux or native/freebsd); and
# vessel-probe (native/probe), `vessel selftest`'s probe; and vessel-tar-gate (native/gate), the
# tar stream's way into the image store (src/image/gate.ts).
# C11, warnings as errors. -Wno-format-truncation: every snprintf into a fixed buffer is meant to
# cut (bounded paths and messages); gcc's guess of the worst case would fail the build otherwise.
# It is added only where the compiler knows it: clang before 18 (FreeBSD 14.0's base cc is clang
# 16) does not, and -Werror turns its "unknown warning option" into a failed build.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${VESSEL_LIBEXEC:-$here/../build}
mkdir -p "$out"
CFLAGS_VESSEL="-std=c11 -O2 -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2"
if printf 'int main(void) { return 0; }\n' | ${CC:-cc} -Werror -Wno-format-truncation -fsyntax-only -x c - 2>/dev/null; then
  CFLAGS_VESSEL="$CFLAGS_VESSEL -Wno-format-truncation"
fi

# stale when the binary is missing or older than any of its sources
stale() {
  bin=$1; shift
  [ -x "$bin" ] || return 0
  for f in "$@"; do [ "$f" -nt "$bin" ] && return 0; done
  return 1
}

case "$(uname -s)" in
Linux) os=linux; flags=-D_GNU_SOURCE ;;
# FreeBSD's default environment shows POSIX and BSD interfaces even under -std=c11
FreeBSD) os=freebsd; flags= ;;
*) exit 0 ;;
esac
bin=$out/vessel-init
srcs="$here/common/*.c $here/$os/*.c"
# shellcheck disable=SC2086
# build.sh itself too: a change of flags rebuilds
if stale "$bin" "$here/build.sh" $srcs $here/common/*.h $here/$os/*.h; then
  # shellcheck disable=SC2086
  ${CC:-cc} $CFLAGS_VESSEL $flags -o "$bin.tmp" $srcs
  mv "$bin.tmp" "$bin"
fi

# vessel-probe: what `vessel selftest` runs inside each case's container and on the host. Static,
# so it runs in any image (busybox, FreeBSD's /rescue) from a read-only mount of this directory.
probe=$out/probe/vessel-probe
# shellcheck disable=SC2086
if stale "$probe" "$here/build.sh" $here/probe/*.c $here/probe/*.h; then
  mkdir -p "$out/probe"
  # shellcheck disable=SC2086
  ${CC:-cc} $CFLAGS_VESSEL $flags -static -o "$probe.tmp" $here/probe/*.c
  mv "$probe.tmp" "$probe"
fi

# vessel-tar-gate: hashes, walks and forwards every tar stream an import or pull unpacks.
gate=$out/vessel-tar-gate
# shellcheck disable=SC2086
if stale "$gate" "$here/build.sh" $here/gate/*.c $here/gate/*.h; then
  # shellcheck disable=SC2086
  ${CC:-cc} $CFLAGS_VESSEL $flags -o "$gate.tmp" $here/gate/*.c
  mv "$gate.tmp" "$gate"
fi

# vessel: the native front end of the `vessel` command (native/front/main.c says what it does).
# It runs this package's Node CLI when vessel up does not serve a command: the node and
# bin/vessel.js it runs are the ones seen here, written into front-paths.h (rewritten only when
# they change, so the binary is rebuilt only then).
node_bin=$(command -v node || true)
cli_js=$(cd "$here/.." && pwd)/bin/vessel.js
if [ -n "$node_bin" ]; then
  quote() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
  paths=$(printf '/* written by native/build.sh */\n#define VESSEL_NODE "%s"\n#define VESSEL_CLI "%s"\n' "$(quote "$node_bin")" "$(quote "$cli_js")")
  if [ ! -f "$out/front-paths.h" ] || [ "$(cat "$out/front-paths.h")" != "$paths" ]; then
    printf '%s\n' "$paths" > "$out/front-paths.h"
  fi
  front=$out/vessel
  # shellcheck disable=SC2086
  if stale "$front" "$here/build.sh" "$out/front-paths.h" $here/front/*.c $here/front/*.h; then
    # shellcheck disable=SC2086
    ${CC:-cc} $CFLAGS_VESSEL $flags -I"$out" -o "$front.tmp" $here/front/*.c
    mv "$front.tmp" "$front"
  fi
fi
