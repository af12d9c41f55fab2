/*
 * The run's relay process (relay.h): the published ports the plan's relay records name, served
 * by one child of the monitor per run, for that run's life.
 *
 * Why a process of its own rather than sockets in the monitor's loop: the monitor is the
 * container's supervisor, and a relay is a data path that clients drive — a bug or a flood there
 * must not take the supervision with it, nor grow the monitor, which allocates nothing after its
 * start. Its own process can also drop what the monitor must keep: once its ports are bound it
 * runs as nobody, without capabilities or a way back (no_new_privs), holding only its sockets.
 *
 * Why it cannot outlive the run: the monitor kills it when the run ends (os_finish), and the
 * kernel kills it when the monitor dies, SIGKILL included (PR_SET_PDEATHSIG, set after the change
 * of user, which clears it, and checked against a monitor that died before it was set). It is not
 * put in the container's cgroups: "every process of the run is gone" (cgroup.events populated 0)
 * must keep meaning the container's processes, and the container's memory and pids limits are
 * the application's, not vessel's.
 */
#include "linux.h"
#include "relay.h"
#include "../common/say.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534
#define REPORT 3             /* the child's end of the readiness pipe, once it has moved there */

_Noreturn static void child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn static void child_fail(const char *fmt, ...) {
  char line[600];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  ssize_t w = write(REPORT, line, (size_t)n);
  (void)w;
  _exit(125);
}

/* Nothing of the monitor's stays open in the relay: its descriptors are the monitor's business. */
static void keep_only_report(int report) {
  int rep = fcntl(report, F_DUPFD, REPORT);
  if (rep < 0) _exit(125);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) { dup2(null, STDIN_FILENO); dup2(null, STDOUT_FILENO); } /* stderr: the log lines */
  if (rep != REPORT && dup2(rep, REPORT) < 0) _exit(125);
#ifdef SYS_close_range
  if (syscall(SYS_close_range, REPORT + 1, ~0U, 0) == 0) return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = REPORT + 1; fd < (max > 0 && max < 1048576 ? max : 65536); fd++) close((int)fd);
}

static void address(struct sockaddr_in6 *sa, const char *ip, int port) {
  memset(sa, 0, sizeof *sa);
  sa->sin6_family = AF_INET6;
  sa->sin6_port = htons((unsigned short)port);
  if (inet_pton(AF_INET6, ip, &sa->sin6_addr) != 1) child_fail("relay: \"%s\" is not an IPv6 address", ip);
}

/* As many connections and flows as the open-files limit has room for beside the ports, up to the defaults. */
static struct relay_limits limits_for(int nports) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  long limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : 1L << 20;
  /* two descriptors per connection, one per flow: a third of the room each way */
  long room = limit - nports - 16, conns = room / 3, flows = room / 3;
  if (conns < 16) child_fail("relay: %d ports leave no room for connections under the open-files limit (%ld)", nports, limit);
  struct relay_limits lim = {
    .max_conns = conns < RELAY_MAX_CONNS ? (int)conns : RELAY_MAX_CONNS,
    .max_flows = flows < RELAY_MAX_FLOWS ? (int)flows : RELAY_MAX_FLOWS,
    .udp_idle_ms = RELAY_UDP_IDLE_MS,
  };
  return lim;
}

static void drop_privileges(pid_t monitor) {
  if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
    child_fail("relay: cannot become nobody: %s", strerror(errno));
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* after the change of user, which clears it (prctl(2)); a monitor gone already is seen here */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid() != monitor) _exit(0);
}

_Noreturn static void relay_child(const struct plan *p, int report, pid_t monitor) {
  monitor_child_reset();
  /* a session of its own: a terminal's ^C, ^\ or hang-up is the foreground container's business
   * (the monitor forwards it), never a reason for the relay to go */
  setsid();
  keep_only_report(report);
  prctl(PR_SET_NAME, "vessel-relay", 0, 0, 0);
  int n = 0;
  for (int i = 0; i < p->nrelays; i++) n += p->relays[i].count;
  struct relay_port *ports = calloc((size_t)n, sizeof *ports);
  int *fds = calloc((size_t)n, sizeof *fds);
  if (!ports || !fds) child_fail("relay: out of memory for %d ports", n);
  int k = 0;
  for (int i = 0; i < p->nrelays; i++) {
    const struct relay *r = &p->relays[i];
    for (int j = 0; j < r->count; j++, k++) {
      ports[k].udp = r->udp;
      address(&ports[k].listen, r->listen, r->port + j);
      address(&ports[k].target, r->target, r->target_port + j);
    }
  }
  struct relay_limits lim = limits_for(n);
  char err[512];
  /* bound while still root: a port below 1024 needs CAP_NET_BIND_SERVICE */
  if (relay_listen(ports, n, fds, err, sizeof err) < 0) child_fail("%s", err);
  drop_privileges(monitor);
  if (write(REPORT, "ok\n", 3) != 3) _exit(125);
  close(REPORT);
  int r = relay_serve(ports, fds, n, &lim, err, sizeof err);
  if (r < 0) { say(L_ERROR, "%s", err); _exit(125); }
  _exit(0);
}

int os_ports_start(const struct plan *p, struct run *r, char *err, size_t errlen) {
  if (p->nrelays == 0) return 0;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) { snprintf(err, errlen, "relay: pipe: %s", strerror(errno)); return -1; }
  pid_t monitor = getpid();
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, errlen, "relay: fork: %s", strerror(errno));
    close(pipefd[0]); close(pipefd[1]);
    return -1;
  }
  if (pid == 0) { close(pipefd[0]); relay_child(p, pipefd[1], monitor); }
  close(pipefd[1]);
  /* Waited for here: binding is a few system calls, and the run is reported started (vessel run
   * -d returns) only once its ports answer. */
  char line[600];
  size_t got = 0;
  while (got < sizeof line - 1) {
    ssize_t n = read(pipefd[0], line + got, sizeof line - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
    if (memchr(line, '\n', got)) break;
  }
  close(pipefd[0]);
  line[got] = '\0';
  char *nl = strchr(line, '\n');
  if (nl) *nl = '\0';
  if (!strcmp(line, "ok")) {
    r->relay = pid;
    return 0;
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
  snprintf(err, errlen, "%s", *line ? line : "relay: ended before its ports were bound");
  return -1;
}

void os_ports_drain(struct run *r) {
  if (r->relay > 0) kill(r->relay, SIGUSR1);
}

int os_ports_ended(struct run *r, pid_t pid, int wait_status) {
  if (r->relay <= 0 || pid != r->relay) return 0;
  r->relay = 0;
  /* exit 0: drained and done (a reload moved the ports away); anything else is a fault */
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    say(L_ERROR, "the relay of the published ports ended (%s %d): they are not answered at [::1] until the container's next run",
        WIFSIGNALED(wait_status) ? "signal" : "exit", WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : WEXITSTATUS(wait_status));
  }
  return 1;
}

void relay_stop(struct run *r) {
  if (r->relay <= 0) return;
  kill(r->relay, SIGKILL);
  while (waitpid(r->relay, NULL, 0) < 0 && errno == EINTR) {}
  r->relay = 0;
}
