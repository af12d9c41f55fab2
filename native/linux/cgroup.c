/*
 * A run's cgroups. The plan names, per hierarchy, the parent directory and what it serves
 * (memory, pids, cpu, cpuacct, unified); a run's directory is PARENT/LEAF, fresh for every run
 * because cgroup v1 releases pids charges seconds after a kill (shared/docs/linux-host.md). The
 * limit writes are rendered by TypeScript (src/runtime/linux/cgroup-limits.ts); this file only
 * makes them, as youki's libcgroups does one controller at a time.
 */
#include "linux.h"
#include "../common/fs.h"
#include "../common/say.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int dir_of(const struct plan *p, const char *leaf, int role, char *out, size_t n) {
  for (int i = 0; i < p->ncgroups; i++) {
    if (p->cgroups[i].roles & role) {
      if (snprintf(out, n, "%s/%s", p->cgroups[i].parent, leaf) >= (int)n) return -1;
      return 0;
    }
  }
  return -1;
}

static int write_text(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t w = write(fd, text, strlen(text));
  int e = errno;
  close(fd);
  errno = e;
  return w < 0 ? -1 : 0;
}

static ssize_t read_text(const char *path, char *buf, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = read(fd, buf, n - 1);
  close(fd);
  buf[r < 0 ? 0 : r] = '\0';
  return r;
}


static const char *role_name(int role) {
  return role & CG_MEMORY ? "memory" : role & CG_PIDS ? "pids" : role & CG_CPU ? "cpu" : role & CG_CPUACCT ? "cpuacct" : "unified";
}

int cgroup_create(const struct plan *p, const char *leaf, char *err, size_t errlen) {
  char path[PATH_MAX], file[PATH_MAX + 64];
  for (int i = 0; i < p->ncgroups; i++) {
    if (snprintf(path, sizeof path, "%s/%s", p->cgroups[i].parent, leaf) >= (int)sizeof path) { snprintf(err, errlen, "cgroup path too long"); return -1; }
    if (mkdir_p(path, 0755) < 0) { snprintf(err, errlen, "cgroup %s: %s", path, strerror(errno)); return -1; }
  }
  for (int i = 0; i < p->nwrites; i++) {
    const struct cgroup_write *w = &p->writes[i];
    if (dir_of(p, leaf, w->role, path, sizeof path) < 0) {
      snprintf(err, errlen, "%s limit asked but the %s cgroup controller is not mounted", role_name(w->role), role_name(w->role));
      return -1;
    }
    snprintf(file, sizeof file, "%s/%s", path, w->file);
    if (w->when != WRITE_REQUIRED && access(file, F_OK) < 0) continue;
    if (write_text(file, w->value) < 0 && w->when != WRITE_BEST_EFFORT) {
      snprintf(err, errlen, "cgroup %s: cannot write \"%s\": %s", file, w->value, strerror(errno));
      return -1;
    }
  }
  return 0;
}

int cgroup_join_dirs(const char *const *dirs, int n, pid_t pid, char *err, size_t errlen) {
  char file[PATH_MAX + 32], num[32];
  snprintf(num, sizeof num, "%d", (int)pid);
  for (int i = 0; i < n; i++) {
    snprintf(file, sizeof file, "%s/cgroup.procs", dirs[i]);
    if (write_text(file, num) < 0) {
      int e = errno;
      snprintf(err, errlen, "cannot join cgroup %s: %s", dirs[i], strerror(e));
      errno = e;
      return -1;
    }
  }
  return 0;
}

int cgroup_join(const struct plan *p, const char *leaf, pid_t pid, char *err, size_t errlen) {
  char paths[MAX_CGROUP_DIRS][PATH_MAX];
  const char *dirs[MAX_CGROUP_DIRS];
  for (int i = 0; i < p->ncgroups; i++) {
    snprintf(paths[i], sizeof paths[i], "%s/%s", p->cgroups[i].parent, leaf);
    dirs[i] = paths[i];
  }
  return cgroup_join_dirs(dirs, p->ncgroups, pid, err, errlen);
}

int cgroup_events_fd(const struct plan *p, const char *leaf) {
  char path[PATH_MAX], file[PATH_MAX + 32];
  if (dir_of(p, leaf, CG_UNIFIED, path, sizeof path) < 0) return -1;
  snprintf(file, sizeof file, "%s/cgroup.events", path);
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return -1;
  if (inotify_add_watch(fd, file, IN_MODIFY) < 0) { close(fd); return -1; }
  return fd;
}

/*
 * Every pid of the run, each once: listed from one directory. Every process of a run joins all of
 * its directories, so one listing is whole — a v1 controller's (on a hybrid host the unified tree
 * holds the health checks in a child group, which a v1 directory lists with the rest), else the
 * one v2 directory. Listing every hierarchy would signal each process once per hierarchy, and a
 * second SIGTERM is "quit now" to many programs.
 */
