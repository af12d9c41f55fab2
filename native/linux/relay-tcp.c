/*
 * The relay's TCP connections (relay.h). Each is two non-blocking sockets, the client's and one
 * connected to the container, and one bounded buffer per direction: a side is read only when its
 * buffer is empty, so a slow reader slows its writer down (TCP's own flow control, end to end)
 * instead of growing memory. An end of stream is passed on as shutdown(SHUT_WR) once its buffer
 * is written (half-close: a client may send its request and close its side, then read the whole
 * answer); an error or a reset on one side resets the other (SO_LINGER 0), so neither waits for
 * data that will never come.
 */
#include "relay.h"

#define PAGE 4096            /* RELAY_BUF is a multiple of it: each buffer is whole pages */

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

struct half {                /* one direction: read from one socket, written to the other */
  size_t off, len;
  int eof;                   /* its source said end of stream */
  int shut;                  /* ... and that was passed on (shutdown) */
  char *buf;                 /* RELAY_BUF bytes */
};

struct conn {
  int used;
  int client, upstream;
  int connecting;            /* the connect to the container is under way */
  int polled;                /* listed by the last tcp_pollfds() */
  struct half up, down;      /* client -> container, container -> client */
};

/*
 * The connections' bookkeeping is one small array the loop walks; their buffers are one large
 * allocation apart from it, page-aligned, whose pages are touched only by connections that carry
 * data and handed back to the kernel when they end (a burst of clients leaves no memory behind).
 */
struct tcp_table { int max, count; struct conn *c; char *bufs; };

struct tcp_table *tcp_table_new(int max) {
  struct tcp_table *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->c = calloc((size_t)max, sizeof *t->c);
  t->bufs = aligned_alloc(PAGE, (size_t)max * 2 * RELAY_BUF);
  if (!t->c || !t->bufs) { free(t->c); free(t->bufs); free(t); return NULL; }
  for (int i = 0; i < max; i++) {
    t->c[i].up.buf = t->bufs + (size_t)i * 2 * RELAY_BUF;
    t->c[i].down.buf = t->c[i].up.buf + RELAY_BUF;
  }
  t->max = max;
  return t;
}

static void reset_close(int fd) {
  struct linger l = { .l_onoff = 1, .l_linger = 0 };
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

static void finish(struct tcp_table *t, struct conn *c, int reset) {
  if (reset) { reset_close(c->client); reset_close(c->upstream); }
  else { close(c->client); close(c->upstream); }
  c->used = 0;
  t->count--;
  madvise(c->up.buf, 2 * RELAY_BUF, MADV_DONTNEED);
}

void tcp_table_free(struct tcp_table *t) {
  if (!t) return;
  for (int i = 0; i < t->max; i++) if (t->c[i].used) finish(t, &t->c[i], 1);
  free(t->bufs);
  free(t->c);
  free(t);
}

int tcp_count(const struct tcp_table *t) { return t->count; }
int tcp_room(const struct tcp_table *t) { return t->max - t->count; }

static void nodelay(int fd) {
  /* what arrives is passed on at once: Nagle's wait belongs to the endpoints, not to a relay */
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void tcp_accept(struct tcp_table *t, int lfd, const struct sockaddr_in6 *target) {
  while (t->count < t->max) {
    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return; /* EAGAIN: nothing waits; EMFILE and the like: the backlog keeps them for later */
    }
    int ufd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ufd < 0) { reset_close(cfd); return; }
    nodelay(cfd);
    nodelay(ufd);
    int r = connect(ufd, (const struct sockaddr *)target, sizeof *target);
    if (r < 0 && errno != EINPROGRESS) {
      /* the container is not there (or refuses at once): the client hears a reset, as it would
       * from the kernel's own redirect */
      reset_close(ufd);
      reset_close(cfd);
      continue;
    }
    struct conn *c = t->c;
    while (c->used) c++;
    c->used = 1;
    c->client = cfd;
    c->upstream = ufd;
    c->connecting = r < 0;
    c->polled = 0;
    c->up.off = c->up.len = c->down.off = c->down.len = 0;
    c->up.eof = c->up.shut = c->down.eof = c->down.shut = 0;
    t->count++;
  }
}

/* What side FD waits for: reading when its outgoing buffer is empty, writing when its incoming one has data. */
static short wants(const struct half *from_it, const struct half *to_it) {
  short ev = 0;
  if (from_it->len == 0 && !from_it->eof) ev |= POLLIN;
  if (to_it->len > 0) ev |= POLLOUT;
  return ev;
}

int tcp_pollfds(struct tcp_table *t, struct pollfd *pf) {
  int k = 0;
  for (int i = 0; i < t->max; i++) {
    struct conn *c = &t->c[i];
    c->polled = c->used;
    if (!c->used) continue;
    if (c->connecting) {
      /* the client is left alone until the container answers: its data waits in its socket */
      pf[k++] = (struct pollfd){ .fd = -1 };
      pf[k++] = (struct pollfd){ .fd = c->upstream, .events = POLLOUT };
      continue;
    }
    /* A side with nothing to wait for is not polled: a reset there shows on the next read or
     * write, and polling it would only report its end of stream again and again. */
    short a = wants(&c->up, &c->down), b = wants(&c->down, &c->up);
    pf[k++] = (struct pollfd){ .fd = a ? c->client : -1, .events = a };
    pf[k++] = (struct pollfd){ .fd = b ? c->upstream : -1, .events = b };
  }
  return k;
}

/*
 * Moves what it can from FROM through H to TO, a few buffers at most (the other connections get
 * their turn; poll() reports what is left). -1: a side failed (reset, refused, broken).
 */
static int pump(int from, int to, struct half *h) {
  for (int round = 0; round < 8; round++) {
    if (h->len == 0 && !h->eof) {
      ssize_t r = recv(from, h->buf, RELAY_BUF, 0);
      if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
      if (r == 0) h->eof = 1;
      h->off = 0;
      h->len = (size_t)(r > 0 ? r : 0);
    }
    while (h->len > 0) {
      ssize_t w = send(to, h->buf + h->off, h->len, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
      }
      h->off += (size_t)w;
      h->len -= (size_t)w;
    }
    if (h->eof) {
      if (!h->shut && shutdown(to, SHUT_WR) < 0 && errno != ENOTCONN) return -1;
      h->shut = 1;
      return 0;
    }
  }
  return 0;
}

static void connected(struct tcp_table *t, struct conn *c) {
  int e = 0;
  socklen_t len = sizeof e;
  if (getsockopt(c->upstream, SOL_SOCKET, SO_ERROR, &e, &len) < 0) e = errno;
  if (e == EINPROGRESS || e == EALREADY) return;
  if (e) { finish(t, c, 1); return; }
  c->connecting = 0;
}

void tcp_events(struct tcp_table *t, const struct pollfd *pf) {
  int k = 0;
  for (int i = 0; i < t->max; i++) {
    struct conn *c = &t->c[i];
    if (!c->polled) continue;
    const struct pollfd *a = &pf[k++], *b = &pf[k++];
    if (!c->used || !(a->revents | b->revents)) continue;
    if (c->connecting) {
      connected(t, c);
      if (!c->used || c->connecting) continue;
    }
    if (pump(c->client, c->upstream, &c->up) < 0 || pump(c->upstream, c->client, &c->down) < 0) { finish(t, c, 1); continue; }
    if (c->up.shut && c->down.shut) finish(t, c, 0);
  }
}
