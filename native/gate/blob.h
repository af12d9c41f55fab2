/*
 * The layer blob's digest (--blob-digest): the SHA-256 of the gate's input file (fd 0, a regular
 * file) when a decompressor reads it for the gate — the compressed blob is named by it, while
 * the stream's own digest is the diff id. (A plain tar's blob digest is the stream's: no second
 * hash.)
 *
 * Node hashed it before, reading the file a second time on its main thread. Measured on a served
 * 72 MB .tar.zst import (2 cores, perf sched): that took a core from zstd, the import's longest
 * stage, for the first ~50 ms, and the scheduler then left zstd on the gate's core for ~20 ms
 * more while the other core idled. Here the file is hashed in pieces whenever the gate would
 * otherwise wait for its decompressor (main.c's pump polls without sleeping while a piece is
 * left), on the gate's own core; what is left when the stream ends is hashed while tar drains
 * its pipe. The pieces are read with pread, at offsets of their own: the decompressor reads the
 * same open file, whose offset is its.
 *
 * The copy of the file into the store is not made here: writing it takes fresh page cache, and
 * where the first touch of fresh memory is slow (virtual machines handing free memory back to
 * their host) the writes' stalls would stop the stream from the gate's thread. Tried: the copy
 * made here gained 8% in a loop of imports and nothing in bench/image-import.js, whose rounds
 * free hundreds of MB between imports. vessel copies the file beside the gate (a reflink, or
 * the kernel's copy in one of Node's pool threads), where a stall stops nothing else.
 */
#ifndef VESSEL_GATE_BLOB_H
#define VESSEL_GATE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

enum blob_state { BLOB_MORE, BLOB_DONE, BLOB_FAILED };

struct blob {
  /* The input file; -1: no digest wanted (blob_none). */
  int in;
  enum blob_state state;
  uint64_t done;
  struct sha256 sha;
  /* The digest's hex once done. */
  char hex[65];
  uint8_t *buf;
  char why[192];
};

/* No digest wanted: the state is BLOB_DONE from the start. */
void blob_none(struct blob *b);
/* Hash the file at IN. -1: no memory. */
int blob_start(struct blob *b, int in);
/* Hash the next piece. BLOB_MORE: more to read; BLOB_DONE: the whole file; BLOB_FAILED: b->why. */
enum blob_state blob_step(struct blob *b);
/* The piece buffer (the descriptor is the caller's). */
void blob_free(struct blob *b);

#endif
