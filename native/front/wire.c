/* wire.h: escaping and line reading for the front end's CLI lines. */
#include "wire.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int wire_put(char *out, size_t cap, size_t *len, const char *verb, const char *text) {
  static const char hex[] = "0123456789abcdef";
  size_t start = *len, n = *len;
  size_t vl = strlen(verb);
  if (n + vl + 1 >= cap) return -1;
  memcpy(out + n, verb, vl);
  n += vl;
  out[n++] = ' ';
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if (n + 5 >= cap || n - start + 5 > WIRE_LINE_MAX) return -1;
    if (*p == '\\') { out[n++] = '\\'; out[n++] = '\\'; }
    else if (*p < 0x20 || *p >= 0x7f) { out[n++] = '\\'; out[n++] = 'x'; out[n++] = hex[*p >> 4]; out[n++] = hex[*p & 15]; }
    else out[n++] = (char)*p;
  }
  out[n++] = '\n';
  *len = n;
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long wire_unescape(char *text) {
  char *w = text;
  for (const char *r = text; *r; r++) {
    if (*r != '\\') { *w++ = *r; continue; }
    if (r[1] == '\\') { *w++ = '\\'; r++; continue; }
    if (r[1] != 'x') return -1;
    int hi = hexval(r[2]), lo = hi < 0 ? -1 : hexval(r[3]);
    if (hi < 0 || lo < 0) return -1;
    *w++ = (char)(hi * 16 + lo);
    r += 3;
  }
  *w = '\0';
  return (long)(w - text);
}

int wire_read_line(struct wire_reader *r, char **line) {
  for (;;) {
    char *nl = memchr(r->buf + r->off, '\n', r->len - r->off);
    if (nl) {
      *nl = '\0';
      *line = r->buf + r->off;
      r->off = (size_t)(nl - r->buf) + 1;
      return 1;
    }
    /* keep the partial line at the start, then read more after it */
    memmove(r->buf, r->buf + r->off, r->len - r->off);
    r->len -= r->off;
    r->off = 0;
    if (r->len >= sizeof r->buf - 1) { errno = EMSGSIZE; return -1; }
    ssize_t got = read(r->fd, r->buf + r->len, sizeof r->buf - 1 - r->len);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    if (got == 0) { if (r->len) { errno = EPROTO; return -1; } return 0; }
    r->len += (size_t)got;
  }
}
