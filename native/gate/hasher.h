/*
 * The stream's SHA-256 on a thread of its own: the gate's loop reads, walks and forwards while
 * the hasher follows behind in the same ring (main.c), so the unpacker never waits for hashing,
 * and the gate's work spreads over two cores. The loop tells the hasher how far the ring holds
 * the stream; it must not overwrite ring bytes the hasher has not passed (hasher_done), nor
 * change them before then (a placeholder's header: hasher_wait first). POSIX threads: in glibc's
 * libc (and libpthread before 2.34), FreeBSD's libthr; the build links with -pthread.
 *
 * Waking a sleeping thread costs a cross-core wakeup: the hasher sleeps until a batch has come
 * (or the loop needs it now: hasher_want_wake, hasher_wait), and the loop's side of each turn
 * is an atomic load or store.
 */
#ifndef VESSEL_GATE_HASHER_H
#define VESSEL_GATE_HASHER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

struct hasher {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct sha256 sha;
  /* The ring: stream offset X is at ring[X % size]. */
  const uint8_t *ring;
  size_t size;
  /* The stream is in the ring up to `avail` (the loop stores it), hashed up to `done` (the hasher). */
  _Atomic uint64_t avail, done;
  /* The hasher sleeps (under lock); the loop wants it to hash all there is now (under lock). */
  atomic_int sleeping;
  int hurry, quit;
  /* The loop waits on `wake` for `done` to move (hasher_want_wake). */
  atomic_int waiting;
  int started, inited;
  int wake[2];
};

/* Start hashing from stream offset 0. 0, or -1 with errno set (no thread, no pipe). */
int hasher_start(struct hasher *h, const uint8_t *ring, size_t size);
/* The stream is in the ring up to AVAIL. */
void hasher_more(struct hasher *h, uint64_t avail);
/* How far the hash has read. */
uint64_t hasher_done(struct hasher *h);
/* Block until the hash has read up to UPTO (at most what is available). */
void hasher_wait(struct hasher *h, uint64_t upto);
/*
 * Have hasher_fd() readable once the hash reads past FROM, hurrying it: 0, or 1 when it is
 * already past (no need to wait). Drain with hasher_woken().
 */
int hasher_want_wake(struct hasher *h, uint64_t from);
int hasher_fd(const struct hasher *h);
void hasher_woken(struct hasher *h);
/* Hash the rest (up to what is available), stop the thread, give the digest in hex. */
void hasher_finish(struct hasher *h, char hex[65]);
/* Stop the thread where it is (the digest is not wanted); safe on one never started. */
void hasher_stop(struct hasher *h);

#endif
