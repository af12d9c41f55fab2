/* The relay's listening sockets and its loop (relay.h says what the relay is and why). */
#include "relay.h"
#include "../common/selfpipe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long long relay_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void describe(const struct relay_port *p, char *out, size_t n) {
  char a[INET6_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET6, &p->listen.sin6_addr, a, sizeof a);
  snprintf(out, n, "[%s]:%d/%s", a, ntohs(p->listen.sin6_port), p->udp ? "udp" : "tcp");
}

/*
 * A TCP port's new clients all go to the newest relay listening on it. Without a program the
 * kernel spreads a SO_REUSEPORT group's connections over its sockets by hash, so until the switch
 * the current relay kept taking new clients, and at its drain a handshake completed between its
 * last accept and the close of its socket was reset with the socket (closing a listener resets
 * what waits in its queue). A group's classic BPF program returns the index of the socket to use:
 * sockets are indexed in the order they started listening, closing one moves the last into its
 * place, and an index out of range falls back to the hash (net/core/sock_reuseport.c). "Always 1"
 * is therefore the next run's relay from the moment it listens beside the current one, which
 * then gets no new client and whose queue is empty long before its drain; and it is the hash over
 * one socket while a relay listens alone. The program is the group's, the last attached replacing
 * the one before: every relay attaches the same, after listen() (the socket is in the group then).
 * UDP has no queue to lose and its flows move at the drain (drain() says why): not steered.
 */
static int steer_to_newest(int fd) {
  struct sock_filter newest[] = { BPF_STMT(BPF_RET | BPF_K, 1) };
  struct sock_fprog prog = { .len = 1, .filter = newest };
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}

static int listen_one(const struct relay_port *p, char *err, size_t errlen) {
  char what[80];
  describe(p, what, sizeof what);
  int fd = socket(AF_INET6, (p->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { snprintf(err, errlen, "relay %s: socket: %s", what, strerror(errno)); return -1; }
  int one = 1;
  /* SO_REUSEPORT: the next run of a zero-downtime reload binds the same port while this one
   * still serves (the kernel allows it to sockets of the same user that all set it) */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
    snprintf(err, errlen, "relay %s: setsockopt: %s", what, strerror(errno));
    close(fd);
    return -1;
  }
  if (bind(fd, (const struct sockaddr *)&p->listen, sizeof p->listen) < 0 || (!p->udp && listen(fd, SOMAXCONN) < 0)) {
    snprintf(err, errlen, "relay %s: %s: %s", what, errno == EADDRINUSE ? "bind" : "listen", strerror(errno));
    close(fd);
    return -1;
  }
  if (!p->udp && steer_to_newest(fd) < 0) {
    snprintf(err, errlen, "relay %s: SO_ATTACH_REUSEPORT_CBPF: %s", what, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

int relay_listen(const struct relay_port *ports, int n, int *fds, char *err, size_t errlen) {
  for (int i = 0; i < n; i++) {
    fds[i] = listen_one(&ports[i], err, errlen);
    if (fds[i] >= 0) continue;
    while (i-- > 0) close(fds[i]);
    return -1;
  }
  return 0;
}

/*
 * The ports went to another run: what waits in a backlog is taken first (closing a listening
 * socket resets the connections queued on it; with the next relay steered to since it listened,
 * nothing should wait by now), then every listening socket is closed, which
 * leaves the port to the other run's sockets alone. A UDP port's flows go with its socket: their
 * answers could not be sent from the client's address any more, and the client's next datagram
 * reaches the other run.
 */
static void drain(struct tcp_table *tcp, const struct relay_port *ports, int *fds, int n) {
  for (int i = 0; i < n; i++) {
    if (fds[i] < 0) continue;
    if (!ports[i].udp) tcp_accept(tcp, fds[i], &ports[i].target);
    close(fds[i]);
    fds[i] = -1;
  }
}

int relay_serve(const struct relay_port *ports, int *fds, int n, const struct relay_limits *lim, char *err, size_t errlen) {
  static const int sigs[] = { SIGUSR1, SIGTERM };
  if (selfpipe_install(sigs, sizeof sigs / sizeof *sigs) < 0) { snprintf(err, errlen, "relay: pipe: %s", strerror(errno)); return -1; }
  signal(SIGPIPE, SIG_IGN);
  struct tcp_table *tcp = tcp_table_new(lim->max_conns);
  struct udp_table *udp = udp_table_new(lim->max_flows, lim->udp_idle_ms);
  size_t npf = 1 + (size_t)n + 2 * (size_t)lim->max_conns + (size_t)lim->max_flows;
  struct pollfd *pf = calloc(npf, sizeof *pf);
  int *slot = calloc((size_t)n + 1, sizeof *slot); /* pf index -> port, for the listening sockets */
  int result = -1;
  if (!tcp || !udp || !pf || !slot) { snprintf(err, errlen, "relay: out of memory"); goto out; }
  int draining = 0;
  for (;;) {
    size_t k = 0;
    pf[k++] = (struct pollfd){ .fd = selfpipe_read_fd(), .events = POLLIN };
    int nl = 0;
    for (int i = 0; i < n; i++) {
      /* a full TCP table: clients wait in the backlog until a connection ends */
      if (fds[i] < 0 || (!ports[i].udp && tcp_room(tcp) == 0)) continue;
      slot[nl++] = i;
      pf[k++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
    }
    size_t first_conn = k;
    k += (size_t)tcp_pollfds(tcp, pf + k);
    size_t first_flow = k;
    k += (size_t)udp_pollfds(udp, pf + k);
    long timeout = udp_expire(udp, fds, relay_now_ms());
    if (draining && tcp_count(tcp) == 0 && udp_count(udp) == 0) { result = 0; break; }
    int r = poll(pf, (nfds_t)k, timeout < 0 ? -1 : timeout > 60000 ? 60000 : (int)timeout);
    if (r < 0 && errno != EINTR) { snprintf(err, errlen, "relay: poll: %s", strerror(errno)); break; }
    if (r <= 0) continue;
    if (pf[0].revents & POLLIN) {
      selfpipe_drain();
      if (selfpipe_take(SIGTERM)) { result = 1; break; }
      if (selfpipe_take(SIGUSR1) && !draining) {
        draining = 1;
        drain(tcp, ports, fds, n);
        continue; /* the table changed: the entries polled are stale */
      }
    }
    tcp_events(tcp, pf + first_conn);
    udp_events(udp, pf + first_flow, fds);
    for (int j = 0; j < nl; j++) {
      int i = slot[j];
      if (!(pf[1 + j].revents & (POLLIN | POLLERR)) || fds[i] < 0) continue;
      if (ports[i].udp) udp_from_clients(udp, i, fds[i], &ports[i].target);
      else tcp_accept(tcp, fds[i], &ports[i].target);
    }
  }
out:
  free(slot);
  free(pf);
  udp_table_free(udp);
  tcp_table_free(tcp);
  return result;
}
