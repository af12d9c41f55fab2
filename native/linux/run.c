/*
 * The Linux half of os.h: a run is a fresh set of cgroups and an init cloned straight into new
 * mount, uts, ipc, pid and (unless --network host) network namespaces. The monitor itself stays
 * in the host's namespaces, so it can restart the container, write its status record and talk
 * to vessel up for as long as the container lives. "Every process is gone" is the init's exit
 * (the kernel empties the pid namespace with it) confirmed by the cgroup: cgroup.events says
 * populated 0 (watched with inotify), or the listed processes are gone where there is no v2 tree.
 */
#include "linux.h"
#include "../common/waitcode.h"
#include "../common/direct.h"
#include "../common/say.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define HEALTH_CGROUP "vessel-health"

static int host_nl = -1;
static int bridge_index;

int os_setup(const struct plan *p, char *err, size_t errlen) {
  if (!p->nargv) { snprintf(err, errlen, "no command to run"); return -1; }
  if (p->mode == MODE_FOREGROUND && p->parent_pid > 0) {
    /* a foreground container dies with the CLI that waits for it (SIGKILL included) */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != (pid_t)p->parent_pid) { snprintf(err, errlen, "the vessel that started this monitor is gone"); return -1; }
  }
  if (p->veth_host) {
    /* opened here, in the host's namespace: the init creates the host end of the veth with it */
    host_nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (host_nl < 0) { snprintf(err, errlen, "netlink: %s", strerror(errno)); return -1; }
    bridge_index = (int)if_nametoindex(p->bridge);
    if (bridge_index <= 0) {
      snprintf(err, errlen, "network bridge %s does not exist (network removed while the container runs?)", p->bridge);
      return -1;
    }
  }
  return 0;
}

void os_name_run(const struct plan *p, struct run *r) {
  /* fresh per run: cgroup v1 releases pids charges seconds after a kill */
  if (r->index == 0) snprintf(r->leaf, sizeof r->leaf, "%s.%s", p->name, p->run_id);
  else snprintf(r->leaf, sizeof r->leaf, "%s.%sr%ld", p->name, p->run_id, r->index);
}

int os_start(const struct plan *p, struct run *r, char *err, size_t errlen) {
  if (cgroup_create(p, r->leaf, err, errlen) < 0) { cgroup_remove(p, r->leaf); return -1; }
  int chan[2], pty[2] = { -1, -1 };
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) < 0) { snprintf(err, errlen, "socketpair: %s", strerror(errno)); return -1; }
  if (p->tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pty) < 0) {
    snprintf(err, errlen, "socketpair: %s", strerror(errno));
    close(chan[0]); close(chan[1]);
    return -1;
  }
  long flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | SIGCHLD;
  if (!p->net_host) flags |= CLONE_NEWNET;
  fflush(NULL);
  /* fork-like clone (no new stack): the child is pid 1 of its namespace, the monitor stays outside */
  pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
  if (pid < 0) {
    snprintf(err, errlen, "clone: %s", strerror(errno));
    close(chan[0]); close(chan[1]);
    if (pty[0] >= 0) { close(pty[0]); close(pty[1]); }
    cgroup_remove(p, r->leaf);
    return -1;
  }
  if (pid == 0) {
    monitor_child_reset();
    close(chan[0]);
    if (pty[0] >= 0) close(pty[0]);
    chan_fd = chan[1];
    if (p->log_path) {
      /* the container's output goes to its log; the monitor's own lines stay on its stderr */
      int log = open(p->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
      if (log < 0) _exit(125);
      dup2(log, 1);
      dup2(log, 2);
      close(log);
    }
    /* The root and the network are built while the monitor moves us into the run's cgroups (a
     * first cgroup.procs write waits an RCU grace period, ~10-20 ms): the init waits for its "go"
     * only before it starts a process, so everything the container runs is counted. */
    _exit(container_init((struct plan *)p, host_nl, bridge_index, pty[1]));
  }
  close(chan[1]);
  if (pty[1] >= 0) close(pty[1]);
  r->init = pid;
  /* A child that died in its setup already (its reason is on the channel) cannot be moved: not
   * this function's failure, the run ends with the child's own words. */
  if (cgroup_join(p, r->leaf, pid, err, errlen) < 0 && errno != ESRCH) {
    kill(pid, SIGKILL);
    close(chan[0]);
    if (pty[0] >= 0) close(pty[0]);
    /* reaped by the loop's SIGCHLD; the caller's failure path removes the cgroups */
    r->chan = -1;
    return -1;
  }
  if (write(chan[0], "g", 1) != 1) { /* the child died already: its exit tells the story */ }
  if (pty[0] >= 0) {
    /* the init allocates the terminal in its own devpts and hands the master over, or dies */
    r->master = pty_recv_fd(pty[0]);
    close(pty[0]);
  }
  fcntl(chan[0], F_SETFL, fcntl(chan[0], F_GETFL) | O_NONBLOCK);
  r->chan = chan[0];
  /* The watch on cgroup.events is made only when the run outlives its init (rare: the kernel
   * empties the pid namespace with it): closing an inotify instance that holds a mark waits an
   * SRCU grace period, ~20 ms on every container's end otherwise. */
  r->watch = -1;
  return 0;
}

