/*
 * The FreeBSD half of os.h, on the monitor's side (freebsd.h has the two processes). A run is the
 * plan's command started in its jail by the starter, which hands back its process descriptor; its
 * exit arrives through kqueue(2) as EVFILT_PROCDESC NOTE_EXIT with the wait(2) status in `data`
 * (sys_procdesc.c procdesc_kqops_event: "kn->kn_data = pd->pd_xstat"). Jail semantics: with
 * wait=all the run is over once the starter, the reaper of its processes, says the command's
 * subtree has no process left (reaper.c); with wait=main the rest is killed first. The command's
 * descriptor stays open until then, so its pid, the subtree's name, cannot be reused meanwhile.
 *
 * Two runs at once during a zero-downtime reload: the current one and the next one, each the
 * command of its own plan in a jail of its own (the starter reads the next plan from plan.next).
 * A run's command is found by its pid (R->init); the starter is told which plan to start and,
 * once the reload is done, that the next run is the current one (os_promote).
 */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#endif
#include "freebsd.h"
#include "../common/waitcode.h"
#include "../common/direct.h"
#include "../common/say.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/procctl.h>
#include <sys/procdesc.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ASK_TIMEOUT_MS 10000  /* the starter answers at once; longer means it is stuck or gone */
#define MAX_CHILDREN 8        /* the command and health checks not yet closed */

struct child {
  int pd;        /* process descriptor, -1: free slot */
  pid_t pid;
  int command;   /* a run's command (else a health check) */
  int wait_main; /* its plan's wait=main */
  int exited, status;
  int awaiting;  /* a command's exit is in: the starter says when its subtree is empty */
  int dropped;   /* a check given up (killed): closed as soon as its exit arrives */
};

static struct child kids[MAX_CHILDREN];
static int kq = -1, req = -1, note = -1;
static pid_t starter;
static int starter_gone, in_sandbox, kids_ready;
static const struct plan *next_plan; /* the plan the starter read as a reload's next run's */

static void init_kids(void) {
  if (kids_ready) return;
  for (int i = 0; i < MAX_CHILDREN; i++) kids[i].pd = -1;
  kids_ready = 1;
}

/* The command of run R (its init), until os_finish(). */
static struct child *command_of(const struct run *r) {
  init_kids();
  for (int i = 0; i < MAX_CHILDREN; i++) if (kids[i].pd >= 0 && kids[i].command && r->init > 0 && kids[i].pid == r->init) return &kids[i];
  return NULL;
}

static void lose_starter(void) {
  if (starter_gone) return;
  starter_gone = 1;
  say(L_ERROR, "the starter (pid %d) is gone: the container can no longer be watched whole, nor restarted: stopping it", (int)starter);
  /* what is left of the commands cannot be counted any more: they end now */
  for (int i = 0; i < MAX_CHILDREN; i++) if (kids[i].pd >= 0 && kids[i].command && !kids[i].exited) pdkill(kids[i].pd, SIGKILL);
  /* and the monitor stops as `vessel stop` would stop it, instead of restarting into failures
   * (a signal to itself is allowed in capability mode) */
  raise(SIGTERM);
}

/* One request to the starter and its answer (text, at most MAXR descriptors into RFDS). 0, or -1 with REPLY saying why. */
static int ask(const char *text, const int *fds, int nfds, char *reply, size_t len, int *rfds, int *nr, int maxr) {
  if (nr) *nr = 0;
  if (starter_gone || req < 0) { snprintf(reply, len, "the starter is gone"); errno = EPIPE; return -1; }
  if (msg_send(req, text, fds, nfds) < 0) { lose_starter(); snprintf(reply, len, "the starter is gone"); return -1; }
  struct pollfd pf = { .fd = req, .events = POLLIN };
  int r;
  do r = poll(&pf, 1, ASK_TIMEOUT_MS); while (r < 0 && errno == EINTR);
  ssize_t n = r > 0 ? msg_recv(req, reply, len, rfds, nr, rfds ? maxr : 0, 0) : -1;
  if (n <= 0) { lose_starter(); snprintf(reply, len, "the starter is gone"); errno = EPIPE; return -1; }
  if (!strncmp(reply, "error", 5)) {
    memmove(reply, reply + (reply[5] ? 6 : 5), strlen(reply + (reply[5] ? 6 : 5)) + 1);
    for (int i = 0; nr && i < *nr; i++) close(rfds[i]);
    if (nr) *nr = 0;
    errno = EIO;
    return -1;
  }
  return 0;
}

