/*
 * identity: who and where the command is, as the kernel says —
 *   "uid U", "gid G", "groups G1,G2…" (getgroups(2) and the effective gid, sorted, each once:
 *   FreeBSD keeps the egid in the list, Linux need not), "cwd DIR", "hostname NAME", then
 *   "env K=V" for every variable of the environment, in order.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"

extern char **environ;

static int by_value(const void *a, const void *b) {
  gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
  return x < y ? -1 : x > y;
}

static void groups_line(void) {
  gid_t list[1024];
  int n = getgroups((int)(sizeof list / sizeof list[0]) - 1, list);
  if (n < 0) n = 0;
  list[n++] = getegid();
  qsort(list, (size_t)n, sizeof list[0], by_value);
  char text[8192];
  size_t o = 0;
  text[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (i > 0 && list[i] == list[i - 1]) continue;
    int w = snprintf(text + o, sizeof text - o, "%s%lu", o ? "," : "", (unsigned long)list[i]);
    if (w < 0 || (size_t)w >= sizeof text - o) break;
    o += (size_t)w;
  }
  report("groups %s", text);
}

int step_identity(const char *verb, int argc, char **argv) {
  (void)argv;
  if (strcmp(verb, "identity")) return STEP_UNKNOWN;
  if (argc != 0) return -1;
  report("uid %lu", (unsigned long)getuid());
  report("gid %lu", (unsigned long)getgid());
  groups_line();
  char cwd[PATH_MAX];
  report("cwd %s", getcwd(cwd, sizeof cwd) ? cwd : "?");
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  report("hostname %s", host);
  for (char **e = environ; *e; e++) report("env %s", *e);
  return 0;
}
