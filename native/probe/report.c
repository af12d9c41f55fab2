#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"

static int out_fd = 1;

void report_fd(int fd) { out_fd = fd; }

void report(const char *fmt, ...) {
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  /* one write(2) per line: lines of processes sharing the log never interleave */
  for (int off = 0; off < n;) {
    ssize_t w = write(out_fd, line + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += (int)w;
  }
}

static const struct { int e; const char *name; } ERRNOS[] = {
  { EACCES, "EACCES" }, { EPERM, "EPERM" }, { EROFS, "EROFS" }, { ENOENT, "ENOENT" }, { EEXIST, "EEXIST" },
  { EISDIR, "EISDIR" }, { ENOTDIR, "ENOTDIR" }, { ENOSPC, "ENOSPC" }, { EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" },
  { ESRCH, "ESRCH" }, { ECONNREFUSED, "ECONNREFUSED" }, { ETIMEDOUT, "ETIMEDOUT" }, { ENETUNREACH, "ENETUNREACH" },
  { EHOSTUNREACH, "EHOSTUNREACH" }, { EADDRINUSE, "EADDRINUSE" }, { EADDRNOTAVAIL, "EADDRNOTAVAIL" },
  { ECONNRESET, "ECONNRESET" }, { EINVAL, "EINVAL" }, { EBUSY, "EBUSY" }, { EMFILE, "EMFILE" },
};

const char *errno_name(int e) {
  static char other[32];
  for (size_t i = 0; i < sizeof ERRNOS / sizeof ERRNOS[0]; i++) if (ERRNOS[i].e == e) return ERRNOS[i].name;
  snprintf(other, sizeof other, "errno-%d", e);
  return other;
}

/* Names, not numbers, cross the boundary: USR1 is 10 on Linux and 30 on FreeBSD (signal(3)). */
static const struct { int sig; const char *name; } SIGNALS[] = {
  { SIGHUP, "HUP" }, { SIGINT, "INT" }, { SIGQUIT, "QUIT" }, { SIGKILL, "KILL" }, { SIGUSR1, "USR1" },
  { SIGUSR2, "USR2" }, { SIGALRM, "ALRM" }, { SIGTERM, "TERM" },
};

int signal_number(const char *name) {
  if (!strncmp(name, "SIG", 3)) name += 3;
  for (size_t i = 0; i < sizeof SIGNALS / sizeof SIGNALS[0]; i++) if (!strcmp(SIGNALS[i].name, name)) return SIGNALS[i].sig;
  return -1;
}

const char *signal_label(int sig) {
  for (size_t i = 0; i < sizeof SIGNALS / sizeof SIGNALS[0]; i++) if (SIGNALS[i].sig == sig) return SIGNALS[i].name;
  return "?";
}
