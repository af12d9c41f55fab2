/*
 * The FreeBSD half of vessel-init (common/os.h), written against FreeBSD 14's manual pages and
 * sources (each file cites what it follows). Two processes per container:
 *
 *   the monitor (common/monitor.c + run.c) holds the command's process descriptor (pdfork(2),
 *     watched with kqueue(2) EVFILT_PROCDESC), the status record, the Emperor's and the service's
 *     sockets; once its first run is about to start it limits every descriptor (cap_rights_limit(2))
 *     and enters capability mode (cap_enter(2)), where it can open no path and execute nothing;
 *   the starter (starter.c), forked before that, stays outside: it is the reaper of every process
 *     of the container (procctl(2) PROC_REAP_ACQUIRE), and on the monitor's request it attaches to
 *     the jail and starts the command or a health check (handing the process descriptor back over
 *     SCM_RIGHTS), signals a subtree of its descendants, says when one has emptied, reads a new
 *     plan, dials vessel up, or launches the release command. It kills every process of the
 *     container and exits when the monitor's end of their socket closes (a SIGKILLed monitor too).
 *
 * One concern per file: run.c (the monitor's side of os.h), starter.c, reaper.c (PROC_REAP_*),
 * sandbox.c (Capsicum), fdpass.c (messages with descriptors), attach.c (the jail), ids.c
 * (credentials), exec.c (directory, environment, execve), fail.c (where an error line goes),
 * sysctl.c (one value of the jail's own VNET), jail-exec.c (`vessel-init jail-exec`).
 */
#ifndef VESSEL_FREEBSD_H
#define VESSEL_FREEBSD_H

#if !defined(__FreeBSD__) && !defined(VESSEL_FREEBSD_STUB)
#error "native/freebsd is the FreeBSD half of vessel-init: build it on FreeBSD (native/build.sh), or on Linux against test/fixtures/freebsd/native-stub with -DVESSEL_FREEBSD_STUB"
#endif

#include <sys/types.h>
#include "../common/os.h"
#include "../common/plan.h"

/* Exit statuses, as the container runtimes' convention (and vessel's CLI) has them. */
enum {
  EXIT_VESSEL = 125,     /* vessel's own error: bad arguments, no such jail */
  EXIT_CANNOT_RUN = 126, /* the command could not be started: directory, identity, exec */
  EXIT_NOT_FOUND = 127   /* the command does not exist on the container's PATH */
};

#define MAX_GROUPS 64

struct identity {
  uid_t uid;
  gid_t gid;
  gid_t groups[MAX_GROUPS];
  int ngroups;
};

/* fail.c: an error line goes to the run's channel when one is set (the monitor reads "error",
 * "cannotrun", "notfound" lines, as from Linux's init), else to stderr after PREFIX. */
void fail_prefix(const char *prefix);
void fail_to_channel(int fd);
void chan_line(const char *line);
_Noreturn void die_errno(int status, int err, const char *what, const char *arg);
_Noreturn void die_msg(int status, const char *message, const char *arg);

/* attach.c: enter the jail named (or numbered) JAIL; dies with EXIT_VESSEL on failure. */
void attach_jail(const char *jail);
/* sysctl.c: write NAME=INTEGER for the jail attached to; dies with EXIT_VESSEL on failure. */
void set_sysctl(const char *assignment);
/* ids.c: groups, then gid, then uid, all numeric; dies with EXIT_CANNOT_RUN on failure. */
void become(const struct identity *id);
/* ids.c: "80,20" into OUT; the count, or -1 (empty element, not a number, more than MAX). */
int parse_gid_list(const char *list, gid_t *out, int max);
/* ids.c: a gid or uid as the plan and the command line give it: decimal, below 4294967295. */
int parse_id(const char *text, unsigned long *out);
/* exec.c: chdir(dir), then execve(argv) with env (searching env's PATH); never returns. */
_Noreturn void exec_command(const char *dir, char *const argv[], char *const env[]);

/* fdpass.c: one message of TEXT (NUL-free, non-empty) with up to MSG_MAX_FDS descriptors, over a
 * SOCK_SEQPACKET socket (message boundaries are kept: no framing). */
#define MSG_MAX_FDS 2
#define MSG_MAX_TEXT 4400
int msg_send(int sock, const char *text, const int *fds, int nfds);
/* Waits for one: its length (TEXT NUL-terminated), 0 when the peer is gone, -1 on error. Received
 * descriptors are close-on-exec; more than MAXFDS are closed. */
ssize_t msg_recv(int sock, char *text, size_t len, int *fds, int *nfds, int maxfds, int flags);

/* reaper.c: procctl(2) PROC_REAP_* for the calling process, which is a reaper. */
int reaper_acquire(void);
/* SIG to every descendant forked from the direct child SUBTREE (0: every descendant). */
int reaper_signal(int sig, pid_t subtree);
/* How many descendants of SUBTREE live, besides SUBTREE itself (a zombie held by its descriptor); -1 on error. */
int reaper_subtree_alive(pid_t subtree);

/* sandbox.c: what each kind of descriptor may do in capability mode. */
enum fd_kind { FD_DIR, FD_STREAM, FD_READ, FD_WRITE, FD_KQUEUE, FD_PROCDESC, FD_FILE };
int limit_fd(int fd, enum fd_kind kind);
int enter_capability_mode(void);

/* starter.c: the starter's life, in the child the monitor forks before capability mode. */
_Noreturn void starter_main(const struct plan *p, int req, int note);

/* jail-exec.c: `vessel-init jail-exec …` (argv[0] is "jail-exec"). */
int jail_exec_main(int argc, char *argv[]);

#endif
