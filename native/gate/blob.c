/* The layer blob (blob.h). */
#include "blob.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * One piece: small enough that a piece done while the decompressor is about to write delays
 * the stream by ~0.1 ms, and that the buffer stays in this core's cache between the read and
 * the hash and the write.
 */
#define PIECE (256u << 10)

void blob_none(struct blob *b) {
  memset(b, 0, sizeof *b);
  b->in = b->out = -1;
  b->state = BLOB_DONE;
  snprintf(b->hex, sizeof b->hex, "-");
}

int blob_start(struct blob *b, int in, int out, int hash) {
  blob_none(b);
  b->buf = malloc(PIECE);
  if (!b->buf) return -1;
  b->in = in;
  b->out = out;
  b->hash = hash;
  b->kernel_copy = !hash;
  b->state = BLOB_MORE;
  if (hash) sha256_init(&b->sha);
  return 0;
}

int blob_active(const struct blob *b) { return b->out >= 0; }

static enum blob_state fail(struct blob *b, const char *what) {
  snprintf(b->why, sizeof b->why, "%s: %s", what, strerror(errno));
  return b->state = BLOB_FAILED;
}

/* N bytes of buf at the blob's end. 0, or -1 with errno. */
static int put(struct blob *b, size_t n) {
  for (size_t at = 0; at < n;) {
    ssize_t w = pwrite(b->out, b->buf + at, n - at, (off_t)(b->done + at));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return -1;
    }
    at += (size_t)w;
  }
  return 0;
}

enum blob_state blob_step(struct blob *b) {
  if (b->state != BLOB_MORE) return b->state;
/* glibc declares copy_file_range with _GNU_SOURCE only (the test build of FreeBSD's path has not). */
#if defined(__FreeBSD__) || (defined(__linux__) && defined(_GNU_SOURCE))
  if (b->kernel_copy) {
    off_t from = (off_t)b->done, to = (off_t)b->done;
    ssize_t n = copy_file_range(b->in, &from, b->out, &to, PIECE, 0);
    if (n > 0) {
      b->done += (uint64_t)n;
      return BLOB_MORE;
    }
    if (n == 0) return b->state = BLOB_DONE;
    if (errno == EINTR) return BLOB_MORE;
    /* Not between these two (another file system on an older kernel, a special file): copied here instead. */
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP && errno != EBADF) return fail(b, "copy");
    b->kernel_copy = 0;
  }
#endif
  ssize_t n = pread(b->in, b->buf, PIECE, (off_t)b->done);
  if (n < 0) return errno == EINTR ? BLOB_MORE : fail(b, "read");
  if (n == 0) {
    if (b->hash) {
      uint8_t d[32];
      sha256_final(&b->sha, d);
      sha256_hex(d, b->hex);
    }
    return b->state = BLOB_DONE;
  }
  if (b->hash) sha256_update(&b->sha, b->buf, (size_t)n);
  if (put(b, (size_t)n) != 0) return fail(b, "write");
  b->done += (uint64_t)n;
  return BLOB_MORE;
}

void blob_free(struct blob *b) {
  free(b->buf);
  b->buf = NULL;
}