static void limit(int fd, enum fd_kind kind) {
  if (in_sandbox && limit_fd(fd, kind) < 0) say(L_WARN, "cap_rights_limit(2) on descriptor %d: %s", fd, strerror(errno));
}

static struct child *adopt(int pd, pid_t pid, int is_command, int wait_main) {
  init_kids();
  for (int i = 0; i < MAX_CHILDREN; i++) {
    if (kids[i].pd >= 0) continue;
    kids[i] = (struct child){ .pd = pd, .pid = pid, .command = is_command, .wait_main = wait_main };
    limit(pd, FD_PROCDESC);
    struct kevent ev;
    EV_SET(&ev, (uintptr_t)pd, EVFILT_PROCDESC, EV_ADD, NOTE_EXIT, 0, &kids[i]);
    if (kevent(kq, &ev, 1, NULL, 0, NULL) < 0) say(L_ERROR, "kevent(2) EVFILT_PROCDESC for pid %d: %s", (int)pid, strerror(errno));
    return &kids[i];
  }
  return NULL;
}

/* Closing a descriptor of an exited process reaps it (sys_procdesc.c procdesc_close). */
static void release(struct child *c) {
  if (c->pd >= 0) close(c->pd);
  c->pd = -1;
}

static void signal_subtree(int sig, pid_t pid) {
  char text[64], reply[600];
  snprintf(text, sizeof text, "kill %d %d", sig, (int)pid);
  if (ask(text, NULL, 0, reply, sizeof reply, NULL, NULL, 0) < 0) say(L_WARN, "signal %d to the processes of %d: %s", sig, (int)pid, reply);
}

int os_setup(const struct plan *p, char *err, size_t errlen) {
  if (!p->jail || !*p->jail) { snprintf(err, errlen, "the plan names no jail"); return -1; }
  if (!p->nargv) { snprintf(err, errlen, "no command to run"); return -1; }
  if (p->uid < 0 || p->gid < 0) { snprintf(err, errlen, "the plan gives no numeric uid and gid"); return -1; }
  /* A new plan under the Emperor: the starter runs already (it read the plan: os_plan_load). */
  if (starter > 0) return starter_gone ? (snprintf(err, errlen, "the starter is gone"), -1) : 0;
  if (p->mode == MODE_FOREGROUND && p->parent_pid > 0) {
    /* procctl(2) PROC_PDEATHSIG_CTL: a foreground container dies with the CLI that waits for it
     * (SIGKILL included); the starter then sees the monitor's end and kills the container. */
    int sig = SIGKILL;
    if (procctl(P_PID, 0, PROC_PDEATHSIG_CTL, &sig) < 0) { snprintf(err, errlen, "procctl(PROC_PDEATHSIG_CTL): %s", strerror(errno)); return -1; }
    if (getppid() != (pid_t)p->parent_pid) { snprintf(err, errlen, "the vessel that started this monitor is gone"); return -1; }
  }
  init_kids();
  int rq[2], nt[2];
  kq = kqueue();
  if (kq < 0) { snprintf(err, errlen, "kqueue(2): %s", strerror(errno)); return -1; }
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rq) < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, nt) < 0) {
    snprintf(err, errlen, "socketpair(2): %s", strerror(errno));
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) { snprintf(err, errlen, "fork(2): %s", strerror(errno)); return -1; }
  if (pid == 0) {
    monitor_child_reset();
    close(rq[0]);
    close(nt[0]);
    close(kq);
    starter_main(p, rq[1], nt[1]);
  }
  close(rq[1]);
  close(nt[1]);
  req = rq[0];
  note = nt[0];
  starter = pid;
  struct kevent ev;
  EV_SET(&ev, (uintptr_t)note, EVFILT_READ, EV_ADD, 0, 0, NULL);
  if (kevent(kq, &ev, 1, NULL, 0, NULL) < 0) { snprintf(err, errlen, "kevent(2): %s", strerror(errno)); return -1; }
  char reply[600];
  if (ask("hello", NULL, 0, reply, sizeof reply, NULL, NULL, 0) < 0) { snprintf(err, errlen, "the starter: %s", reply); return -1; }
  return 0;
}

