/* Header block fields (tarhdr.h). */
#include "tarhdr.h"

#include <stdio.h>
#include <string.h>

static int blank(uint8_t c) { return c == ' ' || c == '\0' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

int tar_number(const uint8_t *f, size_t len, uint64_t *out, const char **why) {
  if (len > 0 && (f[0] & 0x80)) {
    /* GNU base-256: 0xff starts a negative number, which no size or offset may be. */
    if (f[0] == 0xff) return *why = "negative number field", -1;
    uint64_t v = f[0] & 0x7f;
    for (size_t i = 1; i < len; i++) {
      if (v > (TAR_MAX_NUMBER >> 8)) return *why = "number field too large", -1;
      v = v << 8 | f[i];
    }
    return *out = v, 0;
  }
  size_t end = tar_field_len(f, len), i = 0;
  while (i < end && blank(f[i])) i++;
  while (end > i && blank(f[end - 1])) end--;
  uint64_t v = 0;
  for (; i < end; i++) {
    if (f[i] < '0' || f[i] > '7') return *why = "invalid number field", -1;
    if (v > (TAR_MAX_NUMBER >> 3)) return *why = "number field too large", -1;
    v = v << 3 | (uint64_t)(f[i] - '0');
  }
  return *out = v, 0;
}

size_t tar_field_len(const uint8_t *f, size_t len) {
  const uint8_t *nul = memchr(f, 0, len);
  return nul ? (size_t)(nul - f) : len;
}

int tar_zero_block(const uint8_t *h) {
  for (size_t i = 0; i < TAR_BLOCK; i++)
    if (h[i]) return 0;
  return 1;
}

/*
 * The sum of the block's bytes with the checksum field read as spaces. GNU tar and libarchive
 * both also accept the sum of the bytes as signed chars, which some old tars wrote.
 */
int tar_checksum_ok(const uint8_t *h) {
  uint64_t want;
  const char *why;
  if (tar_number(h + 148, 8, &want, &why) != 0) return 0;
  long unsigned_sum = 0, signed_sum = 0;
  for (size_t i = 0; i < TAR_BLOCK; i++) {
    uint8_t c = i >= 148 && i < 156 ? ' ' : h[i];
    unsigned_sum += c;
    signed_sum += (signed char)c;
  }
  return (long)want == unsigned_sum || (long)want == signed_sum;
}

const char *tar_type_name(uint8_t flag) {
  switch (flag) {
  case '0': case '\0': return "file";
  case '1': return "link";
  case '2': return "symlink";
  case '3': return "character-device";
  case '4': return "block-device";
  case '5': return "directory";
  case '6': return "fifo";
  case '7': return "contiguous-file";
  /* GNU: an old-format sparse file, and an incremental dump's directory (its data: the listing). */
  case 'S': return "file";
  case 'D': return "directory";
  default: return NULL;
  }
}

void tar_make_placeholder(uint8_t *h) {
  h[156] = '0';
  memset(h + 157, 0, 100);
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < TAR_BLOCK; i++) sum += h[i];
  char field[9];
  snprintf(field, sizeof field, "%06o", sum & 0777777);
  memcpy(h + 148, field, 6);
  h[154] = '\0';
  h[155] = ' ';
}
