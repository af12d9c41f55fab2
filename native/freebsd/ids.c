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
 * (the Linux compile check) needs to be asked for PATH_MAX and setgroups(2). */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#define _POSIX_C_SOURCE 200809L
#endif
#include "jail-exec.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

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
