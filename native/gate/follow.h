/*
 * The follower (--follow): a pull writes the blob to its file itself, as it arrives, and the
 * gate reads that file as it grows instead of having every byte written a second time into its
 * stdin. The follower is a forked child of the gate (as its decompressor and unpacker are:
 * spawn.h) that reads the file from offset 0 and writes it into a pipe, which then stands where
 * the gate's stdin stood: the decompressor's stdin, or the gate's own input for a plain tar. On
 * Linux splice(2) moves the file's pages into the pipe without a copy; elsewhere (FreeBSD), and
 * where splice is refused, pread(2) and write(2).
 *
 * At the file's end for now, it blocks on the notification channel (fd 5): vessel writes a byte
 * there whenever the file has grown (as often as it likes: every byte there is one wakeup at
 * most), and closes it once the file is complete. It never polls or sleeps: with the channel
 * closed and the file read to its end, it closes the pipe (the stream's end) and exits.
 */
#ifndef VESSEL_GATE_FOLLOW_H
#define VESSEL_GATE_FOLLOW_H

#include <stddef.h>

#include "spawn.h"

/* The notification channel's descriptor when the gate starts. */
#define FOLLOW_NOTIFY_FD 5

struct follower {
  struct child child;
  /* Where the follower says why it failed (one line, read by follow_failure); -1: none. */
  int said;
};

/*
 * Start the follower on the file at fd 0 and the channel at FOLLOW_NOTIFY_FD, and put the read
 * end of its pipe at fd 0 (the channel is closed here: only the follower holds it). Call it
 * before any other child starts, so that the follower holds none of their descriptors. 0, or -1
 * with errno set.
 */
int follow_start(struct follower *f);
/*
 * After the follower has been waited for: why it failed ("read the blob: …"), into OUT (a
 * terminated string), or NULL when it did not (a follower killed by the gate has not failed).
 */
const char *follow_failure(struct follower *f, char *out, size_t len);

#endif