void os_name_run(const struct plan *p, struct run *r) {
  (void)p;
  r->leaf[0] = '\0'; /* no cgroups: the jail is the container's, and stays across runs */
}

int os_start(const struct plan *p, struct run *r, char *err, size_t errlen) {
  if (command_of(r)) { snprintf(err, errlen, "this run's command is still going"); return -1; }
  char reply[600];
  int fds[MSG_MAX_FDS], n = 0;
  /* a reload's next run: the starter starts the command of the plan it read from plan.next */
  const char *what = p == next_plan ? "start next" : "start";
  if (ask(what, NULL, 0, reply, sizeof reply, fds, &n, (int)(sizeof fds / sizeof *fds)) < 0) { snprintf(err, errlen, "start: %s", reply); return -1; }
  int pid = 0;
  if (n != 2 || sscanf(reply, "started %d", &pid) != 1 || pid <= 0) {
    for (int i = 0; i < n; i++) close(fds[i]);
    snprintf(err, errlen, "start: the starter answered \"%.200s\"", reply);
    return -1;
  }
  if (!adopt(fds[0], (pid_t)pid, 1, p->wait_main)) {
    close(fds[1]);
    pdkill(fds[0], SIGKILL);
    close(fds[0]);
    snprintf(err, errlen, "start: too many processes to watch");
    return -1;
  }
  limit(fds[1], FD_READ);
  r->init = (pid_t)pid;
  r->chan = fds[1];
  r->watch = -1;
  r->master = -1;
  return 0;
}

/* The reload is done: R holds what was the next run, and the starter's next plan is its current one. */
void os_promote(const struct plan *p, struct run *r) {
  (void)p;
  (void)r;
  next_plan = NULL;
  char reply[600];
  if (ask("promote", NULL, 0, reply, sizeof reply, NULL, NULL, 0) < 0) say(L_WARN, "promote: %s", reply);
}

void os_signal(const struct plan *p, struct run *r, int sig, int all) {
  (void)p;
  struct child *command = command_of(r);
  if (r->reaped || !command) return;
  if (!all && !command->exited) {
    pdkill(command->pd, sig);
    return;
  }
  /* the command is gone: as Linux's init does, a signal is then meant for whatever still runs */
  if (!all && sig == SIGWINCH) return;
  signal_subtree(sig, command->pid);
}

void os_kill(const struct plan *p, struct run *r) {
  (void)p;
  struct child *command = command_of(r);
  if (!command || r->reaped) return;
  if (!command->exited) pdkill(command->pd, SIGKILL);
  signal_subtree(SIGKILL, command->pid);
}

int os_empty(const struct plan *p, struct run *r) {
  (void)p;
  return r->reaped; /* reported only once the subtree is empty (os_next_exit) */
}

void os_watch_drain(struct run *r) { (void)r; }

int os_finish(const struct plan *p, struct run *r) {
  (void)p;
  struct child *command = command_of(r);
  if (command) {
    if (!starter_gone) signal_subtree(SIGKILL, command->pid);
    release(command);
  }
  return 0; /* rctl(8) memoryuse:deny refuses allocations; it kills nothing */
}

pid_t os_spawn_inside(const struct plan *p, struct run *r, const char *const *argv, int out_fd) {
  (void)p;
  (void)argv; /* the starter runs its own copy of the run's plan's check (starter.c says why) */
  if (r->reaped || r->init <= 0) return -1;
  char text[64], reply[600];
  int fds[MSG_MAX_FDS], n = 0, pid = 0;
  snprintf(text, sizeof text, "check %d", (int)r->init); /* the run, named by its command */
  if (ask(text, &out_fd, 1, reply, sizeof reply, fds, &n, (int)(sizeof fds / sizeof *fds)) < 0) { say(L_WARN, "health check: %s", reply); return -1; }
  if (n != 1 || sscanf(reply, "checking %d", &pid) != 1 || pid <= 0) {
    for (int i = 0; i < n; i++) close(fds[i]);
    return -1;
  }
  if (!adopt(fds[0], (pid_t)pid, 0, 0)) { pdkill(fds[0], SIGKILL); close(fds[0]); return -1; }
  return (pid_t)pid;
}

