/*
 * The tar stream's framing, walked without touching entry data: every header (ustar, GNU long
 * names and links, pax 'x'/'g' — and Solaris' 'X' — headers, GNU old and pax sparse files,
 * base-256 numbers) becomes one entry for the judge, and the data between is skipped by
 * counting. Where tar programs frame a stream differently (data after a symlink, a second pax
 * header for one entry, a global header naming a path), the walk stops with an error: the judge
 * must see exactly the entries the unpacker will write.
 *
 * The caller feeds a window of the stream, BUF holding stream bytes [BASE, END); it must keep
 * every byte from walk_hold() on in the window until the walk has moved past it.
 */
#ifndef VESSEL_GATE_WALK_H
#define VESSEL_GATE_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "sparse.h"

/* The most bytes a pax header or a GNU long name may have (the TypeScript reader's limit). */
#define WALK_MAX_META (4u << 20)
/* The most bytes of one entry's header group held back at once (header + sparse map). */
#define WALK_MAX_GROUP (2u << 20)

struct walk_entry {
  /* Stream offset of the entry's header block. */
  uint64_t at;
  /* validate.ts's word for its type, or NULL for a typeflag the gate does not know. */
  const char *type;
  uint8_t flag;
  /* Bytes of data in the archive; what the file unpacks to (a sparse file's real size). */
  uint64_t size, realsize;
  const uint8_t *name;
  size_t name_len;
  const uint8_t *link;
  size_t link_len;
  int sparse;
  /* A sparse map that is not valid: why (the judge refuses the entry). */
  const char *sparse_bad;
};

enum walk_result { WALK_MORE, WALK_ENTRY, WALK_BAD };

struct meta {
  uint8_t *p;
  size_t len, cap;
  int present;
};

enum walk_state { W_HEADER, W_META, W_DATA, W_SPARSE_EXT, W_SPARSE_MAP };

struct walk {
  enum walk_state state;
  uint64_t pos;
  /* W_DATA, W_META: bytes left of the region (padding included); W_SPARSE_MAP: of the data. */
  uint64_t left;
  /* W_META: which header, and bytes of content still to keep. */
  uint8_t meta_flag;
  uint64_t meta_want;
  struct meta *meta_into;
  struct meta longname, longlink, pax, global;
  /* The entry whose header group (W_SPARSE_*) is being read; its fields point into `hdr`. */
  uint64_t group_at;
  uint8_t hdr[512];
  uint8_t joined[256 + 100];
  struct walk_entry entry;
  struct sparse sparse;
  /* An error: its message, and the entry it is about (NULL: none). */
  char error[160];
  const uint8_t *error_name;
  size_t error_name_len;
};

void walk_init(struct walk *w);
void walk_free(struct walk *w);
enum walk_result walk_next(struct walk *w, const uint8_t *buf, uint64_t base, uint64_t end, struct walk_entry *out);
/* Bytes before this stream offset may go to the unpacker, as far as the framing goes. */
uint64_t walk_hold(const struct walk *w);
/*
 * The stream ended at END: NULL when that is a clean end, else why not (the error's name fields
 * are set when it is about an entry).
 */
const char *walk_at_end(struct walk *w, uint64_t end);

#endif
