/*
 * Steps about the network, IPv4 (the addresses vessel leases), with bounded waits so a broken
 * network is a report, never a hang:
 *   addrs                 "addr IF A.B.C.D/PREFIX" for each IPv4 address the process sees
 *   connect ADDR PORT     connect, send one line, read one: "connect ADDR PORT ok REPLY" or
 *                         "connect ADDR PORT error ENAME" (ETIMEDOUT after 5 s)
 *   listen ADDR PORT      (on the host) "listening PORT" (the port bound, for 0), accept one
 *                         connection within 60 s, answer it, "accepted PEER LINE", exit 0;
 *                         given a pipe or socket on stdin, it gives up when its writer is gone
 *   serve PORT            (in the container) "serving PORT", then answer every connection on
 *                         0.0.0.0:PORT with "selftest HOSTNAME LINE" until killed
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe.h"

#define CONNECT_MS 5000
#define LINE_MS 5000
#define ACCEPT_MS 60000

static int prefix_len(const struct sockaddr_in *mask) {
  unsigned long m = ntohl(mask->sin_addr.s_addr);
  int n = 0;
  while (m & 0x80000000UL) { n++; m = (m << 1) & 0xffffffffUL; }
  return n;
}

static void addrs(void) {
  struct ifaddrs *list;
  if (getifaddrs(&list) < 0) {
    report("addrs error %s", errno_name(errno));
    return;
  }
  for (struct ifaddrs *i = list; i; i = i->ifa_next) {
    if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET) continue;
    char a[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, a, sizeof a);
    int p = i->ifa_netmask ? prefix_len((struct sockaddr_in *)(void *)i->ifa_netmask) : 32;
    report("addr %s %s/%d", i->ifa_name, a, p);
  }
  freeifaddrs(list);
}

static int wait_fd(int fd, short events, int ms) {
  struct pollfd p = { fd, events, 0 };
  int r;
  while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR) {}
  if (r == 0) errno = ETIMEDOUT;
  return r > 0 ? 0 : -1;
}

/* One line (without its newline) into BUF, within MS. */
static int read_line(int fd, char *buf, size_t len, int ms) {
  size_t o = 0;
  while (o + 1 < len) {
    if (wait_fd(fd, POLLIN, ms) < 0) return -1;
    ssize_t n = read(fd, buf + o, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0 || buf[o] == '\n') break;
    o++;
  }
  buf[o] = '\0';
  return 0;
}

static int send_line(int fd, const char *text) {
  char line[512];
  int n = snprintf(line, sizeof line, "%s\n", text);
  if (n < 0 || (size_t)n >= sizeof line) return -1;
  return write(fd, line, (size_t)n) == n ? 0 : -1;
}

static int parse_addr(const char *addr, const char *port, struct sockaddr_in *sa) {
  char *end;
  long p = strtol(port, &end, 10);
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((unsigned short)p);
  if (*port == '\0' || *end != '\0' || p < 0 || p > 65535) return -1;
  return inet_pton(AF_INET, addr, &sa->sin_addr) == 1 ? 0 : -1;
}

static void connect_to(const char *addr, const char *port) {
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) { report("connect %s %s error %s", addr, port, errno_name(errno)); return; }
  parse_addr(addr, port, &sa);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  if (r < 0 && errno == EINPROGRESS) {
    int soerr = 0;
    socklen_t l = sizeof soerr;
    if (wait_fd(fd, POLLOUT, CONNECT_MS) == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) == 0) {
      r = soerr ? -1 : 0;
      errno = soerr;
    }
  }
  char reply[256];
  if (r == 0) {
    fcntl(fd, F_SETFL, 0);
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    char hello[200];
    snprintf(hello, sizeof hello, "hello from %s", host);
    if (send_line(fd, hello) < 0 || read_line(fd, reply, sizeof reply, LINE_MS) < 0) r = -1;
  }
  int e = errno;
  close(fd);
  if (r == 0) report("connect %s %s ok %s", addr, port, reply);
  else report("connect %s %s error %s", addr, port, errno_name(e));
}

static int bound(const char *addr, const char *port, int *out_port) {
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  parse_addr(addr, port, &sa);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  socklen_t l = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &l);
  *out_port = ntohs(sa.sin_port);
  return fd;
}

static void listen_once(const char *addr, const char *port) {
  int p;
  int fd = bound(addr, port, &p);
  if (fd < 0) { report("listen %s %s error %s", addr, port, errno_name(errno)); _exit(1); }
  report("listening %d", p);
  /*
   * A pipe or socket pair (Node's 'pipe') on stdin is the caller's, vessel selftest: its end
   * (EOF: the caller died, even by SIGKILL) ends the wait, so a killed selftest leaves no
   * listener behind.
   */
  struct stat st;
  int watch_stdin = fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
  struct pollfd pf[2] = { { fd, POLLIN, 0 }, { 0, POLLIN, 0 } };
  int r;
  while ((r = poll(pf, watch_stdin ? 2 : 1, ACCEPT_MS)) < 0 && errno == EINTR) {}
  if (r == 0) { report("listen timeout"); _exit(1); }
  if (r < 0 || !(pf[0].revents & POLLIN)) { report("listen ended: the caller is gone"); _exit(1); }
  struct sockaddr_in peer;
  socklen_t l = sizeof peer;
  int c = accept(fd, (struct sockaddr *)&peer, &l);
  if (c < 0) { report("listen error %s", errno_name(errno)); _exit(1); }
  char line[256] = "";
  read_line(c, line, sizeof line, LINE_MS);
  send_line(c, "hello from the host");
  char a[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &peer.sin_addr, a, sizeof a);
  report("accepted %s %s", a, line);
  close(c);
  _exit(0);
}

static void serve(const char *port) {
  int p;
  int fd = bound("0.0.0.0", port, &p);
  if (fd < 0) { report("serve %s error %s", port, errno_name(errno)); _exit(1); }
  char host[128] = "";
  gethostname(host, sizeof host - 1);
  report("serving %d", p);
  for (;;) {
    int c = accept(fd, NULL, NULL);
    if (c < 0) continue;
    char line[256] = "", reply[512];
    read_line(c, line, sizeof line, LINE_MS);
    snprintf(reply, sizeof reply, "selftest %s %s", host, line);
    send_line(c, reply);
    close(c);
  }
}

int step_net(const char *verb, int argc, char **argv) {
  struct sockaddr_in sa;
  if (!strcmp(verb, "addrs")) {
    if (argc != 0) return -1;
    addrs();
    return 0;
  }
  if (!strcmp(verb, "connect")) {
    if (argc != 2 || parse_addr(argv[0], argv[1], &sa) < 0) return -1;
    connect_to(argv[0], argv[1]);
    return 0;
  }
  if (!strcmp(verb, "listen")) {
    if (argc != 2 || parse_addr(argv[0], argv[1], &sa) < 0) return -1;
    listen_once(argv[0], argv[1]);
  }
  if (!strcmp(verb, "serve")) {
    if (argc != 1 || parse_addr("0.0.0.0", argv[0], &sa) < 0) return -1;
    serve(argv[0]);
  }
  return STEP_UNKNOWN;
}