void os_kill_inside(const struct plan *p, struct run *r, pid_t pid, int reaped) {
  (void)p;
  (void)r;
  (void)reaped; /* the descriptor holds the pid until release() */
  for (int i = 0; i < MAX_CHILDREN; i++) {
    struct child *c = &kids[i];
    if (c->pd < 0 || c->command || c->pid != pid) continue;
    if (!c->exited) pdkill(c->pd, SIGKILL);
    /* what it started, while its pid still names its subtree (the descriptor is still open) */
    if (!starter_gone) signal_subtree(SIGKILL, c->pid);
    if (c->exited) release(c);
    else c->dropped = 1;
  }
}

/* pf's rdr answers every published port it is given (a mapping on ::1 is refused before the jail
 * starts, src/runtime/freebsd/pf.ts): nothing is relayed here, and a plan that asks is refused. */
int os_ports_start(const struct plan *p, struct run *r, char *err, size_t errlen) {
  (void)r;
  if (p->nrelays == 0) return 0;
  snprintf(err, errlen, "plan: relay records are for Linux (this monitor relays nothing)");
  return -1;
}

void os_ports_drain(struct run *r) { (void)r; }

int os_ports_ended(struct run *r, pid_t pid, int wait_status) {
  (void)r; (void)pid; (void)wait_status;
  return 0;
}

int os_event_fd(void) { return kq; }

/* A command awaiting its subtree's end whose pid is WHICH (any, when 0). */
static struct child *awaiting(int which) {
  for (int i = 0; i < MAX_CHILDREN; i++) {
    struct child *c = &kids[i];
    if (c->pd >= 0 && c->command && c->exited && c->awaiting && (which == 0 || c->pid == which)) return c;
  }
  return NULL;
}

/*
 * One ended process as waitpid(2) would give it. A run's command has ended once its subtree is
 * empty too: then it is given, and R's main code set when it is R's (a reload's next run's end is
 * its init's, matched by the monitor against NR.init).
 */
int os_next_exit(const struct plan *p, struct run *r, pid_t *pid, int *wait_status) {
  (void)p;
  struct timespec now = { 0, 0 };
  struct kevent ev;
  struct child *done = NULL;
  while (!done) {
    int n = kevent(kq, NULL, 0, &ev, 1, &now);
    if (n <= 0) return 0;
    if (ev.filter == EVFILT_READ && (int)ev.ident == note) {
      char text[128];
      ssize_t got = msg_recv(note, text, sizeof text, NULL, NULL, 0, MSG_DONTWAIT);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        lose_starter();
        struct kevent del;
        EV_SET(&del, (uintptr_t)note, EVFILT_READ, EV_DELETE, 0, 0, NULL);
        kevent(kq, &del, 1, NULL, 0, NULL);
        done = awaiting(0);
        continue;
      }
      int which = 0;
      if (got > 0 && sscanf(text, "empty %d", &which) == 1 && which > 0) done = awaiting(which);
      continue;
    }
    if (ev.filter != EVFILT_PROCDESC || !(ev.fflags & NOTE_EXIT)) continue;
    struct child *c = ev.udata;
    if (!c || c->pd < 0 || (uintptr_t)c->pd != ev.ident) continue;
    c->exited = 1;
    c->status = (int)ev.data;
    if (!c->command) {
      if (c->dropped) { release(c); continue; }
      *pid = c->pid;
      *wait_status = c->status;
      return 1;
    }
    if (starter_gone) { done = c; break; }
    /* wait=main: the command's end is the run's; what it left is killed first */
    if (c->wait_main) signal_subtree(SIGKILL, c->pid);
    char text[64], reply[600];
    snprintf(text, sizeof text, "watch %d", (int)c->pid);
    if (ask(text, NULL, 0, reply, sizeof reply, NULL, NULL, 0) < 0) { done = c; break; }
    c->awaiting = 1;
    /* one step per call: the loop reads the run's channel (its last lines) before the end */
    return 0;
  }
  /* the command's subtree is empty (or can no longer be watched): the run's "init" has ended */
  done->awaiting = 0;
  if (done->pid == r->init) r->main_code = wait_code(done->status);
  *pid = done->pid;
  *wait_status = done->status;
  return 1;
}

