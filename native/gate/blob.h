/*
 * The layer blob (--blob FD): the gate's input file (fd 0, a regular file) copied to FD, and
 * hashed when the stream the gate unpacks is that file decompressed (a plain tar's blob digest
 * is the stream's own: no second hash).
 *
 * Node did both before: a kernel copy in its thread pool and a second read of the file, hashed
 * on its main thread. Measured on a served 72 MB .tar.zst import (2 cores, perf sched): that
 * work took a core from zstd, the import's longest stage, for its first ~50 ms, and the
 * scheduler then left zstd sharing the gate's core for ~20 ms more while the other sat idle.
 * Here the copy is done in pieces, in the time the gate would otherwise wait for its
 * decompressor (main.c's pump polls without sleeping while a piece is left), on the gate's own
 * core; what is left when the stream ends is done while tar finishes.
 *
 * The file is read with pread (and copy_file_range, when there is nothing to hash) at offsets
 * of its own: the decompressor reads the same open file, whose offset is its own.
 */
#ifndef VESSEL_GATE_BLOB_H
#define VESSEL_GATE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

enum blob_state { BLOB_MORE, BLOB_DONE, BLOB_FAILED };

struct blob {
  /* The input file, and where its copy goes; out is -1 when there is no blob to make. */
  int in, out;
  int hash;
  /* copy_file_range is tried first when not hashing (the kernel copies, or clones, the file). */
  int kernel_copy;
  enum blob_state state;
  uint64_t done;
  struct sha256 sha;
  /* The digest, once done and hashed; "-" until then and when not hashing. */
  char hex[65];
  uint8_t *buf;
  char why[192];
};

/* No blob: blob_active() is false. */
void blob_none(struct blob *b);
/* Copy IN to OUT (hashed when HASH). -1: no memory. */
int blob_start(struct blob *b, int in, int out, int hash);
int blob_active(const struct blob *b);
/* The next piece. BLOB_MORE: more to copy; BLOB_DONE: the whole file; BLOB_FAILED: b->why. */
enum blob_state blob_step(struct blob *b);
/* The piece buffer (the descriptors are the caller's). */
void blob_free(struct blob *b);

#endif
