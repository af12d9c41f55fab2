/*
 * SHA-256 (FIPS 180-4) of a stream: the diff id of a layer is the digest of its uncompressed tar,
 * which the gate sees byte for byte on its way to the unpacker, so it is hashed there instead of
 * being copied through JavaScript for Node's hash. Portable C, and on x86-64 the SHA extensions
 * (SHA-NI) when the CPU has them (chosen once, at the first sha256_init): several times faster,
 * which is what keeps hashing off the import's critical path.
 */
#ifndef VESSEL_GATE_SHA256_H
#define VESSEL_GATE_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
  uint32_t h[8];
  uint64_t bytes;
  uint8_t block[64];
  size_t fill;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t out[32]);
/* Lowercase hex of a digest into OUT (65 bytes, NUL-terminated). */
void sha256_hex(const uint8_t digest[32], char out[65]);

/* Which implementation hashes: "sha-ni" or "portable". */
const char *sha256_implementation(void);
/* Use the portable implementation from now on (tests compare both on the same input). */
void sha256_force_portable(void);

#endif
