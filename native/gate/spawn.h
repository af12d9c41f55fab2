/*
 * The gate's two children: the decompressor in front of it (reading the gate's own stdin) and
 * the unpacker behind it (tar or bsdtar, reading what the gate forwards). Both die with the
 * gate (PR_SET_PDEATHSIG on Linux, PROC_PDEATHSIG_CTL on FreeBSD), so a killed import leaves no
 * unpacker writing into a staging directory that is being removed.
 */
#ifndef VESSEL_GATE_SPAWN_H
#define VESSEL_GATE_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

struct child {
  pid_t pid;
  int status;
  int reaped;
};

/*
 * Run ARGV (PATH searched) with stdin IN, stdout OUT and stderr ERR (descriptors of this
 * process). 0, or -1 with errno set (fork failed). A program that cannot be run exits 127 after
 * saying why on ERR.
 */
int child_start(struct child *c, char *const argv[], int in, int out, int err);
void child_kill(struct child *c);
/* Wait for it (once; later calls return at once). */
void child_wait(struct child *c);
/* "ok", "exit:N", "signal:N", or "-" when it never ran. */
void child_outcome(const struct child *c, char *out, size_t len);
/* A pipe (close-on-exec both ends), as large as the system allows up to 1 MiB: fewer wakeups. */
int big_pipe(int fds[2]);
/*
 * In a child just forked from PARENT (the gate): die with it (exit at once if it is gone
 * already), with the default signal dispositions and no signal blocked.
 */
void child_setup(pid_t parent);
/* This process dies with its parent (vessel): its children then die with it. */
void die_with_parent(void);

#endif
