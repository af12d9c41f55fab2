/* The judge's line protocol (judge.h). */
#include "judge.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd = -1;
static char out[64 * 1024];
static size_t fill;

void judge_open(int f) { fd = f; }

int judge_flush(void) {
  size_t off = 0;
  while (off < fill) {
    ssize_t n = write(fd, out + off, fill - off);
    if (n < 0) {
      /* A signal: the caller's loop notices it; a retry here would block on a dead judge. */
      fill = 0;
      return -1;
    }
    off += (size_t)n;
  }
  fill = 0;
  return 0;
}

static int put(const char *p, size_t n) {
  while (n > 0) {
    if (fill == sizeof out && judge_flush() != 0) return -1;
    size_t k = sizeof out - fill < n ? sizeof out - fill : n;
    memcpy(out + fill, p, k);
    fill += k;
    p += k;
    n -= k;
  }
  return 0;
}

static int put_text(const char *s) { return put(s, strlen(s)); }

static int put_bytes(const uint8_t *p, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  if (put(" :", 2) != 0) return -1;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c > ' ' && c < 0x7f && c != '%') {
      if (put((const char *)&c, 1) != 0) return -1;
    } else {
      char esc[3] = { '%', hex[c >> 4], hex[c & 15] };
      if (put(esc, 3) != 0) return -1;
    }
  }
  return 0;
}

int judge_entry(const struct walk_entry *e) {
  char head[96];
  snprintf(head, sizeof head, "e %s %llu %llu %s", e->type ? e->type : "?", (unsigned long long)e->size, (unsigned long long)e->realsize,
           !e->sparse ? "-" : e->sparse_bad ? "!" : "+");
  if (put_text(head) != 0) return -1;
  if (e->sparse_bad && put_bytes((const uint8_t *)e->sparse_bad, strlen(e->sparse_bad)) != 0) return -1;
  if (put_bytes(e->name, e->name_len) != 0 || put_bytes(e->link, e->link_len) != 0) return -1;
  return put("\n", 1);
}

int judge_bad(const uint8_t *name, size_t name_len, const char *why, int at_end) {
  if (put_text(at_end ? "short" : "bad") != 0 || put_bytes(name, name ? name_len : 0) != 0 || put_bytes((const uint8_t *)why, strlen(why)) != 0) return -1;
  return put("\n", 1);
}

int judge_fail(const char *fmt, ...) {
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (put_text("fail") != 0 || put_bytes((const uint8_t *)why, strlen(why)) != 0) return -1;
  return put("\n", 1);
}

int judge_end(int read_all, const char *sha, uint64_t bytes, const char *unpacker, const char *decompressor) {
  char line[160];
  snprintf(line, sizeof line, "end %s %s %llu %s %s\n", read_all ? "all" : "part", sha, (unsigned long long)bytes, unpacker, decompressor);
  if (put_text(line) != 0) return -1;
  return judge_flush();
}

void judge_close(void) {
  /*
   * The judge answers every question in order, and some were asked before the gate stopped: it
   * may still be writing those answers after the "end" line. Were the gate to exit now, they
   * would hit a closed socket (EPIPE), and Node destroys a socket whose write failed, dropping
   * whatever it had not read yet: this report. So the gate says it is done (EOF after "end") and
   * reads, unheeded, until the judge closes its end. A judge that is gone closes it too.
   */
  (void)shutdown(fd, SHUT_WR);
  char sink[4096];
  for (;;) {
    ssize_t n = read(fd, sink, sizeof sink);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
  }
}

int judge_progress(uint64_t bytes, int64_t input) {
  char line[64];
  if (input < 0) snprintf(line, sizeof line, "p %llu -\n", (unsigned long long)bytes);
  else snprintf(line, sizeof line, "p %llu %lld\n", (unsigned long long)bytes, (long long)input);
  if (put_text(line) != 0) return -1;
  return judge_flush();
}

int judge_blob(uint64_t bytes, const char *sha) {
  char line[112];
  snprintf(line, sizeof line, "blob %llu %s\n", (unsigned long long)bytes, sha);
  return put_text(line);
}

long judge_read(char *v, size_t n) {
  ssize_t k = read(fd, v, n);
  if (k < 0 && (errno == EINTR || errno == EAGAIN)) return -2;
  return k > 0 ? (long)k : -1;
}
