/*
 * Where an error of the FreeBSD half goes. A child of the starter that fails before its execve(2)
 * tells the monitor on the run's channel, as Linux's init does ("error MSG" exit 125, "cannotrun
 * MSG" 126, "notfound MSG" 127): the monitor records it as the run's reason. `vessel-init
 * jail-exec` and a health check write one line on stderr instead. Written with write(2) and left
 * with _exit(2): a forked child must not flush the starter's stdio buffers.
 */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#endif
#include "freebsd.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *prefix = "vessel-init";
static int chan = -1;

void fail_prefix(const char *p) { prefix = p; }

void fail_to_channel(int fd) { chan = fd; }

void chan_line(const char *line) {
  if (chan < 0) return;
  char buf[1100];
  int n = snprintf(buf, sizeof buf, "%s\n", line);
  if (n <= 0) return;
  if (n >= (int)sizeof buf) { n = (int)sizeof buf - 1; buf[n - 1] = '\n'; }
  ssize_t w = write(chan, buf, (size_t)n);
  (void)w;
}

static _Noreturn void fail(int status, const char *text) {
  char line[1100];
  if (chan >= 0) {
    const char *kind = status == EXIT_NOT_FOUND ? "notfound" : status == EXIT_CANNOT_RUN ? "cannotrun" : "error";
    snprintf(line, sizeof line, "%s %s", kind, text);
    chan_line(line);
  } else {
    int n = snprintf(line, sizeof line, "%s: %s\n", prefix, text);
    if (n > 0) {
      ssize_t w = write(STDERR_FILENO, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
      (void)w;
    }
  }
  _exit(status);
}

_Noreturn void die_errno(int status, int err, const char *what, const char *arg) {
  char text[1000];
  snprintf(text, sizeof text, "%s%s%s: %s", what, arg ? " " : "", arg ? arg : "", strerror(err));
  fail(status, text);
}

_Noreturn void die_msg(int status, const char *message, const char *arg) {
  char text[1000];
  snprintf(text, sizeof text, "%s%s%s", message, arg ? " " : "", arg ? arg : "");
  fail(status, text);
}
