/*
 * `vessel-init exec CONFIG` (vessel exec): a command inside a running container — its namespaces,
 * root *and* cgroups (nsenter joins no cgroups, so the session would escape the limits), a
 * terminal from the container's devpts when asked. It stays the command's parent: forwards
 * signals, relays the terminal, and exits with the command's code (128+signal when killed).
 * Its status channel to the CLI is fd 3 ("ready", "pid N", "error …", "notfound …", "cannotrun …").
 */
#include "linux.h"
#include "../common/selfpipe.h"
#include "../common/waitcode.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define STATUS_FD 3

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM };
static struct termios saved_tio;
static int tio_saved;


static void restore_tty(void) {
  if (tio_saved) tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
}

static void make_raw(void) {
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) < 0) return;
  tio_saved = 1;
  atexit(restore_tty);
  struct termios raw = saved_tio;
  cfmakeraw(&raw);
  tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
}

static int write_all(int fd, const char *buf, ssize_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, (size_t)n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    buf += w;
    n -= w;
  }
  return 0;
}

/* Wait for CHILD, forwarding signals and relaying between our stdio and the pty master. */
static int supervise(pid_t child, int master) {
  int st = 0, stdin_open = master >= 0;
  char buf[16384];
  for (;;) {
    struct pollfd pf[3];
    int n = 0, im = -1, ii = -1;
    pf[n++] = (struct pollfd){ .fd = selfpipe_read_fd(), .events = POLLIN };
    if (master >= 0) { im = n; pf[n++] = (struct pollfd){ .fd = master, .events = POLLIN }; }
    if (stdin_open) { ii = n; pf[n++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN }; }
    int r = poll(pf, (nfds_t)n, -1);
    if (r < 0 && errno != EINTR) break;
    if (r > 0 && (pf[0].revents & POLLIN)) selfpipe_drain();
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) {
      int s = forwarded[i];
      if (!selfpipe_take(s)) continue;
      if (s == SIGWINCH && master >= 0) {
        struct winsize ws;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
      }
      kill(child, s);
    }
    if (im >= 0 && r > 0 && (pf[im].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = read(master, buf, sizeof buf);
      if (got > 0) write_all(STDOUT_FILENO, buf, got);
      else if (!(got < 0 && errno == EINTR)) { close(master); master = -1; stdin_open = 0; } /* EIO: every slave closed */
    }
    if (ii >= 0 && r > 0 && (pf[ii].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
      if (got > 0 && master >= 0) write_all(master, buf, got);
      else if (got <= 0 && !(got < 0 && errno == EINTR)) stdin_open = 0; /* the command keeps its terminal */
    }
    pid_t w = waitpid(child, &st, WNOHANG);
    if (w == child) break;
  }
  if (master >= 0) {
    /* drain what the command wrote just before it exited */
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    for (;;) { ssize_t got = read(master, buf, sizeof buf); if (got <= 0) break; write_all(STDOUT_FILENO, buf, got); }
  }
  return wait_code(st);
}

int exec_main(const char *config) {
  static struct plan p;
  char err[512];
  chan_fd = STATUS_FD;
  if (fcntl(STATUS_FD, F_GETFD) < 0) chan_fd = -1;
  else fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC);
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (plan_load(&p, config, err, sizeof err) < 0) die_setup("%s", err);
  if (p.target <= 0) die_setup("exec: no target container");
  if (p.nargv == 0) die_setup("exec: no command");
  /* the cgroups first: from inside the container's mount namespace the host's tree is gone */
  if (cgroup_join_dirs(p.join_dirs, p.njoin, getpid(), err, sizeof err) < 0) die_setup("%s", err);
  if (enter_container((pid_t)p.target, err, sizeof err) < 0) die_setup("%s", err);
  int master = -1, slave = -1;
  if (p.tty && pty_open(&master, &slave) < 0) die_setup("cannot allocate a terminal in the container: %s", strerror(errno));
  struct ids id;
  user_resolve(&p, &id);
  /* SIGCHLD wakes the poll when the command exits; the others are forwarded to it */
  int caught[sizeof forwarded / sizeof *forwarded + 1];
  size_t nc = 0;
  for (; nc < sizeof forwarded / sizeof *forwarded; nc++) caught[nc] = forwarded[nc];
  caught[nc++] = SIGCHLD;
  if (selfpipe_install(caught, nc) < 0) die_setup("pipe: %s", strerror(errno));
  chan_say("ready");
  pid_t child = fork(); /* the pid namespace applies to children only */
  if (child < 0) die_setup("fork: %s", strerror(errno));
  if (child == 0) {
    if (master >= 0) close(master);
    exec_command(&p, slave, &id);
  }
  if (slave >= 0) close(slave);
  chan_say("pid %d", (int)child);
  if (master >= 0) make_raw();
  int code = supervise(child, master);
  restore_tty();
  return code;
}

int os_verb(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "exec")) return exec_main(argv[2]);
  return -1;
}
