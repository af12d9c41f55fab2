/*
 * Credentials, numeric, as vessel read them from the image's /etc/passwd and /etc/group: no
 * getpwnam(3) inside the jail (pwd.db may not exist), no login class (setusercontext(3) would
 * replace the environment, umask and limits the spec gave).
 *
 * Order: setgroups(2) and setgid(2) need the super-user, so they come before setuid(2).
 * setgroups(2), FreeBSD 14: "The first entry of the group array (gidset[0]) is used as the
 * effective group-ID for the process." FreeBSD 15 no longer treats gidset[0] specially. vessel
 * passes the primary gid first and then calls setgid(2), which is right under both rules: on
 * 14 gidset[0] is the egid anyway, on 15 the primary group is also a supplementary one, as
 * initgroups(3) makes it on every release.
 */
/* FreeBSD's default environment shows POSIX and BSD interfaces even under -std=c11; glibc
 * (the test build against the double) needs to be asked for setgroups(2). */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#endif
#include "freebsd.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int parse_id(const char *text, unsigned long *out) {
  char *end = NULL;
  errno = 0;
  unsigned long n = strtoul(text, &end, 10);
  /* uid_t and gid_t are 32-bit; 4294967295 is the "no id" value (-1) and is refused. */
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || n >= 4294967295UL) return -1;
  *out = n;
  return 0;
}

int parse_gid_list(const char *list, gid_t *out, int max) {
  int n = 0;
  for (const char *p = list; *p != '\0';) {
    const char *comma = strchr(p, ',');
    size_t len = comma == NULL ? strlen(p) : (size_t)(comma - p);
    char one[16];
    unsigned long id;
    if (len == 0 || len >= sizeof one || n == max) return -1;
    memcpy(one, p, len);
    one[len] = '\0';
    if (parse_id(one, &id) < 0) return -1;
    out[n++] = (gid_t)id;
    p += len;
    if (*p == ',') p++;
  }
  return n;
}

void become(const struct identity *id) {
  char what[64];
  if (setgroups(id->ngroups, id->groups) != 0) {
    snprintf(what, sizeof what, "setgroups(2) %d groups", id->ngroups);
    die_errno(EXIT_CANNOT_RUN, errno, what, NULL);
  }
  if (setgid(id->gid) != 0) {
    snprintf(what, sizeof what, "setgid(2) %lu", (unsigned long)id->gid);
    die_errno(EXIT_CANNOT_RUN, errno, what, NULL);
  }
  if (setuid(id->uid) != 0) {
    snprintf(what, sizeof what, "setuid(2) %lu", (unsigned long)id->uid);
    die_errno(EXIT_CANNOT_RUN, errno, what, NULL);
  }
}
