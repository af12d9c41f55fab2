/*
 * vessel-jail-exec: start one command inside a FreeBSD jail with exactly the identity and the
 * environment vessel resolved in TypeScript. It replaces jexec(8), whose -d is missing from
 * releases before it was added, whose -U resolves a name with getpwnam(3) inside the jail (that
 * is pwd.db, which OCI images lack) and then applies login.conf(5) through setusercontext(3).
 * One concern per file: attach.c (the jail), sysctl.c (a value of the jail's own VNET), ids.c
 * (credentials), exec.c (directory, environment, execve). Written against the FreeBSD 14 manual pages; C11 and libc only.
 */
#ifndef VESSEL_JAIL_EXEC_H
#define VESSEL_JAIL_EXEC_H

#include <sys/types.h>

/* Exit statuses, as the container runtimes' convention (and vessel's CLI) has them. */
enum {
  EXIT_VESSEL = 125,   /* vessel's own error: bad arguments, no such jail */
  EXIT_CANNOT_RUN = 126, /* the command could not be started: directory, identity, exec */
  EXIT_NOT_FOUND = 127 /* the command does not exist on the container's PATH */
};

#define MAX_GROUPS 64

struct identity {
  uid_t uid;
  gid_t gid;
  gid_t groups[MAX_GROUPS];
  int ngroups;
};

/* Prints "vessel-jail-exec: WHAT: strerror(err)" and exits with status. */
_Noreturn void die_errno(int status, int err, const char *what, const char *arg);
/* Prints "vessel-jail-exec: MESSAGE ARG" and exits with status. */
_Noreturn void die_msg(int status, const char *message, const char *arg);

/* attach.c: enter the jail named (or numbered) JAIL; dies with EXIT_VESSEL on failure. */
void attach_jail(const char *jail);
/* sysctl.c: write NAME=INTEGER for the jail attached to; dies with EXIT_VESSEL on failure. */
void set_sysctl(const char *assignment);
/* ids.c: groups, then gid, then uid, all numeric; dies with EXIT_CANNOT_RUN on failure. */
void become(const struct identity *id);
/* exec.c: chdir(dir), then execve(argv) with env (searching env's PATH); never returns. */
_Noreturn void exec_command(const char *dir, char *const argv[], char *const env[]);

#endif
