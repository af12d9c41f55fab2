/*
 * Steps about the command's life: its exit code, signals, children that outlive it, and how
 * many processes the container may have.
 *   exit N            _exit(N)
 *   raise SIG         die of SIG (its default action): the container reports 128+SIG
 *   catch SIG CODE    "catching SIG", wait for SIG, "caught SIG", exit CODE
 *   ignore SIG        "ignoring SIG", then wait for ever (only SIGKILL ends it)
 *   sleep             wait for ever (until a signal's default action ends it)
 *   orphan            fork a child that outlives this process: it says "orphaned" once its
 *                     parent is gone, waits for SIGUSR2, says "released" and exits 0
 *   fork N            fork up to N children that wait; "fork K of N", then "fork error ENAME"
 *                     when the kernel refused one; the children are killed again
 *   pidfile PATH      write this process's pid to PATH: "pidfile PATH PID"
 *   signal0 PID       kill(PID, 0): is PID a process this one can see? "signal0 PID ok|error ENAME"
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

static volatile sig_atomic_t got;

static void on_signal(int sig) { got = sig; }

static int parse_int(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *s == '\0' || *end != '\0' || v < min || v > max) return -1;
  *out = v;
  return 0;
}

/* Block SIG, catch it, and wait for it with sigsuspend: no window where it is lost. */
static void wait_for(int sig) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, sig);
  sigprocmask(SIG_BLOCK, &block, &old);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
  sigset_t wait;
  sigemptyset(&wait);
  while (got != sig) sigsuspend(&wait);
  sigprocmask(SIG_SETMASK, &old, NULL);
}

static void nap_ms(long ms) {
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static void orphan(void) {
  pid_t parent = getpid();
  /* blocked before the fork: a SIGUSR2 sent the moment the child says "orphaned" is not lost */
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  sigprocmask(SIG_BLOCK, &block, NULL);
  pid_t pid = fork();
  if (pid < 0) {
    report("orphan error %s", errno_name(errno));
    return;
  }
  if (pid == 0) {
    while (getppid() == parent) nap_ms(10);
    report("orphaned");
    wait_for(SIGUSR2);
    report("released");
    _exit(0);
  }
  sigprocmask(SIG_UNBLOCK, &block, NULL);
  report("forked %ld", (long)pid);
}

static void fork_many(long n) {
  pid_t *kids = calloc((size_t)n, sizeof *kids);
  if (kids == NULL) {
    report("fork error %s", errno_name(errno));
    return;
  }
  long k = 0;
  int err = 0;
  for (; k < n; k++) {
    pid_t pid = fork();
    if (pid < 0) { err = errno; break; }
    if (pid == 0) {
      for (;;) pause();
    }
    kids[k] = pid;
  }
  report("fork %ld of %ld", k, n);
  if (err) report("fork error %s", errno_name(err));
  for (long i = 0; i < k; i++) kill(kids[i], SIGKILL);
  for (long i = 0; i < k; i++) while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR) {}
  free(kids);
}

int step_process(const char *verb, int argc, char **argv) {
  long n;
  int sig;
  if (!strcmp(verb, "exit")) {
    if (argc != 1 || parse_int(argv[0], 0, 255, &n) < 0) return -1;
    _exit((int)n);
  }
  if (!strcmp(verb, "raise")) {
    if (argc != 1 || (sig = signal_number(argv[0])) < 0) return -1;
    signal(sig, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    raise(sig);
    report("raise %s survived", signal_label(sig));
    _exit(125);
  }
  if (!strcmp(verb, "catch")) {
    if (argc != 2 || (sig = signal_number(argv[0])) < 0 || parse_int(argv[1], 0, 255, &n) < 0) return -1;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, sig);
    sigprocmask(SIG_BLOCK, &block, NULL);
    report("catching %s", signal_label(sig));
    wait_for(sig);
    report("caught %s", signal_label(sig));
    _exit((int)n);
  }
  if (!strcmp(verb, "ignore")) {
    if (argc != 1 || (sig = signal_number(argv[0])) < 0) return -1;
    signal(sig, SIG_IGN);
    report("ignoring %s", signal_label(sig));
    for (;;) pause();
  }
  if (!strcmp(verb, "sleep")) {
    if (argc != 0) return -1;
    report("sleeping");
    for (;;) pause();
  }
  if (!strcmp(verb, "orphan")) {
    if (argc != 0) return -1;
    orphan();
    return 0;
  }
  if (!strcmp(verb, "fork")) {
    if (argc != 1 || parse_int(argv[0], 1, 100000, &n) < 0) return -1;
    fork_many(n);
    return 0;
  }
  if (!strcmp(verb, "pidfile")) {
    if (argc != 1) return -1;
    int fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      report("pidfile %s error %s", argv[0], errno_name(errno));
      return 0;
    }
    dprintf(fd, "%ld\n", (long)getpid());
    close(fd);
    report("pidfile %s %ld", argv[0], (long)getpid());
    return 0;
  }
  if (!strcmp(verb, "signal0")) {
    if (argc != 1 || parse_int(argv[0], 1, 0x7fffffff, &n) < 0) return -1;
    if (kill((pid_t)n, 0) == 0) report("signal0 %ld ok", n);
    else report("signal0 %ld error %s", n, errno_name(errno));
    return 0;
  }
  return STEP_UNKNOWN;
}
