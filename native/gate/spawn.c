/* Children of the gate (spawn.h). */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/prctl.h>
#elif defined(__FreeBSD__)
#include <sys/procctl.h>
#endif

static void pdeathsig(void) {
#if defined(__linux__)
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
#elif defined(__FreeBSD__)
  int sig = SIGKILL;
  (void)procctl(P_PID, 0, PROC_PDEATHSIG_CTL, &sig);
#endif
}

void die_with_parent(void) {
  pid_t parent = getppid();
  pdeathsig();
  /* The parent may have died before the call. */
  if (getppid() != parent) _exit(125);
}

int big_pipe(int fds[2]) {
  if (pipe(fds) != 0) return -1;
  for (int i = 0; i < 2; i++) (void)fcntl(fds[i], F_SETFD, FD_CLOEXEC);
#ifdef F_SETPIPE_SZ
  /* Best effort: above /proc/sys/fs/pipe-max-size an unprivileged caller gets EPERM. */
  (void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
#endif
  return 0;
}

void child_setup(pid_t parent) {
  pdeathsig();
  if (getppid() != parent) _exit(125);
  /* The gate ignores SIGPIPE and catches SIGTERM; the child starts with the defaults. */
  signal(SIGPIPE, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

int child_start(struct child *c, char *const argv[], int in, int out, int err) {
  c->reaped = 0;
  c->status = 0;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    child_setup(parent);
    int fds[3] = { in, out, err };
    /* Move the three out of the way first, so that one dup2 cannot close another's source. */
    for (int i = 0; i < 3; i++) {
      if (fds[i] >= 0 && fds[i] < 3) {
        int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        if (moved < 0) _exit(125);
        fds[i] = moved;
      }
    }
    for (int i = 0; i < 3; i++) {
      if (fds[i] < 0) {
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, i) < 0) _exit(125);
        if (null != i) close(null);
      } else if (dup2(fds[i], i) < 0) {
        _exit(125);
      }
    }
    execvp(argv[0], argv);
    dprintf(2, "vessel-tar-gate: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  c->pid = pid;
  return 0;
}

void child_kill(struct child *c) {
  if (c->pid > 0 && !c->reaped) (void)kill(c->pid, SIGKILL);
}

void child_wait(struct child *c) {
  if (c->pid <= 0 || c->reaped) return;
  for (;;) {
    pid_t r = waitpid(c->pid, &c->status, 0);
    if (r == c->pid) break;
    /* A signal during the wait: the child has been killed already or is exiting; wait on. */
    if (r < 0 && errno == EINTR) continue;
    c->status = 0;
    break;
  }
  c->reaped = 1;
}

void child_outcome(const struct child *c, char *out, size_t len) {
  if (c->pid <= 0) snprintf(out, len, "-");
  else if (!c->reaped) snprintf(out, len, "running");
  else if (WIFEXITED(c->status)) {
    if (WEXITSTATUS(c->status) == 0) snprintf(out, len, "ok");
    else snprintf(out, len, "exit:%d", WEXITSTATUS(c->status));
  } else if (WIFSIGNALED(c->status)) snprintf(out, len, "signal:%d", WTERMSIG(c->status));
  else snprintf(out, len, "exit:?");
}