void os_signal(const struct plan *p, struct run *r, int sig, int all) {
  if (r->init <= 0 || r->reaped) return;
  if (!all || sig == SIGKILL) {
    /* the init forwards it to the command; SIGKILL of the init takes the whole pid namespace */
    kill(r->init, sig);
    return;
  }
  /* every process but the init, which would forward it to the command a second time */
  if (cgroup_signal(p, r->leaf, sig, r->init) > 0) return;
  /* nothing but the init (the command is gone, or not started yet): it takes the signal itself,
   * and forwards it to the command once that exists (init.c) */
  kill(r->init, sig);
}

void os_kill(const struct plan *p, struct run *r) {
  if (r->init > 0 && !r->reaped) kill(r->init, SIGKILL);
  cgroup_kill(p, r->leaf, 0);
}

int os_empty(const struct plan *p, struct run *r) {
  if (!r->reaped) return 0;
  if (!cgroup_populated(p, r->leaf)) return 1;
  /* still populated after the init: now the watch is worth its price */
  if (r->watch < 0) r->watch = cgroup_events_fd(p, r->leaf);
  return !cgroup_populated(p, r->leaf);
}

void os_watch_drain(struct run *r) {
  char buf[4096];
  while (read(r->watch, buf, sizeof buf) > 0) {}
}

int os_finish(const struct plan *p, struct run *r) {
  relay_stop(r); /* its ports end with the run */
  int oom = cgroup_oom_kills(p, r->leaf);
  if (!r->reaped && r->init > 0) {
    kill(r->init, SIGKILL);
    int st;
    if (waitpid(r->init, &st, 0) == r->init) { r->reaped = 1; r->wait_status = st; }
  }
  cgroup_kill(p, r->leaf, 0);
  cgroup_remove(p, r->leaf);
  return oom;
}

pid_t os_spawn_inside(const struct plan *p, struct run *r, const char *const *argv, int out_fd) {
  if (r->init <= 0 || r->reaped) return -1;
  pid_t pid = fork();
  if (pid != 0) return pid;
  /* the check's own process: into the run's cgroups (a child group to find what it leaves) */
  monitor_child_reset();
  chan_fd = -1;
  if (cgroup_sub_create(p, r->leaf, HEALTH_CGROUP, getpid()) < 0) _exit(126);
  char err[256];
  if (enter_container(r->init, err, sizeof err) < 0) _exit(126);
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0) dup2(null, 0);
  dup2(out_fd, 1);
  dup2(out_fd, 2);
  static struct plan hp;
  hp = *p;
  int n = 0;
  for (; argv[n] && n < MAX_ITEMS; n++) hp.argv[n] = argv[n];
  hp.argv[n] = NULL;
  hp.nargv = n;
  hp.tty = 0;
  struct ids id;
  user_resolve(&hp, &id);
  /* the pid namespace applies to children only */
  pid_t cmd = fork();
  if (cmd < 0) _exit(126);
  if (cmd == 0) exec_command(&hp, -1, &id);
  int st;
  while (waitpid(cmd, &st, 0) < 0 && errno == EINTR) {}
  _exit(wait_code(st));
}

void os_kill_inside(const struct plan *p, struct run *r, pid_t pid, int reaped) {
  if (pid > 0 && !reaped) kill(pid, SIGKILL);
  cgroup_sub_kill(p, r->leaf, HEALTH_CGROUP);
}

/* SIGCHLD reports every end here: the init and the health checks are the monitor's children. */
int os_event_fd(void) { return -1; }

int os_next_exit(const struct plan *p, struct run *r, pid_t *pid, int *wait_status) {
  (void)p; (void)r; (void)pid; (void)wait_status;
  return 0;
}

/*
 * No sandbox on Linux: a seccomp filter on the monitor would be imposed on every run it clones
 * (docs/supervision.md, "Why no seccomp filter on the Linux monitor").
 */
int os_sandbox(const struct held_fd *fds, int n, char *err, size_t errlen) {
  (void)fds; (void)n; (void)err; (void)errlen;
  return 0;
}

int os_dial(const char *path) { return direct_dial(path); }

/* /proc/self/fd/N opens the same terminal or pipe anew (proc(5)); a regular file is not reopened (its offset and O_APPEND would not follow). */
int os_nonblocking_copy(int fd) {
  struct stat st;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fstat(fd, &st) < 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) return -1;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  return open(path, (flags & O_ACCMODE) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

void os_spawn_detached(const char *const *argv) { direct_spawn_detached(argv); }

int os_plan_load(struct plan *p, const char *path, char *err, size_t errlen) { return plan_load(p, path, err, errlen); }

/* Each run is its own cgroup leaf and init, named in R: nothing of the next run's to move. */
void os_promote(const struct plan *p, struct run *r) { (void)p; (void)r; }
