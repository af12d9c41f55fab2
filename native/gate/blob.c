/* The layer blob's digest (blob.h). */
#include "blob.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * One piece: small enough that a piece hashed just as the decompressor writes delays the stream
 * by ~0.1 ms, and that the buffer stays in this core's cache from the read to the hash.
 */
#define PIECE (256u << 10)

void blob_none(struct blob *b) {
  memset(b, 0, sizeof *b);
  b->in = -1;
  b->state = BLOB_DONE;
  snprintf(b->hex, sizeof b->hex, "-");
}

int blob_start(struct blob *b, int in) {
  blob_none(b);
  b->buf = malloc(PIECE);
  if (!b->buf) return -1;
  b->in = in;
  b->state = BLOB_MORE;
  sha256_init(&b->sha);
  return 0;
}

enum blob_state blob_step(struct blob *b) {
  if (b->state != BLOB_MORE) return b->state;
  ssize_t n = pread(b->in, b->buf, PIECE, (off_t)b->done);
  if (n < 0) {
    if (errno == EINTR) return BLOB_MORE;
    snprintf(b->why, sizeof b->why, "reading the input file: %s", strerror(errno));
    return b->state = BLOB_FAILED;
  }
  if (n == 0) {
    uint8_t d[32];
    sha256_final(&b->sha, d);
    sha256_hex(d, b->hex);
    return b->state = BLOB_DONE;
  }
  sha256_update(&b->sha, b->buf, (size_t)n);
  b->done += (uint64_t)n;
  return BLOB_MORE;
}

void blob_free(struct blob *b) {
  free(b->buf);
  b->buf = NULL;
}
