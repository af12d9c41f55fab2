/*
 * pax extended header records ("LEN KEY=VALUE\n", pax(1) "pax Extended Header"): the ones that
 * change what an entry is — its path, link, size, and GNU tar's sparse keywords (GNU tar manual,
 * "Storing Sparse Files": formats 0.0, 0.1 and 1.0). Values are bytes; nothing is decoded.
 */
#ifndef VESSEL_GATE_PAX_H
#define VESSEL_GATE_PAX_H

#include <stddef.h>
#include <stdint.h>

struct span {
  const uint8_t *p;
  size_t len;
  int set;
};

struct pax_record {
  struct span key, value;
};

/*
 * The record at *OFF of BUF[0..LEN): 1 with the record (and *OFF moved past it), 0 at the end
 * (or at the NUL padding some writers leave), -1 when malformed (*WHY says how).
 */
int pax_next(const uint8_t *buf, size_t len, size_t *off, struct pax_record *r, const char **why);
int span_is(struct span s, const char *text);
/* Decimal digits only, at most TAR_MAX_NUMBER: 0, else -1. */
int span_decimal(struct span s, uint64_t *out);

/* What one entry's 'x' header says (the last record of a key wins, as POSIX says). */
struct pax_entry {
  struct span path, linkpath, size;
  struct span sparse_name, sparse_size, sparse_realsize, sparse_major, sparse_minor, sparse_map, sparse_numblocks;
  /* GNU.sparse.offset / GNU.sparse.numbytes records (format 0.0 repeats them, in map order). */
  size_t sparse_pairs;
  /* Any GNU.sparse.* keyword at all. */
  int sparse_any;
};

int pax_entry_read(const uint8_t *buf, size_t len, struct pax_entry *e, const char **why);
/*
 * A global ('g') header may not set what makes an entry what it is: tar programs disagree on
 * whether it applies. NULL when it sets none of those; else the first such key (a C string).
 */
const char *pax_global_entry_key(const uint8_t *buf, size_t len, const char **why, int *malformed);

#endif
