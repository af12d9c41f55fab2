/*
 * Signals as wake-ups of a poll loop (the self-pipe trick): the handler only sets a flag and
 * writes a byte, so nothing async-signal-unsafe runs in it; the loop polls the read end, drains
 * it and takes each flag outside the handler. One per process (the monitor, or `vessel exec`).
 */
#ifndef VESSEL_SELFPIPE_H
#define VESSEL_SELFPIPE_H

#include <stddef.h>

/* Catch SIGS: 0, or -1 with errno (the pipe could not be made). Close-on-exec, non-blocking. */
int selfpipe_install(const int *sigs, size_t n);
/* The read end (poll it) and the write end (a sandbox keeps both). -1 before install. */
int selfpipe_read_fd(void);
int selfpipe_write_fd(void);
/* Empty the pipe (after poll said it is readable). */
void selfpipe_drain(void);
/* 1 when SIG came since the last take of it, else 0. */
int selfpipe_take(int sig);
/*
 * In a child about to become something else (a container's init, a command): every signal back
 * to its default and none blocked — handlers are meaningless there, and an execve(2) would keep
 * an ignored signal ignored and a blocked one blocked.
 */
void signals_default(void);

#endif
