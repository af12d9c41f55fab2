/* The framing walk (walk.h). */
#include "walk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tarhdr.h"

/* walk_next's inner steps: go on walking, or stop with what they return. */
#define GO_ON WALK_MORE

__attribute__((format(printf, 4, 5)))
static enum walk_result fail(struct walk *w, const uint8_t *name, size_t name_len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->error, sizeof w->error, fmt, ap);
  va_end(ap);
  w->error_name = name;
  w->error_name_len = name_len;
  return WALK_BAD;
}

void walk_init(struct walk *w) {
  memset(w, 0, sizeof *w);
  w->state = W_HEADER;
}

void walk_free(struct walk *w) {
  free(w->longname.p);
  free(w->longlink.p);
  free(w->pax.p);
  free(w->global.p);
}

uint64_t walk_hold(const struct walk *w) {
  return w->state == W_SPARSE_EXT || w->state == W_SPARSE_MAP ? w->group_at : w->pos;
}

static int reserve(struct meta *m, size_t n) {
  if (m->cap >= n && m->p) return 0;
  uint8_t *p = realloc(m->p, n ? n : 1);
  if (!p) return -1;
  m->p = p;
  m->cap = n;
  return 0;
}

/* A pax, long-name or volume header's content has been read. */
static enum walk_result finish_meta(struct walk *w) {
  uint8_t flag = w->meta_flag;
  struct meta *m = w->meta_into;
  if (!m) return GO_ON; /* 'V': a volume label, which unpackers skip */
  if (flag == 'L' || flag == 'K') m->len = tar_field_len(m->p, m->len);
  if (flag != 'g') {
    m->present = 1;
    return GO_ON;
  }
  /* A global header applies to every entry after it; only its harmless keys are allowed. */
  const char *why = NULL;
  int malformed;
  const char *key = pax_global_entry_key(m->p, m->len, &why, &malformed);
  if (malformed) return fail(w, NULL, 0, "%s", why);
  if (key) return fail(w, NULL, 0, "pax global header sets \"%s\" for every entry", key);
  return GO_ON;
}

static enum walk_result start_meta(struct walk *w, uint8_t flag, uint64_t size) {
  if (size > WALK_MAX_META) return fail(w, NULL, 0, "Header exceeds max size");
  struct meta *m = flag == 'L' ? &w->longname : flag == 'K' ? &w->longlink : flag == 'g' ? &w->global : flag == 'V' ? NULL : &w->pax;
  /* A second header of one kind for one entry: tar programs disagree on which one wins. */
  if (m && m != &w->global && m->present)
    return fail(w, NULL, 0, "two %s headers for one entry", m == &w->pax ? "pax" : m == &w->longname ? "GNU long-name" : "GNU long-link");
  if (m) {
    if (reserve(m, (size_t)size) != 0) return fail(w, NULL, 0, "out of memory for a %llu-byte header", (unsigned long long)size);
    m->len = 0;
  }
  w->meta_flag = flag;
  w->meta_into = m;
  w->meta_want = m ? size : 0;
  w->left = tar_padded(size);
  if (w->left == 0) return finish_meta(w);
  w->state = W_META;
  return GO_ON;
}

/* The real size of a pax sparse entry: GNU.sparse.realsize (1.0) or GNU.sparse.size (0.x). */
static int pax_realsize(const struct pax_entry *pe, uint64_t *out, const char **bad) {
  uint64_t a = 0, b = 0;
  int has_a = pe->sparse_realsize.set, has_b = pe->sparse_size.set;
  if ((has_a && span_decimal(pe->sparse_realsize, &a) != 0) || (has_b && span_decimal(pe->sparse_size, &b) != 0))
    return *bad = "its real size is not a number", -1;
  if (!has_a && !has_b) return *bad = "no real size", -1;
  if (has_a && has_b && a != b) return *bad = "two different real sizes", -1;
  *out = has_a ? a : b;
  return 0;
}

/* The pax sparse formats: 1.0 (map in the data) is told by its version keywords. */
enum pax_sparse { PS_NONE, PS_00, PS_01, PS_10 };

static enum pax_sparse pax_sparse_format(const struct pax_entry *pe, const char **bad) {
  if (pe->sparse_major.set || pe->sparse_minor.set) {
    if (span_is(pe->sparse_major, "1") && span_is(pe->sparse_minor, "0")) {
      if (pe->sparse_size.set) return *bad = "GNU.sparse.size in a format 1.0 header (tar programs read it differently)", PS_NONE;
      return PS_10;
    }
    if (!(span_is(pe->sparse_major, "0") && (span_is(pe->sparse_minor, "0") || span_is(pe->sparse_minor, "1"))))
      return *bad = "an unknown sparse format version", PS_NONE;
  }
  if (pe->sparse_map.set && pe->sparse_pairs) return *bad = "both GNU.sparse.map and GNU.sparse.offset records", PS_NONE;
  if (pe->sparse_map.set) return PS_01;
  if (pe->sparse_pairs) return PS_00;
  return *bad = "sparse keywords without a map", PS_NONE;
}

