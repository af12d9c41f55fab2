/*
 * One integer sysctl written from inside the jail, for the jail's own VNET. Some values live per
 * VNET (in_pcb.c: `VNET_DEFINE(int, ipport_reservedhigh)`, declared CTLFLAG_VNET | CTLFLAG_RW |
 * CTLFLAG_SECURE), so the host's value says nothing about a VNET jail's, which starts at 1023.
 * kern_sysctl.c lets a jail's root write a CTLFLAG_VNET sysctl of a VNET it owns
 * (PRIV_SYSCTL_WRITEJAIL); CTLFLAG_SECURE also needs the jail's securelevel at 0 or below, so
 * vessel creates such a jail at securelevel 0, runs this, then raises it with `jail -m`.
 */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#endif
#include "freebsd.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sys/types.h>
#include <sys/sysctl.h>

void set_sysctl(const char *assignment) {
  const char *eq = strchr(assignment, '=');
  char name[128];
  if (eq == NULL || eq == assignment || (size_t)(eq - assignment) >= sizeof name) die_msg(EXIT_VESSEL, "-s: not NAME=INTEGER:", assignment);
  memcpy(name, assignment, (size_t)(eq - assignment));
  name[eq - assignment] = '\0';
  char *end = NULL;
  errno = 0;
  long v = strtol(eq + 1, &end, 10);
  if (errno != 0 || end == eq + 1 || *end != '\0' || v < INT_MIN || v > INT_MAX) die_msg(EXIT_VESSEL, "-s: not NAME=INTEGER:", assignment);
  int value = (int)v;
  /* sysctlbyname(3): oldp NULL (no old value wanted), newp the new value. */
  if (sysctlbyname(name, NULL, NULL, &value, sizeof value) != 0) die_errno(EXIT_VESSEL, errno, "sysctlbyname(3)", assignment);
}
