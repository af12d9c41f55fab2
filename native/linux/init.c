/*
 * pid 1 of the container. It builds the root and the network, tells the monitor "ready", starts
 * the command, then reaps every process. Jail semantics: it exits when no process is left in the
 * container (wait=all, the default) or when the command exits (wait=main); the kernel kills what
 * remains of the pid namespace when it exits. Its exit code is the command's. It forwards the
 * signals it gets to the command (a pid 1 without handlers would ignore them).
 */
#include "linux.h"
#include "../common/waitcode.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int chan_fd = -1;

void chan_say(const char *fmt, ...) {
  if (chan_fd < 0) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  ssize_t w = write(chan_fd, buf, (size_t)n);
  (void)w;
}

_Noreturn void die_setup(const char *fmt, ...) {
  char buf[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  chan_say("error %s", buf);
  _exit(125);
}

static volatile sig_atomic_t pending[65];
static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM };

static void on_signal(int sig) {
  if (sig > 0 && sig < 65) pending[sig] = 1;
}

/*
 * Handlers for the forwarded signals and SIGCHLD (so a child's end wakes the wait below).
 * SA_RESTART: during set-up, interrupted calls (mounts, netlink, reads) resume as if nothing came;
 * the wait for children is ppoll(), which a signal ends whatever the flags.
 */
static void install_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaction(forwarded[i], &sa, NULL);
  sigaction(SIGCHLD, &sa, NULL);
}

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++) if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* /proc is the container's own here: any pid but ours means a process is still running. */
static int others_alive(void) {
  DIR *d = opendir("/proc");
  if (!d) return 0;
  struct dirent *e;
  int found = 0;
  while ((e = readdir(d))) {
    if (all_digits(e->d_name) && atoi(e->d_name) != 1) { found = 1; break; }
  }
  closedir(d);
  return found;
}

int container_init(struct plan *p, int host_nl, int bridge_index, int ptysock) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /* From the first moment: a pid namespace's init drops a signal it has no handler for, so a stop
   * sent while the root is still being built would be lost, and the command would then run until
   * the stop timeout's SIGKILL. Caught here, it is forwarded once the command exists. */
  install_handlers();
  /* The monitor may have died between the clone and the line above: then its end is closed. */
  struct pollfd pf = { .fd = chan_fd, .events = 0 };
  if (poll(&pf, 1, 0) == 1 && (pf.revents & (POLLHUP | POLLERR))) _exit(125);
  int slave = -1;
  root_setup(p, ptysock, &slave);
  if (!p->net_host) {
    if (net_loopback_up() < 0) die_setup("bring up lo: %s", strerror(errno));
    char err[512];
    if (p->veth_host && net_plumb(p, host_nl, bridge_index, err, sizeof err) < 0) die_setup("network: %s", err);
  }
  if (host_nl >= 0) close(host_nl);
  struct ids id;
  user_resolve(p, &id);
  /* the monitor's "go": we are in the run's cgroups, so the command and all it starts are counted */
  char go;
  ssize_t n;
  do n = read(chan_fd, &go, 1); while (n < 0 && errno == EINTR);
  if (n != 1) _exit(125); /* the monitor is gone */
  chan_say("ready");

  /* Blocked from here on: across the fork, a signal for the command between its fork and its exec
   * stays pending until exec_command() sets the defaults back (and then acts as the command's
   * own); in the init, signals are taken only inside ppoll() below, so none can come between a
   * look at what is pending and the wait (and be held there until some child changes state). */
  sigset_t fwd, open_mask;
  sigemptyset(&fwd);
  for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaddset(&fwd, forwarded[i]);
  sigaddset(&fwd, SIGCHLD);
  sigprocmask(SIG_BLOCK, &fwd, &open_mask);
  pid_t main_pid = fork();
  if (main_pid < 0) die_setup("fork: %s", strerror(errno));
  if (main_pid == 0) exec_command(p, slave, &id);
  if (slave >= 0) close(slave);

  int main_code = -1;
  for (;;) {
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) {
      int s = forwarded[i];
      if (!pending[s]) continue;
      pending[s] = 0;
      /* Once the command is gone, a stop signal is meant for whatever still runs. */
      if (main_code < 0) kill(main_pid, s);
      else if (s != SIGWINCH) kill(-1, s);
    }
    int st;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
      if (w != main_pid) continue;
      main_code = wait_code(st);
      chan_say("main-exit %d", main_code);
      if (p->wait_main) return main_code;
    }
    const struct timespec *limit = NULL;
    static const struct timespec again = { 0, 50 * 1000 * 1000 };
    if (w < 0 && errno == ECHILD) {
      /* No children, but `vessel exec` sessions are not our children: wait for them too. */
      if (!others_alive()) return main_code < 0 ? 125 : main_code;
      limit = &again;
    }
    /* signals open only while waiting: a handler runs, ppoll returns, the loop looks again */
    ppoll(NULL, 0, limit, &open_mask);
  }
}