static int limit_or_say(int fd, enum fd_kind kind, char *err, size_t errlen) {
  /* a closed stdio descriptor has nothing to limit */
  if (fd < 0 || limit_fd(fd, kind) == 0 || errno == EBADF) return 0;
  if (errno == ENOSYS) snprintf(err, errlen, "cap_rights_limit(2): this kernel has no Capsicum (options CAPABILITIES)");
  else snprintf(err, errlen, "cap_rights_limit(2) on descriptor %d: %s", fd, strerror(errno));
  return -1;
}

int os_sandbox(const struct held_fd *fds, int n, char *err, size_t errlen) {
  static const enum fd_kind kind_of[] = { [HELD_DIR] = FD_DIR, [HELD_STREAM] = FD_STREAM, [HELD_READ] = FD_READ, [HELD_WRITE] = FD_WRITE };
  for (int i = 0; i < n; i++) if (limit_or_say(fds[i].fd, kind_of[fds[i].use], err, errlen) < 0) return -1;
  if (limit_or_say(kq, FD_KQUEUE, err, errlen) < 0 || limit_or_say(req, FD_STREAM, err, errlen) < 0 || limit_or_say(note, FD_READ, err, errlen) < 0) return -1;
  for (int i = 0; i < MAX_CHILDREN; i++) if (kids[i].pd >= 0 && limit_or_say(kids[i].pd, FD_PROCDESC, err, errlen) < 0) return -1;
  if (enter_capability_mode() < 0) {
    if (errno == ENOSYS) snprintf(err, errlen, "cap_enter(2): this kernel has no capability mode (options CAPABILITY_MODE)");
    else snprintf(err, errlen, "cap_enter(2): %s", strerror(errno));
    return -1;
  }
  in_sandbox = 1;
  return 0;
}

int os_dial(const char *path) {
  if (!in_sandbox) return direct_dial(path);
  /* connect(2) by path is not allowed in capability mode: the starter dials the plan's socket */
  char reply[600];
  int fd = -1, n = 0;
  if (ask("dial", NULL, 0, reply, sizeof reply, &fd, &n, 1) < 0 || n != 1) {
    int e = atoi(reply);
    errno = e > 0 ? e : EPIPE;
    return -1;
  }
  limit(fd, FD_STREAM);
  return fd;
}

/*
 * A terminal opened again by its name (ttyname(3)): a new open file description, so O_NONBLOCK
 * is ours alone. A pipe has no name to open without fdescfs(5), which vessel does not assume
 * (without it /dev/fd/N only dups the descriptor, sharing its flags): -1, writes to it may block.
 */
int os_nonblocking_copy(int fd) {
  int flags = fcntl(fd, F_GETFL);
  const char *name = flags < 0 || !isatty(fd) ? NULL : ttyname(fd);
  return name ? open(name, (flags & O_ACCMODE) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC) : -1;
}

void os_spawn_detached(const char *const *argv) {
  if (!in_sandbox) { direct_spawn_detached(argv); return; }
  /* execve(2) is not allowed in capability mode: the starter launches the plan's release command */
  char reply[600];
  if (ask("release", NULL, 0, reply, sizeof reply, NULL, NULL, 0) < 0) say(L_WARN, "release: %s", reply);
}

int os_plan_load(struct plan *p, const char *path, char *err, size_t errlen) {
  if (starter <= 0) return plan_load(p, path, err, errlen);
  /* the starter reads the new plan too (what it starts comes from its own copy) and hands it over */
  char text[MSG_MAX_TEXT + 1], reply[700];
  int fd = -1, n = 0;
  if (snprintf(text, sizeof text, "plan %s", path) >= (int)sizeof text) { snprintf(err, errlen, "plan path too long: %s", path); return -1; }
  if (ask(text, NULL, 0, reply, sizeof reply, &fd, &n, 1) < 0 || n != 1) { snprintf(err, errlen, "plan %s: %s", path, reply); return -1; }
  limit(fd, FD_FILE);
  int r = plan_load_fd(p, fd, path, err, errlen);
  close(fd);
  /* read as a reload's next run's (plan.next): its start is "start next" */
  if (r == 0 && !strcmp(reply, "plan next")) next_plan = p;
  else if (r == 0 && p == next_plan) next_plan = NULL;
  return r;
}
