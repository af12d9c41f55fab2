/*
 * The container's root, built by its init inside the new mount namespace: the overlay (image
 * layers lower, the container's upper — a tmpfs for --rm), volume sources opened on the host's
 * tree, pivot_root, /proc, a tmpfs /dev with its nodes and a private devpts, a read-only /sys,
 * the volumes, docker's masked and read-only kernel paths, the hostname. Every mount lives in the
 * container's own namespace, so no crash can leave one on the host.
 */
#include "linux.h"
#include "../common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define OLDROOT "/.vessel-oldroot"


static void parent_dir(const char *path, char *out, size_t n) {
  snprintf(out, n, "%s", path);
  char *s = strrchr(out, '/');
  if (s && s != out) *s = '\0';
  else snprintf(out, n, "/");
}

static void mount_or_die(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  if (mount(src, dst, type, flags, data) < 0)
    die_setup("mount %s on %s (%s): %s", src ? src : "none", dst, type ? type : "bind", strerror(errno));
}

static void make_dev_node(const char *name, mode_t mode, unsigned maj, unsigned min) {
  char path[64];
  snprintf(path, sizeof path, "/dev/%s", name);
  if (mknod(path, S_IFCHR | mode, makedev(maj, min)) < 0 && errno != EEXIST) die_setup("mknod %s: %s", path, strerror(errno));
  chmod(path, mode); /* mknod honours the umask */
}

