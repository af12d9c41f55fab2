/*
 * The relay of published ports the kernel cannot answer (docs/networking.md, "IPv6 loopback"):
 * where br_netfilter hands bridged IPv6 to netfilter, the answer to a connection from the host to
 * [::1]:PORT redirected to a container is dropped by the kernel, so the host's ::1 is served in
 * userland instead, as docker's docker-proxy does — here one small process per run of a container
 * (relay-proc.c), one poll() loop over every relayed port, TCP and UDP:
 *
 *   relay.c       listening sockets and the loop: signals, drain, timers
 *   relay-tcp.c   connections: accept, non-blocking connect, both directions with bounded
 *                 buffers, half-close passed on with shutdown(), a reset passed on as a reset
 *   relay-udp.c   flows: one upstream socket per client address, closed when idle
 *   relay-proc.c  the run's relay process: bound, unprivileged, tied to the monitor
 *
 * No thread and no allocation per connection: the tables are allocated once, when serving starts.
 */
#ifndef VESSEL_RELAY_H
#define VESSEL_RELAY_H

#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>

/* One relayed port: clients at LISTEN, each connection (TCP) or client address (UDP) to TARGET. */
struct relay_port { int udp; struct sockaddr_in6 listen, target; };

struct relay_limits {
  int max_conns;      /* TCP connections at once; more clients wait in the listen backlog */
  int max_flows;      /* UDP client addresses at once; one more replaces the least recently active */
  long udp_idle_ms;   /* a flow without a datagram either way for this long is closed */
};

#define RELAY_MAX_CONNS 1024
#define RELAY_MAX_FLOWS 1024
#define RELAY_UDP_IDLE_MS 90000  /* docker-proxy's UDPConnTrackTimeout */
#define RELAY_BUF 16384          /* per direction of a TCP connection */

/*
 * Binds every port (SO_REUSEPORT, so a reload's next run binds beside this one, and a TCP port's
 * new clients go to the newest relay on it from the moment it listens; IPV6_V6ONLY; non-blocking;
 * TCP listening). FDS[i] is PORTS[i]'s. 0, or -1 with the reason and nothing open.
 */
int relay_listen(const struct relay_port *ports, int n, int *fds, char *err, size_t errlen);

/*
 * Serves the ports on FDS until SIGTERM (returns 1) or, after SIGUSR1 ("drain": the ports went to
 * another run), until the connections it has are finished (returns 0): on a drain it accepts what
 * waits in the TCP backlogs, then closes every listening socket and the UDP flows. -1 with the
 * reason when it cannot serve at all. Takes SIGUSR1, SIGTERM and SIGPIPE for itself.
 */
int relay_serve(const struct relay_port *ports, int *fds, int n, const struct relay_limits *lim, char *err, size_t errlen);

/* ---------- between the relay's files ---------- */

long long relay_now_ms(void);

struct tcp_table;
struct tcp_table *tcp_table_new(int max);
void tcp_table_free(struct tcp_table *t);
int tcp_count(const struct tcp_table *t);
int tcp_room(const struct tcp_table *t);
/* Accepts what waits on LFD (as many as there is room for), each connected to TARGET. */
void tcp_accept(struct tcp_table *t, int lfd, const struct sockaddr_in6 *target);
/* Two entries per connection into PF (fd -1 for a side with nothing to wait for); returns how many. */
int tcp_pollfds(struct tcp_table *t, struct pollfd *pf);
/* After poll(): moves what can move on the connections tcp_pollfds() listed. */
void tcp_events(struct tcp_table *t, const struct pollfd *pf);

struct udp_table;
struct udp_table *udp_table_new(int max, long idle_ms);
void udp_table_free(struct udp_table *t);
/* Datagrams waiting on listening socket LFD (port PORT) go to TARGET, each client by its own flow. */
void udp_from_clients(struct udp_table *t, int port, int lfd, const struct sockaddr_in6 *target);
/* One entry per flow into PF; returns how many. */
int udp_pollfds(struct udp_table *t, struct pollfd *pf);
/* After poll(): answers go back to their clients through LFDS[port] (-1: that port is closed). */
void udp_events(struct udp_table *t, const struct pollfd *pf, const int *lfds);
/* Closes idle flows, and every flow of a closed port; returns ms until the next one idles, or -1. */
long udp_expire(struct udp_table *t, const int *lfds, long long now);
int udp_count(const struct udp_table *t);

#endif
