/*
 * Test probe for native/gate/sha256.c (test/unit/native-gate.test.ts): the SHA-256 of stdin, or
 * of a million 'a' (FIPS 180-2's long vector) with "million", in hex, then the implementation's
 * name. "portable" as the first argument forces the portable code, so both implementations are
 * checked on a machine with SHA-NI. A second argument N feeds the input in N-byte pieces (the
 * block-carry paths).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../gate/sha256.h"

int main(int argc, char **argv) {
  struct sha256 s;
  sha256_init(&s);
  int a = 1;
  if (a < argc && !strcmp(argv[a], "portable")) {
    sha256_force_portable();
    a++;
  }
  int million = a < argc && !strcmp(argv[a], "million");
  if (million) a++;
  size_t piece = a < argc ? (size_t)strtoul(argv[a], NULL, 10) : 65536;
  if (piece == 0 || piece > 1 << 20) piece = 65536;
  static unsigned char buf[1 << 20];
  if (million) {
    memset(buf, 'a', sizeof buf);
    for (size_t left = 1000000; left > 0;) {
      size_t n = left < piece ? left : piece;
      sha256_update(&s, buf, n);
      left -= n;
    }
  } else {
    for (;;) {
      ssize_t n = read(0, buf, piece);
      if (n < 0) return perror("read"), 1;
      if (n == 0) break;
      sha256_update(&s, buf, (size_t)n);
    }
  }
  unsigned char d[32];
  char hex[65];
  sha256_final(&s, d);
  sha256_hex(d, hex);
  printf("%s %s\n", hex, sha256_implementation());
  return 0;
}
