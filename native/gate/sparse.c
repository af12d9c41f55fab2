/* Sparse maps (sparse.h says what makes one valid, and why). */
#include "sparse.h"

#include <string.h>

#include "tarhdr.h"

static void bad(struct sparse *s, const char *why) {
  if (!s->bad) s->bad = why;
}

void sparse_start(struct sparse *s, uint64_t realsize) {
  memset(s, 0, sizeof *s);
  s->realsize = realsize;
}

void sparse_region(struct sparse *s, uint64_t offset, uint64_t numbytes) {
  if (offset > TAR_MAX_NUMBER || numbytes > TAR_MAX_NUMBER - offset || offset + numbytes > s->realsize) {
    bad(s, "a region ends beyond the file's size");
    return;
  }
  s->regions++;
  if (numbytes == 0) return;
  if (s->last_partial) { bad(s, "a region with data follows one that does not fill whole blocks"); return; }
  s->last_partial = numbytes % TAR_BLOCK != 0;
  s->sum += numbytes;
}

void sparse_old_slots(struct sparse *s, const uint8_t *slots, int n, int extended) {
  for (int i = 0; i < n; i++) {
    const uint8_t *slot = slots + 24 * i;
    /* GNU tar stops at an empty numbytes field, libarchive at an empty offset field. */
    if (slot[0] == 0 || slot[12] == 0) {
      if (slot[0] != slot[12]) { bad(s, "a map entry with an empty field"); return; }
      if (extended) { bad(s, "an unfilled map continued in an extension block"); return; }
      return;
    }
    uint64_t offset, numbytes;
    const char *why;
    if (tar_number(slot, 12, &offset, &why) != 0 || tar_number(slot + 12, 12, &numbytes, &why) != 0) { bad(s, "a map entry is not a number"); return; }
    sparse_region(s, offset, numbytes);
  }
}

void sparse_pax_map(struct sparse *s, struct span map) {
  size_t i = 0;
  uint64_t pair[2];
  int k = 0;
  if (map.len == 0) { bad(s, "GNU.sparse.map is empty"); return; }
  while (i <= map.len) {
    size_t j = i;
    while (j < map.len && map.p[j] != ',') j++;
    if (span_decimal((struct span){ map.p + i, j - i, 1 }, &pair[k]) != 0) { bad(s, "GNU.sparse.map holds something other than numbers"); return; }
    if (++k == 2) {
      sparse_region(s, pair[0], pair[1]);
      k = 0;
    }
    i = j + 1;
  }
  if (k != 0) bad(s, "GNU.sparse.map has an odd count of numbers");
}

void sparse_pax_pairs(struct sparse *s, const uint8_t *pax, size_t len, uint64_t numblocks, int have_numblocks) {
  struct pax_record r;
  size_t off = 0;
  const char *why;
  int have_offset = 0;
  uint64_t offset = 0, pairs = 0;
  while (pax_next(pax, len, &off, &r, &why) == 1) {
    uint64_t v;
    int is_offset = span_is(r.key, "GNU.sparse.offset");
    if (!is_offset && !span_is(r.key, "GNU.sparse.numbytes")) continue;
    if (span_decimal(r.value, &v) != 0) { bad(s, "a map record is not a number"); return; }
    if (is_offset == have_offset) { bad(s, "GNU.sparse.offset and GNU.sparse.numbytes do not alternate"); return; }
    if (is_offset) {
      offset = v;
      have_offset = 1;
    } else {
      sparse_region(s, offset, v);
      have_offset = 0;
      pairs++;
    }
  }
  if (have_offset) { bad(s, "a GNU.sparse.offset without its numbytes"); return; }
  /* GNU tar sizes the map by GNU.sparse.numblocks and refuses records beyond it. */
  if (have_numblocks && numblocks != pairs) bad(s, "GNU.sparse.numblocks does not match the map");
}

int sparse_text(struct sparse *s, const uint8_t *p, size_t n, size_t *used) {
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c >= '0' && c <= '9') {
      /* GNU tar (sparse.c pax_decode_header) reads a number of at most 20 characters. */
      if (++s->digits > 20 || s->number > (TAR_MAX_NUMBER - 9) / 10) return bad(s, "a map number is too long"), -1;
      s->number = s->number * 10 + (uint64_t)(c - '0');
      continue;
    }
    if (c != '\n' || s->digits == 0) return bad(s, "the map at the start of the data is not decimal lines"), -1;
    uint64_t v = s->number;
    s->number = 0;
    s->digits = 0;
    if (!s->have_count) {
      s->have_count = 1;
      if (v > TAR_MAX_NUMBER / 2) return bad(s, "the map's count is too large"), -1;
      s->numbers_left = 2 * v;
    } else if (s->numbers_left % 2 == 0) {
      s->offset = v;
      s->numbers_left--;
    } else {
      sparse_region(s, s->offset, v);
      s->numbers_left--;
    }
    if (s->numbers_left == 0) {
      s->text_bytes += i + 1;
      *used = i + 1;
      return 1;
    }
  }
  s->text_bytes += n;
  *used = n;
  return 0;
}

void sparse_finish(struct sparse *s, uint64_t data) {
  if (s->sum != data) bad(s, "its regions do not hold exactly the entry's data");
}
