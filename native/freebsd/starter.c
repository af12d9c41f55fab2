/*
 * The starter: the monitor's privileged half (freebsd.h). Forked by the monitor before it enters
 * capability mode, so it can still do what the monitor then cannot: jail_attach(2) and execve(2)
 * (neither is allowed in capability mode: cap_enter(2)), procctl(2), open and connect by path.
 * It is the reaper of the container's processes (reaper.c) and answers one request at a time:
 *
 *   hello               ok | error MSG        (it is the reaper)
 *   start [next]        started PID + [process descriptor, read end of the run's channel]
 *   check PID + [output] checking PID + [process descriptor]      (the health check of PID's run)
 *   kill SIG PID        ok                    (SIG to the subtree of PID, a child it started)
 *   watch PID           ok; later, as a note: empty PID           (the subtree has no process left)
 *   plan PATH           plan [next] + [the plan file] | error MSG (a new plan from vessel up)
 *   promote             ok                    (the next run is the current one now)
 *   dial                dialed + [socket] | error ERRNO MSG        (vessel up's socket, from the plan)
 *   release             ok                    (the plan's release command, detached)
 *
 * What it runs comes from its own copy of the plan, never from the request: a monitor taken over
 * can make it start the container's own command again, no other. A new plan must be the file the
 * first came from, or — a zero-downtime reload's next run, started beside the current one in a
 * jail of its own — `plan.next` beside it, and name the same container and one of its jails (the
 * first plan's jail, or that name with a run's `@RUNID`: src/runtime/freebsd/names.ts). Two runs
 * at most: the current one and the next one, each its plan and its command.
 */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#endif
#include "freebsd.h"
#include "../common/selfpipe.h"
#include "../common/direct.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procdesc.h>
#include <sys/wait.h>
#include <unistd.h>

#define RECHECK_MS 250   /* while watching: a subtree emptied without a SIGCHLD here is still seen */
#define KEPT 16          /* health checks a request may name: the last ones started (one runs at a time) */

#define WATCHED 2        /* two runs' subtrees: the current one's and a reload's next one's */

static const struct plan *SP;    /* the current run's plan */
static const struct plan *NSP;   /* a zero-downtime reload's next run's plan, or NULL */
static struct plan reloaded;     /* the current plan when it is not the first one */
static struct plan beside;       /* the next run's plan */
static char first_path[4096];
static char next_path[4096];     /* plan.next beside the first plan */
static char first_jail[256];     /* the container's jail, without a run's @RUNID */
static int req = -1, note = -1;
static int sigpipe_fds[2] = { -1, -1 };
static pid_t watched[WATCHED];
static pid_t command;            /* the run's command: named by requests for as long as it runs */
static pid_t next_command;       /* the next run's command, beside it */
static pid_t started[KEPT];      /* the last health checks */
static int next_kept;
static char reaper_error[256];

static void on_sigchld(int sig) {
  (void)sig;
  int e = errno;
  char c = 1;
  ssize_t w = write(sigpipe_fds[1], &c, 1);
  (void)w;
  errno = e;
}

static _Noreturn void monitor_gone(void);

static void reply(const char *text, const int *fds, int nfds) {
  if (msg_send(req, text, fds, nfds) < 0) monitor_gone();
}

static int known(pid_t pid) {
  if (pid > 0 && (pid == command || pid == next_command)) return 1;
  for (int i = 0; i < KEPT; i++) if (pid > 0 && started[i] == pid) return 1;
  return 0;
}

static void keep(pid_t pid) {
  started[next_kept] = pid;
  next_kept = (next_kept + 1) % KEPT;
}

/* In a child about to become the container's: the signals the starter ignores must not stay
 * ignored across execve(2), which keeps SIG_IGN; the starter's descriptors go. */
static void child_reset(void) {
  signals_default();
  close(req);
  close(note);
  close(sigpipe_fds[0]);
  close(sigpipe_fds[1]);
}

