/*
 * vessel-jail-exec: the arguments, then attach, identity, exec (jail-exec.h says why).
 *
 *   vessel-jail-exec -j JAIL -d DIR -u UID -g GID [-G GID,GID...] [-e NAME=VALUE]... -- ARGV...
 *   vessel-jail-exec -j JAIL -s NAME=INTEGER     (set one sysctl of the jail's VNET, then exit)
 *
 * Every value is given; nothing is looked up inside the jail. The environment of the command is
 * exactly the -e values, in order; the helper's own environment is not passed on.
 */
/* FreeBSD's default environment shows POSIX and BSD interfaces even under -std=c11; glibc
 * (the Linux compile check) needs to be asked for PATH_MAX and setgroups(2). */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#define _POSIX_C_SOURCE 200809L
#endif
#include "jail-exec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENV 4096

static const char *progname = "vessel-jail-exec";

_Noreturn void die_errno(int status, int err, const char *what, const char *arg) {
  fprintf(stderr, "%s: %s%s%s: %s\n", progname, what, arg ? " " : "", arg ? arg : "", strerror(err));
  exit(status);
}

_Noreturn void die_msg(int status, const char *message, const char *arg) {
  fprintf(stderr, "%s: %s%s%s\n", progname, message, arg ? " " : "", arg ? arg : "");
  exit(status);
}

static _Noreturn void usage(const char *why, const char *arg) {
  fprintf(stderr, "%s: %s%s%s\nusage: %s -j JAIL -d DIR -u UID -g GID [-G GID,...] [-e NAME=VALUE]... -- COMMAND [ARG]...\n"
          "       %s -j JAIL -s NAME=INTEGER\n",
          progname, why, arg ? " " : "", arg ? arg : "", progname, progname);
  exit(EXIT_VESSEL);
}

static unsigned long number(const char *flag, const char *text) {
  char *end = NULL;
  errno = 0;
  unsigned long n = strtoul(text, &end, 10);
  /* uid_t and gid_t are 32-bit; 4294967295 is the "no id" value (-1) and is refused. */
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || n >= 4294967295UL) usage(flag, text);
  return n;
}

static void parse_groups(struct identity *id, const char *list) {
  const char *p = list;
  while (*p != '\0') {
    const char *comma = strchr(p, ',');
    size_t len = comma == NULL ? strlen(p) : (size_t)(comma - p);
    char one[16];
    if (len == 0 || len >= sizeof one) usage("-G: not a list of numeric group ids:", list);
    memcpy(one, p, len);
    one[len] = '\0';
    if (id->ngroups == MAX_GROUPS) usage("-G: too many groups:", list);
    id->groups[id->ngroups++] = (gid_t)number("-G", one);
    p += len;
    if (*p == ',') p++;
  }
}

int main(int argc, char *argv[]) {
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
    else if (strcmp(a, "-G") == 0) { parse_groups(&id, v); have_groups = 1; }
    else if (strcmp(a, "-e") == 0) {
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
  /* No -G: the primary group alone (see ids.c for why it comes first). */
  if (!have_groups) id.groups[id.ngroups++] = id.gid;
  env[nenv] = NULL;

  attach_jail(jail);
  /* Identity before the directory: the working directory is entered with the user's own rights. */
  become(&id);
  exec_command(dir, argv + i, env);
}
