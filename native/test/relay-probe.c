/*
 * A test driver for the relay (native/linux/relay*.c), built by test/unit/native-relay.test.ts
 * with -Werror and AddressSanitizer/UBSan and driven against real sockets on ::1:
 *   relay-probe [--conns N] [--flows N] [--idle-ms N] tcp|udp:LISTEN_PORT:TARGET_PORT …
 * binds every port (0: one the kernel picks), prints "listening P1 P2 …" (or "error REASON",
 * exit 125), then serves until SIGTERM (exit 1) or, after SIGUSR1, until drained (exit 0).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../linux/relay.h"

static void loopback(struct sockaddr_in6 *sa, int port) {
  memset(sa, 0, sizeof *sa);
  sa->sin6_family = AF_INET6;
  sa->sin6_addr = in6addr_loopback;
  sa->sin6_port = htons((unsigned short)port);
}

int main(int argc, char **argv) {
  struct relay_limits lim = { RELAY_MAX_CONNS, RELAY_MAX_FLOWS, RELAY_UDP_IDLE_MS };
  struct relay_port ports[32];
  int fds[32], n = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--conns") && i + 1 < argc) lim.max_conns = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--flows") && i + 1 < argc) lim.max_flows = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--idle-ms") && i + 1 < argc) lim.udp_idle_ms = atol(argv[++i]);
    else {
      char proto[4];
      int lp, tp;
      if (n == 32 || sscanf(argv[i], "%3[a-z]:%d:%d", proto, &lp, &tp) != 3) { fprintf(stderr, "bad port %s\n", argv[i]); return 2; }
      ports[n].udp = !strcmp(proto, "udp");
      loopback(&ports[n].listen, lp);
      loopback(&ports[n].target, tp);
      n++;
    }
  }
  char err[512];
  if (relay_listen(ports, n, fds, err, sizeof err) < 0) { printf("error %s\n", err); return 125; }
  printf("listening");
  for (int i = 0; i < n; i++) {
    struct sockaddr_in6 sa;
    socklen_t len = sizeof sa;
    getsockname(fds[i], (struct sockaddr *)&sa, &len);
    printf(" %d", ntohs(sa.sin6_port));
  }
  printf("\n");
  fflush(stdout);
  int r = relay_serve(ports, fds, n, &lim, err, sizeof err);
  for (int i = 0; i < n; i++) if (fds[i] >= 0) close(fds[i]);
  if (r < 0) { printf("error %s\n", err); return 125; }
  return r;
}
