/*
 * termrelay.h: a -t run's terminal, copied between the monitor's own stdin/stdout and the pty's
 * master end without ever blocking the monitor's loop. A container that does not read its
 * terminal, or a user whose terminal does not drain (^S, a pipe nobody reads), must not stall the
 * stop timeout, health checks or the Emperor's heartbeats: each direction has a buffer, the
 * monitor polls the writer's side while it holds bytes and the reader's side only when it is
 * empty (the source waits, in the kernel's buffers, as it would for any slow terminal).
 */
#ifndef VESSEL_TERMRELAY_H
#define VESSEL_TERMRELAY_H

#include <poll.h>
#include <stddef.h>

struct term_buf {
  char data[16384];
  size_t off, len;
};

struct term_relay {
  int master;          /* -1: no terminal */
  int in_fd;           /* our stdin while it is relayed (-t -i), else -1 */
  int out_fd;          /* where the container's output goes: non-blocking if it could be made so */
  int out_socket;      /* out_fd is a socket: written with MSG_DONTWAIT, its flags left alone */
  struct term_buf out; /* master → out_fd */
  struct term_buf in;  /* in_fd → master */
  int i_master, i_in, i_out; /* this loop's pollfd indices, -1 when not polled */
};

/* A run's terminal: MASTER is set non-blocking (it is ours); OUT_FD is where its output goes. */
void term_relay_begin(struct term_relay *t, int master, int relay_stdin, int out_fd);
/* Appends what to wait for to PF (at most 3 entries) and returns how many. */
int term_relay_poll(struct term_relay *t, struct pollfd *pf, int base);
/* Reads and writes what PF says is ready. Returns 0, or -1 once the master end is closed (the run's terminal is gone). */
int term_relay_events(struct term_relay *t, const struct pollfd *pf);
/* The run is over: what can be written without waiting is, the rest dropped; the master is not closed here. */
void term_relay_end(struct term_relay *t);

#endif
