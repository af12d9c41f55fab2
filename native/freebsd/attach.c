/*
 * Entering the jail. jail_attach(2) takes a jid; a name is turned into one with jail_get(2):
 * "The jail to read can be specified by either jid or name by including those parameters in the
 * list. If they are included but are not intended to be the search key, they should be cleared
 * (zero and the empty string respectively)." (jail(2), FreeBSD 14). That is the lookup
 * jail_getid(3) does, made here with the system call so the helper needs libc alone.
 */
/* FreeBSD's default environment shows POSIX and BSD interfaces even under -std=c11; glibc
 * (the test build against the double) needs to be asked for them. */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#endif
#include "freebsd.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sys/param.h>
#include <sys/jail.h>
#include <sys/uio.h>

static int jid_of(const char *jail) {
  char *end = NULL;
  errno = 0;
  long n = strtol(jail, &end, 10);
  if (errno == 0 && end != jail && *end == '\0' && n > 0 && n <= INT_MAX) return (int)n;
  int jid = 0;
  char name[MAXHOSTNAMELEN];
  if (strlen(jail) >= sizeof name) die_msg(EXIT_VESSEL, "jail name too long:", jail);
  strcpy(name, jail);
  struct iovec iov[4] = {
    { .iov_base = "jid", .iov_len = sizeof "jid" },
    { .iov_base = &jid, .iov_len = sizeof jid },
    { .iov_base = "name", .iov_len = sizeof "name" },
    { .iov_base = name, .iov_len = strlen(name) + 1 },
  };
  /* Without JAIL_DYING: a dying jail is no place to start a command in. */
  int r = jail_get(iov, 4, 0);
  if (r < 0) die_errno(EXIT_VESSEL, errno, "jail_get(2): cannot find jail", jail);
  return r;
}

void attach_jail(const char *jail) {
  int jid = jid_of(jail);
  /* jail_attach(2): "[EINVAL] The jail specified by jid does not exist." */
  if (jail_attach(jid) != 0) die_errno(EXIT_VESSEL, errno, "jail_attach(2)", jail);
}
