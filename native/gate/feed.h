/*
 * The gate's writes to the unpacker's pipe. On Linux with vmsplice(2): the pipe takes references
 * to the gate's own ring pages instead of a copy of them (the unpacker's read copies them once,
 * as it would from any pipe), which saves the gate one copy of the whole stream. Those pages
 * stay in the pipe until the unpacker has read them, so the ring must not be written there
 * before: feed.reserve is how many bytes before the forwarded end may still be in the pipe (its
 * capacity: a pipe holds at most one page per slot, and the unpacker — tar, bsdtar — does not
 * enlarge its stdin's pipe). Elsewhere (FreeBSD), and where vmsplice is refused, writev(2) and a
 * reserve of 0.
 */
#ifndef VESSEL_GATE_FEED_H
#define VESSEL_GATE_FEED_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The largest reserve taken: the ring is this much larger than the window it holds back. */
#define FEED_RESERVE_MAX (1u << 20)

struct feed {
  int fd;
  int zero_copy;
  size_t reserve;
  /*
   * The last push did not all fit: the pipe is full until poll says otherwise (a push per turn
   * of the loop would be a failed syscall per turn).
   */
  int full;
};

/*
 * The memory pushed from: mapped on its own, never malloc's (whose free, or ASan's, writes into
 * freed memory that may still be in the pipe — a reader the unpacker left behind may read it
 * after the gate is gone). Unmapping leaves the pages the pipe holds as they are. NULL: no memory.
 */
void *feed_memory(size_t size);
void feed_memory_free(void *p, size_t size);
/* FD: the pipe's write end (made non-blocking here). */
void feed_open(struct feed *f, int fd);
/* writev's contract, non-blocking: bytes taken, or -1 with errno (EAGAIN: the pipe is full). Sets full. */
ssize_t feed_push(struct feed *f, const struct iovec *v, int n);

#endif