static int for_each_pid(const struct plan *p, const char *leaf, void (*fn)(pid_t, int), int arg) {
  char path[PATH_MAX], file[PATH_MAX + 32], buf[65536];
  int pick = -1;
  for (int i = 0; i < p->ncgroups && pick < 0; i++) if (p->cgroups[i].roles != CG_UNIFIED) pick = i;
  if (pick < 0) pick = 0;
  if (p->ncgroups == 0) return 0;
  snprintf(path, sizeof path, "%s/%s", p->cgroups[pick].parent, leaf);
  snprintf(file, sizeof file, "%s/cgroup.procs", path);
  if (read_text(file, buf, sizeof buf) <= 0) return 0;
  int found = 0;
  for (char *save = buf, *t; (t = strsep(&save, "\n")); ) {
    if (!*t) continue;
    found++;
    if (fn) fn((pid_t)atoi(t), arg);
  }
  return found;
}

int cgroup_populated(const struct plan *p, const char *leaf) {
  char path[PATH_MAX], file[PATH_MAX + 32], buf[256];
  if (dir_of(p, leaf, CG_UNIFIED, path, sizeof path) == 0) {
    snprintf(file, sizeof file, "%s/cgroup.events", path);
    if (read_text(file, buf, sizeof buf) > 0) {
      /* the unified tree counts the whole subtree (health-check children too) */
      if (strstr(buf, "populated 1")) return 1;
    }
  }
  return for_each_pid(p, leaf, NULL, 0) > 0;
}

static pid_t spared;
static int signalled;
static void signal_one(pid_t pid, int sig) {
  if (pid > 1 && pid != spared && kill(pid, sig) == 0) signalled++;
}

int cgroup_signal(const struct plan *p, const char *leaf, int sig, pid_t except) {
  spared = except;
  signalled = 0;
  for_each_pid(p, leaf, signal_one, sig);
  return signalled;
}

static void kill_subtree(const char *dir) {
  char file[PATH_MAX + 32];
  snprintf(file, sizeof file, "%s/cgroup.kill", dir);
  write_text(file, "1"); /* kernels without cgroup.kill: the per-pid kill below does it */
}

void cgroup_kill(const struct plan *p, const char *leaf, pid_t except) {
  char path[PATH_MAX];
  if (dir_of(p, leaf, CG_UNIFIED, path, sizeof path) == 0 && except <= 0) kill_subtree(path);
  cgroup_signal(p, leaf, SIGKILL, except);
}

int cgroup_oom_kills(const struct plan *p, const char *leaf) {
  char path[PATH_MAX], file[PATH_MAX + 32], buf[1024];
  if (dir_of(p, leaf, CG_MEMORY, path, sizeof path) < 0) return 0;
  snprintf(file, sizeof file, "%s/memory.events", path);
  if (read_text(file, buf, sizeof buf) <= 0) {
    snprintf(file, sizeof file, "%s/memory.oom_control", path);
    if (read_text(file, buf, sizeof buf) <= 0) return 0;
  }
  char *m = strstr(buf, "oom_kill ");
  return m ? atoi(m + 9) : 0;
}

static void remove_dir(const char *path) {
  /* A killed run's directory can stay busy for a moment while the kernel finishes the exits. */
  for (int i = 0; i < 100; i++) {
    if (rmdir(path) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) break;
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  say(L_WARN, "cannot remove cgroup %s: %s (vessel gc will)", path, strerror(errno));
}

void cgroup_remove(const struct plan *p, const char *leaf) {
  char path[PATH_MAX];
  for (int i = p->ncgroups - 1; i >= 0; i--) {
    snprintf(path, sizeof path, "%s/%s", p->cgroups[i].parent, leaf);
    remove_dir(path);
  }
}

int cgroup_sub_create(const struct plan *p, const char *leaf, const char *sub, pid_t pid) {
  char path[PATH_MAX], file[PATH_MAX + 64], num[32];
  char err[256];
  snprintf(num, sizeof num, "%d", (int)pid);
  /* the run's own directories for accounting, a child of the unified one to find what it leaves */
  for (int i = 0; i < p->ncgroups; i++) {
    if (p->cgroups[i].roles & CG_UNIFIED) continue;
    snprintf(path, sizeof path, "%s/%s", p->cgroups[i].parent, leaf);
    const char *d = path;
    if (cgroup_join_dirs(&d, 1, pid, err, sizeof err) < 0) return -1;
  }
  if (dir_of(p, leaf, CG_UNIFIED, path, sizeof path) < 0) return 0;
  snprintf(file, sizeof file, "%s/%s", path, sub);
  if (mkdir(file, 0755) < 0 && errno != EEXIST) return -1;
  snprintf(path, sizeof path, "%s/cgroup.procs", file);
  return write_text(path, num);
}

void cgroup_sub_kill(const struct plan *p, const char *leaf, const char *sub) {
  char path[PATH_MAX], dir[PATH_MAX + 64], file[PATH_MAX + 96], buf[16384];
  if (dir_of(p, leaf, CG_UNIFIED, path, sizeof path) < 0) return;
  snprintf(dir, sizeof dir, "%s/%s", path, sub);
  kill_subtree(dir);
  snprintf(file, sizeof file, "%s/cgroup.procs", dir);
  for (int round = 0; round < 100; round++) {
    if (read_text(file, buf, sizeof buf) <= 0 || !buf[0]) break;
    for (char *save = buf, *t; (t = strsep(&save, "\n")); ) if (*t) kill((pid_t)atoi(t), SIGKILL);
    struct timespec ts = { 0, 5 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  remove_dir(dir);
}