static enum walk_result finish_group(struct walk *w, struct walk_entry *out) {
  struct walk_entry *e = &w->entry;
  uint64_t after = tar_padded(e->size);
  if (w->state == W_SPARSE_MAP) {
    uint64_t map = tar_padded(w->sparse.text_bytes);
    if (map > e->size) w->sparse.bad = w->sparse.bad ? w->sparse.bad : "the map is larger than the entry's data";
    else sparse_finish(&w->sparse, e->size - map);
    after -= w->sparse.text_bytes;
  } else {
    sparse_finish(&w->sparse, e->size);
  }
  e->sparse_bad = w->sparse.bad;
  *out = *e;
  w->left = after;
  w->state = after ? W_DATA : W_HEADER;
  return WALK_ENTRY;
}

static enum walk_result header(struct walk *w, const uint8_t *block, uint64_t at, struct walk_entry *out) {
  if (!tar_checksum_ok(block)) return fail(w, NULL, 0, "Invalid tar header (bad checksum). Maybe the tar is corrupted or it needs to be decompressed?");
  uint8_t flag = block[156];
  uint64_t size;
  const char *why;
  if (tar_number(block + 124, 12, &size, &why) != 0) return fail(w, NULL, 0, "%s (size)", why);
  if (flag == 'x' || flag == 'X' || flag == 'g' || flag == 'L' || flag == 'K' || flag == 'V') return start_meta(w, flag, size);

  /* The entry's fields point into this copy (and the meta buffers) until it has been judged. */
  memcpy(w->hdr, block, TAR_BLOCK);
  const uint8_t *h = w->hdr;
  const uint8_t *name = h, *link = h + 157;
  size_t name_len = tar_field_len(h, 100), link_len = tar_field_len(h + 157, 100);
  /* POSIX ustar's prefix field; GNU's format keeps times there ("ustar  \0" magic). */
  if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345] != 0) {
    size_t plen = tar_field_len(h + 345, 155);
    memcpy(w->joined, h + 345, plen);
    w->joined[plen] = '/';
    memcpy(w->joined + plen + 1, h, name_len);
    name = w->joined;
    name_len += plen + 1;
  }
  struct pax_entry pe;
  memset(&pe, 0, sizeof pe);
  if (w->pax.present && pax_entry_read(w->pax.p, w->pax.len, &pe, &why) < 0) return fail(w, NULL, 0, "%s", why);
  if (w->longname.present && pe.path.set) return fail(w, NULL, 0, "both a GNU long name and a pax path for one entry");
  if (w->longlink.present && pe.linkpath.set) return fail(w, NULL, 0, "both a GNU long link and a pax linkpath for one entry");
  if (w->longname.present) name = w->longname.p, name_len = w->longname.len;
  if (w->longlink.present) link = w->longlink.p, link_len = w->longlink.len;
  if (pe.path.set) name = pe.path.p, name_len = pe.path.len;
  if (pe.linkpath.set) link = pe.linkpath.p, link_len = pe.linkpath.len;
  w->pax.present = w->longname.present = w->longlink.present = 0;
  if (pe.size.set && span_decimal(pe.size, &size) != 0) return fail(w, name, name_len, "invalid pax size");

  struct walk_entry *e = &w->entry;
  memset(e, 0, sizeof *e);
  e->at = at;
  e->flag = flag;
  e->type = tar_type_name(flag);
  e->size = e->realsize = size;
  enum pax_sparse ps = PS_NONE;
  const char *bad = NULL;
  int extended = 0;
  if (flag == 'S') {
    uint64_t real = 0;
    if (tar_number(h + 483, 12, &real, &why) != 0) bad = "its real size is not a number";
    sparse_start(&w->sparse, real);
    if (pe.sparse_any) bad = "both an old GNU sparse header and pax sparse keywords";
    sparse_old_slots(&w->sparse, h + 386, 4, h[482] != 0);
    extended = h[482] != 0;
    e->sparse = 1;
    e->realsize = real;
  } else if (pe.sparse_any) {
    uint64_t real = 0;
    ps = pax_sparse_format(&pe, &bad);
    if (!bad) pax_realsize(&pe, &real, &bad);
    /* libarchive takes only '0' and 'S' entries as sparse files; GNU tar takes any type. */
    if (!bad && flag != '0') bad = "only a regular file can be sparse";
    sparse_start(&w->sparse, real);
    if (!bad && ps == PS_01) sparse_pax_map(&w->sparse, pe.sparse_map);
    if (!bad && ps == PS_00) {
      uint64_t blocks = 0;
      int have = pe.sparse_numblocks.set;
      if (have && span_decimal(pe.sparse_numblocks, &blocks) != 0) bad = "GNU.sparse.numblocks is not a number";
      else sparse_pax_pairs(&w->sparse, w->pax.p, w->pax.len, blocks, have);
    }
    if (pe.sparse_name.set) name = pe.sparse_name.p, name_len = pe.sparse_name.len;
    e->sparse = 1;
    e->realsize = real;
  }
  if (bad) w->sparse.bad = bad;
  e->name = name;
  e->name_len = name_len;
  e->link = link;
  e->link_len = link_len;

  /* A regular file named like a directory is one, to GNU tar and libarchive alike. */
  int slash = name_len > 0 && name[name_len - 1] == '/';
  int dir = flag == '5' || (slash && (flag == '0' || flag == '\0' || flag == '7') && !e->sparse);
  if (e->sparse && slash) w->sparse.bad = "a sparse file named like a directory";
  if (dir) e->type = "directory";
  if (dir && size != 0) return fail(w, name, name_len, "a directory with %llu bytes of data", (unsigned long long)size);
  /* Neither GNU tar nor libarchive reads data after these, whatever their size says. */
  if (((flag >= '1' && flag <= '4') || flag == '6') && size != 0)
    return fail(w, name, name_len, "a %s with %llu bytes of data (tar programs disagree on what follows it)", e->type, (unsigned long long)size);

  if (!w->sparse.bad && extended) {
    w->group_at = at;
    w->state = W_SPARSE_EXT;
    return GO_ON;
  }
  if (!w->sparse.bad && ps == PS_10) {
    if (size == 0) w->sparse.bad = "the map is larger than the entry's data";
    else {
      /* The map is read from the data, not its padding; finish_group skips the rest. */
      w->group_at = at;
      w->state = W_SPARSE_MAP;
      w->left = size;
      return GO_ON;
    }
  }
  w->state = W_HEADER;
  if (e->sparse) return finish_group(w, out);
  *out = *e;
  w->left = dir ? 0 : tar_padded(size);
  w->state = w->left ? W_DATA : W_HEADER;
  return WALK_ENTRY;
}

