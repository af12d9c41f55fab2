/* pax records (pax.h). */
#include "pax.h"

#include <string.h>

#include "tarhdr.h"

int pax_next(const uint8_t *buf, size_t len, size_t *off, struct pax_record *r, const char **why) {
  size_t o = *off;
  if (o >= len || buf[o] == 0) return 0;
  /* GNU tar (xheader.c decx): the length is decimal digits followed by one blank. */
  uint64_t n = 0;
  size_t i = o;
  while (i < len && buf[i] >= '0' && buf[i] <= '9' && n < len) n = n * 10 + (uint64_t)(buf[i++] - '0');
  if (i == o || i >= len || buf[i] != ' ' || n < 4 || n > len - o || buf[o + n - 1] != '\n') return *why = "invalid pax header", -1;
  const uint8_t *rec = buf + i + 1, *end = buf + o + n - 1;
  const uint8_t *eq = memchr(rec, '=', (size_t)(end - rec));
  if (!eq || eq == rec) return *why = "invalid pax header (a record without a key)", -1;
  r->key = (struct span){ rec, (size_t)(eq - rec), 1 };
  r->value = (struct span){ eq + 1, (size_t)(end - eq - 1), 1 };
  *off = o + n;
  return 1;
}

int span_is(struct span s, const char *text) {
  size_t n = strlen(text);
  return s.set && s.len == n && memcmp(s.p, text, n) == 0;
}

int span_decimal(struct span s, uint64_t *out) {
  if (!s.set || s.len == 0) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < s.len; i++) {
    if (s.p[i] < '0' || s.p[i] > '9' || v > (TAR_MAX_NUMBER - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(s.p[i] - '0');
  }
  *out = v;
  return 0;
}

static int starts(struct span s, const char *prefix) {
  size_t n = strlen(prefix);
  return s.len >= n && memcmp(s.p, prefix, n) == 0;
}

int pax_entry_read(const uint8_t *buf, size_t len, struct pax_entry *e, const char **why) {
  memset(e, 0, sizeof *e);
  struct pax_record r;
  size_t off = 0;
  int got;
  while ((got = pax_next(buf, len, &off, &r, why)) == 1) {
    struct span *slot = NULL;
    if (span_is(r.key, "path")) slot = &e->path;
    else if (span_is(r.key, "linkpath")) slot = &e->linkpath;
    else if (span_is(r.key, "size")) slot = &e->size;
    else if (starts(r.key, "GNU.sparse.")) {
      e->sparse_any = 1;
      if (span_is(r.key, "GNU.sparse.name")) slot = &e->sparse_name;
      else if (span_is(r.key, "GNU.sparse.size")) slot = &e->sparse_size;
      else if (span_is(r.key, "GNU.sparse.realsize")) slot = &e->sparse_realsize;
      else if (span_is(r.key, "GNU.sparse.major")) slot = &e->sparse_major;
      else if (span_is(r.key, "GNU.sparse.minor")) slot = &e->sparse_minor;
      else if (span_is(r.key, "GNU.sparse.map")) slot = &e->sparse_map;
      else if (span_is(r.key, "GNU.sparse.numblocks")) slot = &e->sparse_numblocks;
      else if (span_is(r.key, "GNU.sparse.numbytes")) e->sparse_pairs++;
    }
    if (slot) *slot = r.value;
  }
  return got;
}

const char *pax_global_entry_key(const uint8_t *buf, size_t len, const char **why, int *malformed) {
  struct pax_record r;
  size_t off = 0;
  int got;
  *malformed = 0;
  while ((got = pax_next(buf, len, &off, &r, why)) == 1) {
    static const char *const keys[] = { "path", "linkpath", "size" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
      if (span_is(r.key, keys[i])) return keys[i];
    if (starts(r.key, "GNU.sparse.")) return "GNU.sparse.*";
  }
  if (got < 0) *malformed = 1;
  return NULL;
}