static void identity_of(const struct plan *p, struct identity *id) {
  memset(id, 0, sizeof *id);
  id->uid = (uid_t)p->uid;
  id->gid = (gid_t)p->gid;
  int n = p->groups && *p->groups ? parse_gid_list(p->groups, id->groups, MAX_GROUPS) : 0;
  if (n < 0) die_msg(EXIT_VESSEL, "plan: groups is not a list of numeric group ids:", p->groups);
  id->ngroups = n;
  /* no groups given: the primary group alone (ids.c says why it comes first) */
  if (id->ngroups == 0) id->groups[id->ngroups++] = id->gid;
}

static char *const *environment(const struct plan *p) {
  static const char *env[MAX_ITEMS + 9];
  int n = 0;
  for (; n < p->nenv && n < MAX_ITEMS + 8; n++) env[n] = p->env[n];
  env[n] = NULL;
  return (char *const *)env;
}

/* The command of plan P: its output to the container's log, the jail, "ready", identity, directory, execve. */
static _Noreturn void run_command(const struct plan *p, int chan) {
  child_reset();
  fail_to_channel(chan);
  if (p->log_path) {
    int log = open(p->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (log < 0) die_errno(EXIT_VESSEL, errno, "open the container's log", p->log_path);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    close(log);
  }
  attach_jail(p->jail);
  /* Linux's init says "ready" once the container exists, before the command's own checks. */
  chan_line("ready");
  struct identity id;
  identity_of(p, &id);
  become(&id);
  exec_command(p->cwd && *p->cwd ? p->cwd : "/", (char *const *)p->argv, environment(p));
}

/* A health check of plan P: as its command, its stdout and stderr to OUT, nothing on stdin. */
static _Noreturn void run_check(const struct plan *p, int out) {
  child_reset();
  fail_prefix("vessel-init health check");
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0) dup2(null, STDIN_FILENO);
  dup2(out, STDOUT_FILENO);
  dup2(out, STDERR_FILENO);
  attach_jail(p->jail);
  struct identity id;
  identity_of(p, &id);
  become(&id);
  exec_command(p->cwd && *p->cwd ? p->cwd : "/", (char *const *)p->health_argv, environment(p));
}

/* The plan of the run whose command is PID (the current or the next one), or NULL. */
static const struct plan *plan_of(pid_t pid) {
  if (pid > 0 && pid == command) return SP;
  if (pid > 0 && pid == next_command) return NSP;
  return NULL;
}

static void do_start(const char *which) {
  const struct plan *p = SP;
  if (!strcmp(which, "next")) {
    if (!NSP) { reply("error start next: no next plan was read", NULL, 0); return; }
    p = NSP;
  } else if (*which) {
    reply("error start: \"next\" or nothing", NULL, 0);
    return;
  }
  int chan[2];
  if (pipe2(chan, O_CLOEXEC) < 0) {
    char text[300];
    snprintf(text, sizeof text, "error pipe: %s", strerror(errno));
    reply(text, NULL, 0);
    return;
  }
  int pd = -1;
  /* pdfork(2): the process descriptor goes to the monitor; "processes created via pdfork() will
   * not cause SIGCHLD on termination", and waitpid(2) leaves them to it (kern_exit.c proc_to_reap). */
  pid_t pid = pdfork(&pd, PD_CLOEXEC);
  if (pid == 0) {
    close(chan[0]);
    run_command(p, chan[1]);
  }
  close(chan[1]);
  if (pid < 0) {
    char text[300];
    snprintf(text, sizeof text, "error pdfork: %s", strerror(errno));
    close(chan[0]);
    reply(text, NULL, 0);
    return;
  }
  if (p == NSP) next_command = pid;
  else command = pid;
  fcntl(chan[0], F_SETFL, fcntl(chan[0], F_GETFL) | O_NONBLOCK);
  char text[64];
  snprintf(text, sizeof text, "started %d", (int)pid);
  int fds[2] = { pd, chan[0] };
  reply(text, fds, 2);
  close(pd);
  close(chan[0]);
}

static void do_check(const char *run, int out) {
  const struct plan *p = plan_of((pid_t)atoi(run));
  if (out < 0 || !p || p->nhealth == 0) { reply(p ? "error no health check to run" : "error check: not the command of a run", NULL, 0); if (out >= 0) close(out); return; }
  int pd = -1;
  pid_t pid = pdfork(&pd, PD_CLOEXEC);
  if (pid == 0) run_check(p, out);
  close(out);
  if (pid < 0) {
    char text[300];
    snprintf(text, sizeof text, "error pdfork: %s", strerror(errno));
    reply(text, NULL, 0);
    return;
  }
  keep(pid);
  char text[64];
  snprintf(text, sizeof text, "checking %d", (int)pid);
  reply(text, &pd, 1);
  close(pd);
}

