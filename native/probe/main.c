#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "probe.h"

static int usage(const char *why) {
  fprintf(stderr, "vessel-probe: %s\nusage: vessel-probe [-o FILE] STEP [-- STEP]... (run by vessel selftest, not by hand)\n", why);
  return 125;
}

static int run_step(int argc, char **argv) {
  int (*families[])(const char *, int, char **) = { step_process, step_files, step_identity, step_memory, step_net };
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
    int r = families[i](argv[0], argc - 1, argv + 1);
    if (r != STEP_UNKNOWN) return r;
  }
  return -1;
}

int main(int argc, char **argv) {
  int i = 1;
  if (i + 1 < argc && !strcmp(argv[i], "-o")) {
    int fd = open(argv[i + 1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      fprintf(stderr, "vessel-probe: open %s: %s\n", argv[i + 1], strerror(errno));
      return 125;
    }
    report_fd(fd);
    i += 2;
  }
  if (i >= argc) return usage("no step");
  while (i < argc) {
    int end = i;
    while (end < argc && strcmp(argv[end], "--")) end++;
    if (end == i) return usage("an empty step");
    char *saved = end < argc ? argv[end] : NULL;
    argv[end < argc ? end : argc] = NULL;
    int r = run_step(end - i, argv + i);
    if (end < argc) argv[end] = saved;
    if (r < 0) {
      char why[256];
      snprintf(why, sizeof why, "step %s: unknown, or wrong arguments", argv[i]);
      return usage(why);
    }
    i = end + 1;
  }
  return 0;
}
