/*
 * The line protocol with the judge (src/image/gate.ts), on one socket (fd 3). The safety policy
 * is TypeScript's alone (validate.ts EntryChecker): the gate tells it what each header says and
 * does what it answers. Every line is ASCII; byte strings are written with every byte outside
 * '!'..'~', and '%', as %XX, and start with ':' (so an empty one is ":").
 *
 * gate → judge, one line each:
 *   e TYPE SIZE REALSIZE SPARSE :NAME :LINK   an entry; TYPE is validate.ts's word, or "?" for a
 *                                             typeflag the gate does not know; SPARSE is "-" (not
 *                                             sparse), "+" (a valid map) or "!" :WHY
 *   bad :NAME :WHY                            the stream is not a tar stream the unpackers agree
 *                                             on; NAME is the entry it is about (":" for none)
 *   short :NAME :WHY                          the same, found where the stream ended (a truncated
 *                                             stream: what the decompressor said may explain it)
 *   fail :WHY                                 the gate itself failed (read error, fork …)
 *   p BYTES INPUT|-                           progress: bytes of the stream read so far, and
 *                                             of the input file the decompressor has read
 *                                             ("-": not known: no file, no decompressor, or
 *                                             a file followed as it grows)
 *   blob BYTES SHA256                         with --blob-digest, once the stream ended whole:
 *                                             the input file's length and digest (blob.h)
 *   end READ SHA256|- BYTES UNPACKER DECOMPRESSOR
 *                                             always last: READ is "all" when the stream was read
 *                                             to its end, "part" when the gate stopped before; the
 *                                             digest (of a stream read whole) and length read; how
 *                                             the children ended: "ok", "exit:N", "signal:N", or
 *                                             "-" (none ran)
 * judge → gate: one byte per "e" line, in order: 'a' accept, 'p' unpack an empty placeholder
 * file instead (its header rewritten), 'r' refuse (the gate stops; nothing of the entry, or
 * after it, reaches the unpacker, and it reads no answer after that one: none is owed).
 *
 * After "end" the gate shuts its side down (the judge reads EOF) and reads on, ignoring what
 * comes, until the judge closes its end: then it exits (judge_close).
 */
#ifndef VESSEL_GATE_JUDGE_H
#define VESSEL_GATE_JUDGE_H

#include <stddef.h>
#include <stdint.h>

#include "walk.h"

void judge_open(int fd);
/* Queue a line (sent by judge_flush, or when the buffer fills). -1: the judge is gone. */
int judge_entry(const struct walk_entry *e);
int judge_bad(const uint8_t *name, size_t name_len, const char *why, int at_end);
int judge_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int judge_end(int read_all, const char *sha, uint64_t bytes, const char *unpacker, const char *decompressor);
int judge_flush(void);
/* After judge_end: EOF for the judge, then wait until it has closed its end (reading what it still sends). */
void judge_close(void);
/* Say how far the stream has been read, and the input file (-1: unknown) (sent at once). */
int judge_progress(uint64_t bytes, int64_t input);
int judge_blob(uint64_t bytes, const char *sha);
/*
 * Read the verdicts that have come into OUT, at most N (the socket is readable: this does not
 * block). The count; -1: the judge is gone; -2: interrupted.
 */
long judge_read(char *out, size_t n);

#endif
