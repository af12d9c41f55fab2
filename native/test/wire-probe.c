/*
 * wire-probe: native/front/wire.c driven from test/unit/native-front.test.ts (built there with
 * AddressSanitizer/UBSan). Arguments are hex, so any byte string reaches the C untouched.
 *   wire-probe put VERB HEX      → the escaped line wire_put makes (or "refused")
 *   wire-probe unescape TEXT     → the bytes as hex (or "malformed")
 *   wire-probe lines             → stdin's lines, one per output line as "LINE <text>" (or "error")
 */
#include "../front/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *from_hex(const char *hex) {
  size_t n = strlen(hex) / 2;
  char *out = malloc(n + 1);
  if (!out) exit(2);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) exit(2);
    out[i] = (char)v;
  }
  out[n] = '\0';
  return out;
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "put")) {
    static char buf[2 * WIRE_LINE_MAX];
    size_t len = 0;
    char *text = from_hex(argv[3]);
    if (wire_put(buf, sizeof buf, &len, argv[2], text) < 0) puts("refused");
    else fwrite(buf, 1, len, stdout);
    free(text);
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "unescape")) {
    char *t = strdup(argv[2]);
    long n = t ? wire_unescape(t) : -1;
    if (n < 0) puts("malformed");
    else {
      for (long i = 0; i < n; i++) printf("%02x", (unsigned char)t[i]);
      putchar('\n');
    }
    free(t);
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "lines")) {
    static struct wire_reader r;
    r.fd = STDIN_FILENO;
    char *line;
    int got;
    while ((got = wire_read_line(&r, &line)) > 0) printf("LINE %s\n", line);
    puts(got < 0 ? "error" : "eof");
    return 0;
  }
  return 2;
}
