/* termrelay.h: a -t run's terminal relay that never blocks the monitor. */
#include "termrelay.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

void term_relay_begin(struct term_relay *t, int master, int relay_stdin, int out_fd) {
  t->master = master;
  t->in_fd = relay_stdin ? STDIN_FILENO : -1;
  t->out_fd = out_fd;
  /* a socket (what Node gives a child as a "pipe") takes MSG_DONTWAIT per write; nothing to reopen */
  struct stat st;
  t->out_socket = fstat(out_fd, &st) == 0 && S_ISSOCK(st.st_mode);
  t->out.off = t->out.len = t->in.off = t->in.len = 0;
  t->i_master = t->i_in = t->i_out = -1;
  if (master >= 0) fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
}

/* Writes what B holds to FD as far as it goes now; -1 when FD is gone (its bytes are dropped). */
static int flush(struct term_buf *b, int fd, int is_socket) {
  while (b->len > 0) {
    ssize_t w = is_socket ? send(fd, b->data + b->off, b->len, MSG_DONTWAIT | MSG_NOSIGNAL) : write(fd, b->data + b->off, b->len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (w <= 0) { b->off = b->len = 0; return -1; }
    b->off += (size_t)w;
    b->len -= (size_t)w;
  }
  b->off = 0;
  return 0;
}

/* Reads into an empty B; 1 when bytes came, 0 when none yet, -1 at the end of FD. */
static int fill(struct term_buf *b, int fd) {
  ssize_t r = read(fd, b->data, sizeof b->data);
  if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  if (r <= 0) return -1; /* EOF, or EIO: the master's side once the terminal's last holder is gone */
  b->off = 0;
  b->len = (size_t)r;
  return 1;
}

int term_relay_poll(struct term_relay *t, struct pollfd *pf, int base) {
  int n = 0;
  t->i_master = t->i_in = t->i_out = -1;
  if (t->master < 0) return 0;
  short master_events = 0;
  if (t->out.len == 0) master_events |= POLLIN;
  else { t->i_out = base + n; pf[n++] = (struct pollfd){ .fd = t->out_fd, .events = POLLOUT }; }
  if (t->in.len > 0) master_events |= POLLOUT;
  else if (t->in_fd >= 0) { t->i_in = base + n; pf[n++] = (struct pollfd){ .fd = t->in_fd, .events = POLLIN }; }
  if (master_events) { t->i_master = base + n; pf[n++] = (struct pollfd){ .fd = t->master, .events = master_events }; }
  return n;
}

int term_relay_events(struct term_relay *t, const struct pollfd *pf) {
  if (t->master < 0) return -1;
  if (t->i_out >= 0 && pf[t->i_out].revents) {
    /* a user's terminal gone (POLLERR/POLLHUP): the output has nowhere to go, the container goes on */
    if (flush(&t->out, t->out_fd, t->out_socket) < 0) t->out.len = 0;
  }
  if (t->i_in >= 0 && pf[t->i_in].revents) {
    /* stdin at its end: the command keeps its terminal, as with docker -t */
    if (fill(&t->in, t->in_fd) < 0) t->in_fd = -1;
    else flush(&t->in, t->master, 0);
  }
  if (t->i_master >= 0 && pf[t->i_master].revents) {
    short ev = pf[t->i_master].revents;
    if (ev & POLLOUT) flush(&t->in, t->master, 0);
    if ((ev & (POLLIN | POLLHUP | POLLERR)) && t->out.len == 0) {
      int got = fill(&t->out, t->master);
      if (got < 0) return -1;
      if (got > 0 && flush(&t->out, t->out_fd, t->out_socket) < 0) t->out.len = 0;
    }
  }
  return 0;
}

void term_relay_end(struct term_relay *t) {
  if (t->out.len > 0) flush(&t->out, t->out_fd, t->out_socket);
  t->out.len = t->in.len = 0;
  t->master = -1;
  t->in_fd = -1;
}