enum walk_result walk_next(struct walk *w, const uint8_t *buf, uint64_t base, uint64_t end, struct walk_entry *out) {
  for (;;) {
    uint64_t avail = end - w->pos;
    const uint8_t *p = buf + (w->pos - base);
    enum walk_result r;
    switch (w->state) {
    case W_DATA: {
      uint64_t n = w->left < avail ? w->left : avail;
      w->pos += n;
      w->left -= n;
      if (w->left) return WALK_MORE;
      w->state = W_HEADER;
      continue;
    }
    case W_META: {
      uint64_t n = w->left < avail ? w->left : avail;
      uint64_t keep = n < w->meta_want ? n : w->meta_want;
      if (keep) {
        memcpy(w->meta_into->p + w->meta_into->len, p, (size_t)keep);
        w->meta_into->len += (size_t)keep;
        w->meta_want -= keep;
      }
      w->pos += n;
      w->left -= n;
      if (w->left) return WALK_MORE;
      w->state = W_HEADER;
      if ((r = finish_meta(w)) != GO_ON) return r;
      continue;
    }
    case W_HEADER: {
      if (avail < TAR_BLOCK) return WALK_MORE;
      uint64_t at = w->pos;
      w->pos += TAR_BLOCK;
      if (tar_zero_block(p)) continue; /* end-of-archive blocks: anything after is still walked */
      if ((r = header(w, p, at, out)) != GO_ON) return r;
      continue;
    }
    case W_SPARSE_EXT: {
      if (avail < TAR_BLOCK) return WALK_MORE;
      /* 21 map entries, then "isextended": another extension block follows when set. */
      int extended = p[504] != 0;
      sparse_old_slots(&w->sparse, p, 21, extended);
      w->pos += TAR_BLOCK;
      if (extended && w->pos - w->group_at >= WALK_MAX_GROUP) w->sparse.bad = "a sparse map of more than 2 MiB";
      if (extended && !w->sparse.bad) continue;
      return finish_group(w, out);
    }
    case W_SPARSE_MAP: {
      uint64_t n = w->left < avail ? w->left : avail;
      size_t used = 0;
      int done = sparse_text(&w->sparse, p, (size_t)n, &used);
      w->pos += used;
      w->left -= used;
      if (done != 0) return finish_group(w, out);
      if (w->left == 0) {
        w->sparse.bad = "the map is larger than the entry's data";
        return finish_group(w, out);
      }
      if (w->pos - w->group_at >= WALK_MAX_GROUP) {
        w->sparse.bad = "a sparse map of more than 2 MiB";
        return finish_group(w, out);
      }
      return WALK_MORE;
    }
    }
  }
}

const char *walk_at_end(struct walk *w, uint64_t end) {
  if (w->state == W_HEADER && end == w->pos) {
    if (w->pax.present || w->longname.present || w->longlink.present) return "Unexpected end of data (a pax or long-name header without its entry)";
    return NULL;
  }
  if (w->state == W_SPARSE_EXT || w->state == W_SPARSE_MAP) {
    w->error_name = w->entry.name;
    w->error_name_len = w->entry.name_len;
  }
  return "Unexpected end of data";
}
