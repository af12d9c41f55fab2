/*
 * A sparse file's map, checked as it is read: GNU's old format (map in the header and extension
 * blocks), pax formats 0.0 (offset/numbytes record pairs), 0.1 (GNU.sparse.map) and 1.0 (the map
 * as decimal lines at the start of the entry's data). The map decides how GNU tar and libarchive
 * frame the entry, and they do not frame it alike unless it is regular: GNU tar reads each data
 * region padded to a block (sparse.c sparse_extract_region), libarchive reads the regions back to
 * back. So a map is valid when each region ends within the real size, every region with data but
 * the last holds whole blocks, and the regions hold exactly the entry's data — what GNU tar and
 * bsdtar write. The judge refuses an entry whose map is not valid; it never reaches the unpacker.
 */
#ifndef VESSEL_GATE_SPARSE_H
#define VESSEL_GATE_SPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "pax.h"

struct sparse {
  uint64_t realsize;
  uint64_t sum;
  uint64_t regions;
  int last_partial;
  /* The first reason the map is not valid, or NULL. */
  const char *bad;
  /* Format 1.0's map text: numbers still to read (the count first), the one being read. */
  uint64_t numbers_left;
  int have_count;
  uint64_t number, offset;
  int digits;
  uint64_t text_bytes;
};

void sparse_start(struct sparse *s, uint64_t realsize);
void sparse_region(struct sparse *s, uint64_t offset, uint64_t numbytes);
/*
 * N 24-byte slots (12 bytes offset, 12 bytes numbytes) of an old GNU header or extension block.
 * EXTENDED: another extension block follows, so every slot must be used (GNU tar stops reading
 * extension blocks at the first empty slot, libarchive does not).
 */
void sparse_old_slots(struct sparse *s, const uint8_t *slots, int n, int extended);
/* Format 0.1: "offset,numbytes,offset,numbytes…". */
void sparse_pax_map(struct sparse *s, struct span map);
/* Format 0.0: the GNU.sparse.offset / GNU.sparse.numbytes records of a pax header, in order. */
void sparse_pax_pairs(struct sparse *s, const uint8_t *pax, size_t len, uint64_t numblocks, int have_numblocks);
/*
 * Format 1.0: more of the entry's data. 1 when the map's last line was read (*USED: bytes of P
 * it took), 0 when it needs more, -1 when the text is not a map (s->bad says why).
 */
int sparse_text(struct sparse *s, const uint8_t *p, size_t n, size_t *used);
/* The map is complete: its regions must hold DATA bytes, the entry's data after the map. */
void sparse_finish(struct sparse *s, uint64_t data);

#endif
