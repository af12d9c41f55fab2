/*
 * What the monitor asks of the operating system: one small implementation per OS
 * (linux/run.c: namespaces, cgroups and a pid-1 init; freebsd/run.c: a jail, a process
 * descriptor and the reaper). Everything else in the monitor is shared.
 */
#ifndef VESSEL_OS_H
#define VESSEL_OS_H

#include <sys/types.h>
#include "plan.h"

/* One run of the container: the monitor starts a new one after each restart. */
struct run {
  long index;
  pid_t init;             /* Linux: the container's pid 1; FreeBSD: the command */
  int chan;               /* lines from the init: ready, main-exit N, error/notfound/cannotrun MSG */
  int watch;              /* readable when the run may have emptied (Linux: inotify on cgroup.events); -1 */
  int master;             /* pty master (foreground -t), -1 */
  pid_t relay;            /* Linux: this run's relay of published ports (linux/relay-proc.c), 0 when none */
  int ready, reaped, empty;
  int wait_status;        /* the init's, once reaped */
  int main_code;          /* -1 until "main-exit" */
  int error_code;         /* 125 setup failed, 126 cannot run, 127 not found; 0 none */
  char leaf[300];         /* cgroup leaf of this run (Linux) */
  char reason[512];       /* what the init said went wrong */
  char chanbuf[1024]; size_t chanlen;
};

/* Once per monitor, before the first run: checks and handles that stay (e.g. the bridge's index). */
int os_setup(const struct plan *p, char *err, size_t errlen);
/* Names the run's resources (R->leaf) from the plan and R->index: recorded before they exist. */
void os_name_run(const struct plan *p, struct run *r);
/* Creates the run's resources and starts its init; R->init and R->chan are set on success. */
int os_start(const struct plan *p, struct run *r, char *err, size_t errlen);
/*
 * A zero-downtime reload is done: R (with plan P) holds what was the next run, started beside the
 * old one, which is over. Where the OS half keeps per-run state of its own (FreeBSD's starter: the
 * next run's plan and command), the next run becomes the current one there too.
 */
void os_promote(const struct plan *p, struct run *r);
/* SIG to the main command (through the init) or, with ALL, to every process of the run. */
void os_signal(const struct plan *p, struct run *r, int sig, int all);
/* SIGKILL to every process of the run. */
void os_kill(const struct plan *p, struct run *r);
/* Nonzero once no process of the run is left (after the init was reaped). */
int os_empty(const struct plan *p, struct run *r);
/* Drain R->watch after it polled readable. */
void os_watch_drain(struct run *r);
/* The run is over: OOM kills counted, the run's directories removed. Returns the OOM kill count. */
int os_finish(const struct plan *p, struct run *r);
/*
 * A process inside the running container (health checks): its namespaces, root and cgroups, ARGV
 * with the container's environment, stdout+stderr to OUT_FD. Returns its pid, or -1.
 */
pid_t os_spawn_inside(const struct plan *p, struct run *r, const char *const *argv, int out_fd);
/*
 * Kill a process started by os_spawn_inside and everything it started. REAPED: its pid was waited
 * for already, so it may name another process now: only what it started is killed (FreeBSD's
 * process descriptor keeps the pid reserved until released here, so it is safe there either way).
 */
void os_kill_inside(const struct plan *p, struct run *r, pid_t pid, int reaped);

/*
 * The published ports the kernel cannot answer and the host serves in userland (the plan's relay
 * records; Linux with br_netfilter: [::1], native/linux/relay.c). Started once the run is ready
 * (a reload's next run: once it is healthy, before the ports are switched to it) and listening
 * when this returns; ended by os_finish() with the run. 0, or -1 with the reason.
 */
int os_ports_start(const struct plan *p, struct run *r, char *err, size_t errlen);
/* The ports were switched away from R (a reload): it takes no new client and finishes its own. */
void os_ports_drain(struct run *r);
/* A process ended: nonzero when it was R's relay (then forgotten; its end logged unless expected). */
int os_ports_ended(struct run *r, pid_t pid, int wait_status);

/*
 * Processes that end without a SIGCHLD to the monitor (FreeBSD: the command and the health checks
 * run under process descriptors, whose exits come through a kqueue). os_event_fd() is polled for
 * as long as the monitor lives, -1 where SIGCHLD tells everything (Linux); once it polled
 * readable, os_next_exit() gives one ended process as waitpid(2) would (1), or 0 when none is left.
 */
int os_event_fd(void);
int os_next_exit(const struct plan *p, struct run *r, pid_t *pid, int *wait_status);

/*
 * Capsicum. The monitor holds every descriptor it will use once its first run is about to start;
 * os_sandbox() then limits each to its use and locks the monitor in (FreeBSD: cap_rights_limit(2)
 * and cap_enter(2); Linux: nothing — docs/supervision.md says why). A monitor in a sandbox can
 * open no path and execute nothing, so the three things that need one go through the OS half
 * (FreeBSD: its privileged starter; elsewhere: done directly, common/direct.c).
 */
enum held_use { HELD_DIR, HELD_STREAM, HELD_READ, HELD_WRITE };
struct held_fd { int fd; enum held_use use; };
/* 0, or -1 with the reason (the monitor then carries on outside a sandbox, and says so). */
int os_sandbox(const struct held_fd *fds, int n, char *err, size_t errlen);
/* A stream socket connected to the unix socket PATH (vessel up's service), or -1 with errno set. */
int os_dial(const char *path);
/*
 * A second, non-blocking open of FD's terminal or pipe (a new open file description, so the
 * O_NONBLOCK the monitor's terminal relay needs is not the user's shell's too), or -1 when there
 * is none to make (a regular file never blocks; a socket cannot be reopened): termrelay.h.
 */
int os_nonblocking_copy(int fd);
/* ARGV in a session of its own, detached from the monitor: the end-of-life `vessel _release NAME`. */
void os_spawn_detached(const char *const *argv);
/* Reads the plan at PATH into P (a new plan from vessel up). Same contract as plan_load(). */
int os_plan_load(struct plan *p, const char *path, char *err, size_t errlen);

/* The OS half's own verbs (Linux: exec CONFIG; FreeBSD: jail-exec …): their exit code, or -1 when ARGV[1] is none of them. */
int os_verb(int argc, char **argv);

/* Implemented by the monitor: in a child it forked, drop its descriptors and signal handlers. */
void monitor_child_reset(void);

#endif
