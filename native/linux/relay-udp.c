/*
 * The relay's UDP flows (relay.h), as docker-proxy keeps them: each client address (and port)
 * gets its own socket connected to the container, so the container sees one peer per client and
 * its answers come back on that socket; they are sent to the client from the listening socket, so
 * they come from the address and port the client asked. A flow with no datagram either way for
 * the idle time is closed; when the table is full, a new client takes the place of the flow that
 * has been quiet the longest. A datagram the kernel cannot take at once is dropped, as a network
 * would drop it.
 */
#include "relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BURST 64             /* datagrams per socket per wake-up: every socket gets its turn */
#define DGRAM_MAX 65536      /* the largest UDP payload over IPv6 without jumbograms fits */

struct flow {
  int used, polled;
  int fd;                    /* connected to the container */
  int port;                  /* the index of the relayed port it came in on */
  struct sockaddr_in6 client;
  long long last;            /* last datagram either way (ms, monotonic) */
  unsigned long long turn;   /* ... and its order among all flows' (many share a millisecond) */
};

struct udp_table { int max, count; long idle_ms; unsigned long long turns; struct flow *f; char *buf; };

static void touch(struct udp_table *t, struct flow *f) {
  f->last = relay_now_ms();
  f->turn = ++t->turns;
}

struct udp_table *udp_table_new(int max, long idle_ms) {
  struct udp_table *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->f = calloc((size_t)max, sizeof *t->f);
  t->buf = malloc(DGRAM_MAX);
  if (!t->f || !t->buf) { free(t->f); free(t->buf); free(t); return NULL; }
  t->max = max;
  t->idle_ms = idle_ms;
  return t;
}

static void close_flow(struct udp_table *t, struct flow *f) {
  close(f->fd);
  f->used = 0;
  t->count--;
}

void udp_table_free(struct udp_table *t) {
  if (!t) return;
  for (int i = 0; i < t->max; i++) if (t->f[i].used) close_flow(t, &t->f[i]);
  free(t->f);
  free(t->buf);
  free(t);
}

int udp_count(const struct udp_table *t) { return t->count; }

static int same_client(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b) {
  return a->sin6_port == b->sin6_port && a->sin6_scope_id == b->sin6_scope_id && !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr);
}

static struct flow *flow_for(struct udp_table *t, int port, const struct sockaddr_in6 *client, const struct sockaddr_in6 *target) {
  struct flow *free_slot = NULL, *quietest = NULL;
  for (int i = 0; i < t->max; i++) {
    struct flow *f = &t->f[i];
    if (!f->used) { if (!free_slot) free_slot = f; continue; }
    if (f->port == port && same_client(&f->client, client)) return f;
    if (!quietest || f->turn < quietest->turn) quietest = f;
  }
  struct flow *f = free_slot;
  if (!f) { f = quietest; close_flow(t, f); }
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return NULL;
  if (connect(fd, (const struct sockaddr *)target, sizeof *target) < 0) { close(fd); return NULL; }
  *f = (struct flow){ .used = 1, .fd = fd, .port = port, .client = *client };
  t->count++;
  return f;
}

void udp_from_clients(struct udp_table *t, int port, int lfd, const struct sockaddr_in6 *target) {
  for (int i = 0; i < BURST; i++) {
    struct sockaddr_in6 client;
    socklen_t len = sizeof client;
    ssize_t n = recvfrom(lfd, t->buf, DGRAM_MAX, 0, (struct sockaddr *)&client, &len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || len != sizeof client || client.sin6_family != AF_INET6) return;
    struct flow *f = flow_for(t, port, &client, target);
    if (!f) continue;
    touch(t, f);
    ssize_t w = send(f->fd, t->buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w; /* lost like a datagram on a busy network; the client retries or not, its choice */
  }
}

int udp_pollfds(struct udp_table *t, struct pollfd *pf) {
  int k = 0;
  for (int i = 0; i < t->max; i++) {
    struct flow *f = &t->f[i];
    f->polled = f->used;
    if (f->used) pf[k++] = (struct pollfd){ .fd = f->fd, .events = POLLIN };
  }
  return k;
}

static void answers(struct udp_table *t, struct flow *f, const int *lfds) {
  for (int i = 0; i < BURST; i++) {
    ssize_t n = recv(f->fd, t->buf, DGRAM_MAX, 0);
    if (n < 0) {
      /* ECONNREFUSED: an ICMP "port unreachable" for an earlier datagram (nothing listens in the
       * container yet); the flow stays for the client's next try */
      if (errno == EINTR || errno == ECONNREFUSED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) close_flow(t, f);
      return;
    }
    if (lfds[f->port] < 0) { close_flow(t, f); return; }
    touch(t, f);
    ssize_t w = sendto(lfds[f->port], t->buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)&f->client, sizeof f->client);
    (void)w;
  }
}

void udp_events(struct udp_table *t, const struct pollfd *pf, const int *lfds) {
  int k = 0;
  for (int i = 0; i < t->max; i++) {
    struct flow *f = &t->f[i];
    if (!f->polled) continue;
    if (f->used && pf[k].revents) answers(t, f, lfds);
    k++;
  }
}

long udp_expire(struct udp_table *t, const int *lfds, long long now) {
  long next = -1;
  for (int i = 0; i < t->max; i++) {
    struct flow *f = &t->f[i];
    if (!f->used) continue;
    long long left = f->last + t->idle_ms - now;
    if (lfds[f->port] < 0 || left <= 0) { close_flow(t, f); continue; }
    if (next < 0 || left < next) next = (long)left;
  }
  return next;
}