void root_setup(struct plan *p, int ptysock, int *slave_out) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die_setup("make / private: %s", strerror(errno));

  char upper[PATH_MAX], work[PATH_MAX];
  if (p->scratch) {
    /* --rm: the writable layer lives in memory and vanishes with the mount namespace. */
    mount_or_die("tmpfs", p->scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700");
    snprintf(upper, sizeof upper, "%s/upper", p->scratch);
    snprintf(work, sizeof work, "%s/work", p->scratch);
    if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0) die_setup("scratch layer: %s", strerror(errno));
  } else {
    if (!p->upper || !p->work) die_setup("no writable layer configured");
    snprintf(upper, sizeof upper, "%s", p->upper);
    snprintf(work, sizeof work, "%s", p->work);
  }
  if (p->nlowers == 0) die_setup("image has no layers");
  /* overlayfs lists lower layers top first; vessel records them base first. */
  size_t cap = 64 + strlen(upper) + strlen(work);
  for (int i = 0; i < p->nlowers; i++) cap += strlen(p->lowers[i]) + 1;
  char *opts = malloc(cap + 64);
  if (!opts) die_setup("out of memory");
  char *o = opts;
  o += sprintf(o, "lowerdir=");
  for (int i = p->nlowers - 1; i >= 0; i--) o += sprintf(o, "%s%s", p->lowers[i], i ? ":" : "");
  sprintf(o, ",upperdir=%s,workdir=%s", upper, work);
  if (strlen(opts) >= 4096) die_setup("too many image layers for one overlay mount (%d)", p->nlowers);
  mount_or_die("overlay", p->rootfs, "overlay", 0, opts);
  free(opts);

  /* Open volume sources now, on the host's tree: after pivot_root an absolute symlink in a host
   * path would resolve inside the container instead. */
  for (int i = 0; i < p->nbinds; i++) {
    p->binds[i].fd = open(((struct plan *)p)->binds[i].src, O_PATH | O_CLOEXEC);
    if (p->binds[i].fd < 0) die_setup("volume %s: %s", ((struct plan *)p)->binds[i].src, strerror(errno));
  }

  if (chdir(p->rootfs) < 0) die_setup("chdir %s: %s", p->rootfs, strerror(errno));
  /* The old root stays attached under OLDROOT until the volumes are bound: a bind mount's source
   * must be a mount of this namespace, and the O_PATH fds above point into the old root. */
  if (mkdir(&OLDROOT[1], 0700) < 0) die_setup("cannot create %s in the container root: %s", OLDROOT, strerror(errno));
  if (syscall(SYS_pivot_root, ".", &OLDROOT[1]) < 0) die_setup("pivot_root: %s", strerror(errno));
  if (chdir("/") < 0) die_setup("chdir /: %s", strerror(errno));

  mkdir_p("/proc", 0555);
  mount_or_die("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);

  mkdir_p("/dev", 0755);
  mount_or_die("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  mode_t old = umask(0);
  make_dev_node("null", 0666, 1, 3);
  make_dev_node("zero", 0666, 1, 5);
  make_dev_node("full", 0666, 1, 7);
  make_dev_node("random", 0666, 1, 8);
  make_dev_node("urandom", 0666, 1, 9);
  make_dev_node("tty", 0666, 5, 0);
  mkdir("/dev/pts", 0755);
  mkdir("/dev/shm", 01777);
  mkdir("/dev/mqueue", 01777);
  umask(old);
  mount_or_die("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  mount_or_die("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
  if (mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) rmdir("/dev/mqueue");
  if (symlink("pts/ptmx", "/dev/ptmx") < 0 && errno != EEXIST) die_setup("symlink /dev/ptmx: %s", strerror(errno));
  static const char *links[][2] = { { "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" },
                                     { "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" } };
  for (size_t i = 0; i < sizeof links / sizeof *links; i++)
    if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST) die_setup("symlink %s: %s", links[i][1], strerror(errno));
  if (ptysock >= 0) {
    int master, slave;
    if (pty_open(&master, &slave) < 0) die_setup("cannot allocate a terminal in the container: %s", strerror(errno));
    int fd = open("/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
    char *name = ptsname(master);
    if (name) mount(name, "/dev/console", NULL, MS_BIND, NULL); /* best effort: programs that open /dev/console */
    if (pty_send_fd(ptysock, master) < 0) die_setup("cannot pass the terminal: %s", strerror(errno));
    close(master);
    close(ptysock);
    *slave_out = slave;
  }

  mkdir_p("/sys", 0555);
  if (p->net_host) {
    /* sysfs can only be mounted fresh in a network namespace we own */
    if (mount(OLDROOT "/sys", "/sys", NULL, MS_BIND | MS_REC, NULL) == 0)
      mount(NULL, "/sys", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);
  } else {
    mount_or_die("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  }

  for (int i = 0; i < p->nbinds; i++) {
    struct bind *b = &p->binds[i];
    struct stat st;
    if (fstat(b->fd, &st) < 0) die_setup("volume %s: %s", b->src, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
      if (mkdir_p(b->dst, 0755) < 0) die_setup("volume target %s: %s", b->dst, strerror(errno));
    } else {
      char dir[PATH_MAX];
      parent_dir(b->dst, dir, sizeof dir);
      if (mkdir_p(dir, 0755) < 0) die_setup("volume target %s: %s", b->dst, strerror(errno));
      int fd = open(b->dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) die_setup("volume target %s: %s", b->dst, strerror(errno));
      close(fd);
    }
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", b->fd);
    mount_or_die(p, b->dst, NULL, MS_BIND | MS_REC, NULL);
    if (b->ro) mount_or_die(NULL, b->dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);
    close(b->fd);
  }
  for (int i = 0; i < p->ntmpfs; i++) {
    struct tmpfs *t = &p->tmpfss[i];
    char data[128];
    if (mkdir_p(t->dst, 0755) < 0) die_setup("tmpfs target %s: %s", t->dst, strerror(errno));
    snprintf(data, sizeof data, "mode=%s%s%s", *t->mode ? t->mode : "1777", *t->size ? ",size=" : "", t->size);
    mount_or_die("tmpfs", t->dst, "tmpfs", MS_NOSUID | MS_NODEV, data);
  }

  if (umount2(OLDROOT, MNT_DETACH) < 0) die_setup("detach old root: %s", strerror(errno));
  rmdir(OLDROOT);

  /* Kernel interfaces a container has no business reading or writing (docker's defaults). */
  static const char *masked_files[] = { "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats" };
  static const char *masked_dirs[] = { "/proc/acpi", "/proc/scsi", "/sys/firmware" };
  static const char *ro_paths[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger" };
  for (size_t i = 0; i < sizeof masked_files / sizeof *masked_files; i++)
    mount("/dev/null", masked_files[i], NULL, MS_BIND, NULL);
  for (size_t i = 0; i < sizeof masked_dirs / sizeof *masked_dirs; i++)
    mount("tmpfs", masked_dirs[i], "tmpfs", MS_RDONLY, "size=0");
  for (size_t i = 0; i < sizeof ro_paths / sizeof *ro_paths; i++)
    if (mount(ro_paths[i], ro_paths[i], NULL, MS_BIND | MS_REC, NULL) == 0)
      mount(NULL, ro_paths[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);

  if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0) die_setup("sethostname: %s", strerror(errno));
}
