/*
 * `vessel-init jail-exec`: one command inside a running jail with exactly the identity and the
 * environment vessel resolved in TypeScript — `vessel exec` on FreeBSD — and, with -s, one integer
 * sysctl of the jail's own VNET (sysctl.c). It replaces jexec(8), whose -d is missing from releases
 * before it was added, whose -U resolves a name with getpwnam(3) inside the jail (that is pwd.db,
 * which OCI images lack) and then applies login.conf(5) through setusercontext(3).
 *
 *   vessel-init jail-exec -j JAIL -d DIR -u UID -g GID [-G GID,GID...] [-e NAME=VALUE]... -- ARGV...
 *   vessel-init jail-exec -j JAIL -s NAME=INTEGER
 *
 * Every value is given; nothing is looked up inside the jail. The environment of the command is
 * exactly the -e values, in order; the helper's own environment is not passed on.
 */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#endif
#include "freebsd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENV 4096

static const char *progname = "vessel-init jail-exec";

static _Noreturn void usage(const char *why, const char *arg) {
  fprintf(stderr, "%s: %s%s%s\nusage: %s -j JAIL -d DIR -u UID -g GID [-G GID,...] [-e NAME=VALUE]... -- COMMAND [ARG]...\n"
          "       %s -j JAIL -s NAME=INTEGER\n",
          progname, why, arg ? " " : "", arg ? arg : "", progname, progname);
  exit(EXIT_VESSEL);
}

static unsigned long number(const char *flag, const char *text) {
  unsigned long n;
  if (parse_id(text, &n) < 0) usage(flag, text);
  return n;
}

int jail_exec_main(int argc, char *argv[]) {
  fail_prefix(progname);
  const char *jail = NULL, *dir = NULL, *sysctl = NULL;
  struct identity id = { .ngroups = 0 };
  int have_uid = 0, have_gid = 0, have_groups = 0;
  static char *env[MAX_ENV + 1];
  int nenv = 0;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (i + 1 >= argc) usage("missing value after", a);
    char *v = argv[++i];
    if (strcmp(a, "-j") == 0) jail = v;
    else if (strcmp(a, "-d") == 0) dir = v;
    else if (strcmp(a, "-s") == 0) sysctl = v;
    else if (strcmp(a, "-u") == 0) { id.uid = (uid_t)number("-u", v); have_uid = 1; }
    else if (strcmp(a, "-g") == 0) { id.gid = (gid_t)number("-g", v); have_gid = 1; }
    else if (strcmp(a, "-G") == 0) {
      int n = parse_gid_list(v, id.groups + id.ngroups, MAX_GROUPS - id.ngroups);
      if (n < 0) usage("-G: not a list of numeric group ids (at most 64):", v);
      id.ngroups += n;
      have_groups = 1;
    } else if (strcmp(a, "-e") == 0) {
      if (strchr(v, '=') == NULL || v[0] == '=') usage("-e: not NAME=VALUE:", v);
      if (nenv == MAX_ENV) usage("-e: too many variables at", v);
      env[nenv++] = v;
    } else usage("unknown option", a);
  }
  if (jail == NULL || jail[0] == '\0') usage("-j JAIL is required", NULL);
  if (sysctl != NULL) {
    if (i < argc || dir != NULL) usage("-s takes no command", NULL);
    attach_jail(jail);
    set_sysctl(sysctl);
    return 0;
  }
  if (dir == NULL || dir[0] != '/') usage("-d needs an absolute directory:", dir);
  if (!have_uid || !have_gid) usage("-u UID and -g GID are required", NULL);
  if (i >= argc) usage("no command after --", NULL);
  /* No -G: the primary group alone (ids.c says why it comes first). */
  if (!have_groups) id.groups[id.ngroups++] = id.gid;
  env[nenv] = NULL;

  attach_jail(jail);
  /* Identity before the directory: the working directory is entered with the user's own rights. */
  become(&id);
  exec_command(dir, argv + i, env);
}

int os_verb(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "jail-exec")) return jail_exec_main(argc - 1, argv + 1);
  return -1;
}
