/*
 * One 512-byte tar header block: its numbers, checksum and type, and the one rewrite the gate
 * makes (a placeholder). Field offsets are POSIX ustar's (pax(1), "ustar Interchange Format") and
 * GNU's old sparse header (GNU tar's tar.h, struct oldgnu_header).
 */
#ifndef VESSEL_GATE_TARHDR_H
#define VESSEL_GATE_TARHDR_H

#include <stddef.h>
#include <stdint.h>

#define TAR_BLOCK 512
/* Sizes and offsets the TypeScript judge reads as numbers: at most 2^53 - 1. */
#define TAR_MAX_NUMBER ((uint64_t)9007199254740991)

static inline uint64_t tar_padded(uint64_t n) { return (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK; }

/*
 * A numeric field: octal digits (surrounded by spaces or NULs), or GNU's base-256 (high bit of
 * the first byte set). 0 on success; else -1 and *why says what was wrong.
 */
int tar_number(const uint8_t *field, size_t len, uint64_t *out, const char **why);
/* Length of a string field: up to its first NUL, at most LEN. */
size_t tar_field_len(const uint8_t *field, size_t len);
int tar_zero_block(const uint8_t *h);
int tar_checksum_ok(const uint8_t *h);
/*
 * The entry type the judge knows a typeflag by (validate.ts ALLOWED_TYPES' words), or NULL for
 * a type this gate does not frame (the judge refuses those).
 */
const char *tar_type_name(uint8_t flag);
/*
 * Turn a header block into an empty regular file's: type '0', no link name, a new checksum; the
 * name, mode, owner and size field stay (so the stream's framing does not change).
 */
void tar_make_placeholder(uint8_t *h);

#endif