static void do_kill(const char *args) {
  int sig = 0, pid = 0;
  if (sscanf(args, "%d %d", &sig, &pid) != 2 || sig <= 0 || sig >= NSIG || !known((pid_t)pid)) {
    reply("error kill: not a signal and a process the starter started", NULL, 0);
    return;
  }
  if (reaper_signal(sig, (pid_t)pid) < 0) {
    char text[300];
    snprintf(text, sizeof text, "error procctl(PROC_REAP_KILL): %s", strerror(errno));
    reply(text, NULL, 0);
    return;
  }
  reply("ok", NULL, 0);
}

/* One of the container's jails: the first plan's, or that name and a run's `@RUNID`. */
static int containers_jail(const char *jail) {
  size_t n = strlen(first_jail);
  return jail && !strncmp(jail, first_jail, n) && (jail[n] == '\0' || (jail[n] == '@' && jail[n + 1] != '\0' && !strchr(jail + n + 1, '@')));
}

static void do_plan(const char *path) {
  char text[700], err[512];
  int as_next = !strcmp(path, next_path);
  if (strcmp(path, first_path) != 0 && !as_next) {
    snprintf(text, sizeof text, "error a new plan is read from %.300s or %.300s only", first_path, next_path);
    reply(text, NULL, 0);
    return;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct plan next;
  if (fd < 0 || plan_load_fd(&next, fd, path, err, sizeof err) < 0) {
    snprintf(text, sizeof text, "error %s", fd < 0 ? strerror(errno) : err);
    if (fd >= 0) close(fd);
    reply(text, NULL, 0);
    return;
  }
  /* a run beside the current one needs a jail of its own: two runs never share one */
  if (!next.name || !SP->name || strcmp(next.name, SP->name) || !containers_jail(next.jail) || (as_next && !strcmp(next.jail, SP->jail))) {
    close(fd);
    plan_free(&next);
    reply(as_next ? "error the next plan names another container, or not a jail of its own" : "error the new plan names another container or jail", NULL, 0);
    return;
  }
  if (as_next) {
    if (NSP == &beside) plan_free(&beside); /* a reload before that never became current */
    beside = next;
    NSP = &beside;
    next_command = 0;
    reply("plan next", &fd, 1);
  } else {
    if (SP == &reloaded) plan_free(&reloaded); /* the plan of the reload before (the first is the caller's) */
    reloaded = next;
    SP = &reloaded;
    reply("plan", &fd, 1);
  }
  close(fd);
}

/* The next run is the current one now (its old one is over): its plan and command are the current ones. */
static void do_promote(void) {
  if (!NSP || next_command <= 0) { reply("error promote: no next run was started", NULL, 0); return; }
  if (SP == &reloaded) plan_free(&reloaded);
  reloaded = beside;
  memset(&beside, 0, sizeof beside);
  SP = &reloaded;
  NSP = NULL;
  command = next_command;
  next_command = 0;
  reply("ok", NULL, 0);
}

static void watch(pid_t pid) {
  for (int i = 0; i < WATCHED; i++) if (watched[i] == pid) return;
  for (int i = 0; i < WATCHED; i++) if (!watched[i]) { watched[i] = pid; return; }
  watched[0] = pid; /* cannot happen: two runs at most */
}

static void do_dial(void) {
  char text[600];
  int fd = SP->service ? direct_dial(SP->service) : (errno = ENOENT, -1);
  if (fd < 0) {
    int e = errno;
    snprintf(text, sizeof text, "error %d %s", e, strerror(e));
    reply(text, NULL, 0);
    return;
  }
  reply("dialed", &fd, 1);
  close(fd);
}

static void handle(char *text, int *fds, int nfds) {
  char *arg = strchr(text, ' ');
  if (arg) *arg++ = '\0'; else arg = text + strlen(text);
  int out = nfds > 0 ? fds[0] : -1;
  for (int i = 1; i < nfds; i++) close(fds[i]);
  if (strcmp(text, "check") && out >= 0) { close(out); out = -1; }
  if (!strcmp(text, "hello")) {
    char r[300];
    snprintf(r, sizeof r, "error %s", reaper_error);
    reply(reaper_error[0] ? r : "ok", NULL, 0);
  }
  else if (!strcmp(text, "start")) do_start(arg);
  else if (!strcmp(text, "check")) do_check(arg, out);
  else if (!strcmp(text, "kill")) do_kill(arg);
  else if (!strcmp(text, "watch")) {
    int pid = atoi(arg);
    if (!known((pid_t)pid)) { reply("error watch: not a process the starter started", NULL, 0); return; }
    watch((pid_t)pid);
    reply("ok", NULL, 0);
  }
  else if (!strcmp(text, "plan")) do_plan(arg);
  else if (!strcmp(text, "promote")) do_promote();
  else if (!strcmp(text, "dial")) do_dial();
  else if (!strcmp(text, "release")) {
    if (SP->nrelease > 0) direct_spawn_detached(SP->release_argv);
    reply("ok", NULL, 0);
  }
  else reply("error unknown request", NULL, 0);
}

/*
 * The monitor is gone (its end closed: exit or SIGKILL): every process of the container goes too —
 * the subtrees of what it started, not every descendant: the release command it launched last
 * (a subtree of its own, in its own session) must outlive it.
 */
static _Noreturn void monitor_gone(void) {
  if (command > 0) reaper_signal(SIGKILL, command);
  if (next_command > 0) reaper_signal(SIGKILL, next_command);
  for (int i = 0; i < KEPT; i++) if (started[i] > 0) reaper_signal(SIGKILL, started[i]);
  _exit(0);
}

_Noreturn void starter_main(const struct plan *p, int req_fd, int note_fd) {
  SP = p;
  req = req_fd;
  note = note_fd;
  snprintf(first_path, sizeof first_path, "%s", p->path ? p->path : "");
  /* a reload's next plan is written beside the first one (src/supervise/surge.ts nextPlanPath) */
  const char *slash = strrchr(first_path, '/');
  snprintf(next_path, sizeof next_path, "%.*s%s", slash ? (int)(slash - first_path + 1) : 0, first_path, "plan.next");
  snprintf(first_jail, sizeof first_jail, "%s", p->jail ? p->jail : "");
  char *at = strchr(first_jail, '@');
  if (at) *at = '\0';
  if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) _exit(EXIT_VESSEL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);
  /* It ends with the monitor, never by a signal meant for the monitor's terminal or session. */
  static const int ignored[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGTSTP };
  sa.sa_handler = SIG_IGN;
  for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) sigaction(ignored[i], &sa, NULL);
  if (reaper_acquire() < 0) snprintf(reaper_error, sizeof reaper_error, "procctl(PROC_REAP_ACQUIRE): %s", strerror(errno));

  for (;;) {
    struct pollfd pf[2] = { { .fd = req, .events = POLLIN }, { .fd = sigpipe_fds[0], .events = POLLIN } };
    int any = 0;
    for (int i = 0; i < WATCHED; i++) any |= watched[i] != 0;
    int r = poll(pf, 2, any ? RECHECK_MS : -1);
    if (r < 0 && errno != EINTR) monitor_gone();
    if (r > 0 && (pf[1].revents & POLLIN)) {
      char drain[64];
      while (read(sigpipe_fds[0], drain, sizeof drain) > 0) {}
    }
    /* orphans of the container come here (reaper): reaped at once, so they are not counted */
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    if (r > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      char text[MSG_MAX_TEXT + 1];
      int fds[MSG_MAX_FDS], nfds = 0;
      ssize_t n = msg_recv(req, text, sizeof text, fds, &nfds, MSG_MAX_FDS, 0);
      if (n <= 0) monitor_gone();
      handle(text, fds, nfds);
    }
    for (int i = 0; i < WATCHED; i++) {
      if (!watched[i] || reaper_subtree_alive(watched[i]) != 0) continue;
      char text[64];
      snprintf(text, sizeof text, "empty %d", (int)watched[i]);
      watched[i] = 0;
      if (msg_send(note, text, NULL, 0) < 0) monitor_gone();
    }
  }
}
