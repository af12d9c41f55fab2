/*
 * vessel-init — the native half of vessel's Linux runtime.
 *
 *   vessel-init run  CONFIG     create a container and be its init
 *   vessel-init exec CONFIG     run a command inside a running container
 *
 * Why native: a container start done by a chain of mount/mknod/unshare processes costs ~200 ms;
 * one process doing the syscalls costs ~10 ms. And Node cannot be a container's pid 1: libuv
 * reaps only the children it spawned, so orphans would stay zombies.
 *
 * CONFIG is written by the Node side (src/runtime/linux/initconf.ts): a sequence of records, each
 * a key followed by a fixed number of fields, every token NUL-terminated. No quoting, no parsing
 * ambiguity, any byte but NUL allowed in paths and values.
 *
 * Process layout of `run`:
 *   P0 (this process, child of the supervisor): PDEATHSIG=SIGKILL so a killed supervisor takes the
 *      container with it; joins the container's cgroups; unshares mount/uts/ipc/net/pid; forks P1;
 *      relays the pty if any; forwards signals to P1; exits with P1's status.
 *   P1 (pid 1 of the new pid namespace): mounts the root (overlay), /proc, /dev, /sys, volumes,
 *      pivots into it, reports "ready" on fd 3, optionally waits for "go" (network plumbing), forks
 *      the main command P2, then reaps every process. Jail semantics: it exits when *no* process is
 *      left in the container (wait=all) or when the main command exits (wait=main); the kernel kills
 *      whatever remains in the namespace when P1 exits. Its exit code is the main command's.
 *
 * fd 3 is a socketpair to the supervisor: "pid N", "ready", "main-exit CODE", "error MSG" lines go
 * up; "go" comes down. It is close-on-exec in the command.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define STATUS_FD 3
#define OLDROOT "/.vessel-oldroot"
#define MAX_ITEMS 256

/* ---------- configuration ---------- */

struct bind { const char *src, *dst; int ro; int fd; };
struct tmpfs { const char *dst, *size, *mode; };

static struct {
  long ppid;
  const char *cgroups[16]; int ncgroups;
  const char *rootfs, *upper, *work, *scratch;
  const char *lowers[MAX_ITEMS]; int nlowers;
  const char *hostname;
  struct bind binds[64]; int nbinds;
  struct tmpfs tmpfss[32]; int ntmpfs;
  const char *env[MAX_ITEMS + 8]; int nenv;
  const char *argv[MAX_ITEMS + 1]; int nargv;
  const char *cwd, *user;
  int wait_main, tty, net_host, sync, nnp;
  long nofile;
  int caps[64]; int ncaps; int caps_given;
  long target; /* exec: host pid of the container's init */
} C = { .nnp = 1, .nofile = -1 };

static char *cfgbuf;

static void die_status(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void status(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  ssize_t w = write(STATUS_FD, buf, (size_t)n);
  (void)w;
}

/* Setup failed: tell the supervisor why (one line) and exit 125, docker's "the runtime failed". */
static void die_status(const char *fmt, ...) {
  char buf[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  status("error %s", buf);
  _exit(125);
}

static void load_config(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die_status("cannot open init config %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0) die_status("stat %s: %s", path, strerror(errno));
  cfgbuf = malloc((size_t)st.st_size + 1);
  if (!cfgbuf) die_status("out of memory");
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, cfgbuf + got, (size_t)st.st_size - got);
    if (r <= 0) die_status("read %s: %s", path, r < 0 ? strerror(errno) : "short read");
    got += (size_t)r;
  }
  close(fd);
  cfgbuf[got] = 0;
  char *p = cfgbuf, *end = cfgbuf + got;
#define NEXT() ({ if (p >= end) die_status("init config truncated"); char *_t = p; p += strlen(p) + 1; _t; })
  while (p < end) {
    char *k = NEXT();
    if (!strcmp(k, "ppid")) C.ppid = atol(NEXT());
    else if (!strcmp(k, "cgroup")) { if (C.ncgroups < 16) C.cgroups[C.ncgroups++] = NEXT(); else NEXT(); }
    else if (!strcmp(k, "rootfs")) C.rootfs = NEXT();
    else if (!strcmp(k, "lower")) { if (C.nlowers >= MAX_ITEMS) die_status("too many layers"); C.lowers[C.nlowers++] = NEXT(); }
    else if (!strcmp(k, "upper")) C.upper = NEXT();
    else if (!strcmp(k, "work")) C.work = NEXT();
    else if (!strcmp(k, "scratch")) C.scratch = NEXT();
    else if (!strcmp(k, "hostname")) C.hostname = NEXT();
    else if (!strcmp(k, "bind")) {
      if (C.nbinds >= 64) die_status("too many volumes");
      struct bind *b = &C.binds[C.nbinds++];
      b->src = NEXT(); b->dst = NEXT(); b->ro = !strcmp(NEXT(), "ro"); b->fd = -1;
    } else if (!strcmp(k, "tmpfs")) {
      if (C.ntmpfs >= 32) die_status("too many tmpfs volumes");
      struct tmpfs *t = &C.tmpfss[C.ntmpfs++];
      t->dst = NEXT(); t->size = NEXT(); t->mode = NEXT();
    } else if (!strcmp(k, "env")) { if (C.nenv >= MAX_ITEMS) die_status("too many env"); C.env[C.nenv++] = NEXT(); }
    else if (!strcmp(k, "arg")) { if (C.nargv >= MAX_ITEMS) die_status("too many args"); C.argv[C.nargv++] = NEXT(); }
    else if (!strcmp(k, "cwd")) C.cwd = NEXT();
    else if (!strcmp(k, "user")) C.user = NEXT();
    else if (!strcmp(k, "wait")) C.wait_main = !strcmp(NEXT(), "main");
    else if (!strcmp(k, "tty")) C.tty = atoi(NEXT());
    else if (!strcmp(k, "net")) C.net_host = !strcmp(NEXT(), "host");
    else if (!strcmp(k, "sync")) C.sync = atoi(NEXT());
    else if (!strcmp(k, "nnp")) C.nnp = atoi(NEXT());
    else if (!strcmp(k, "nofile")) C.nofile = atol(NEXT());
    else if (!strcmp(k, "cap")) { C.caps_given = 1; if (C.ncaps < 64) C.caps[C.ncaps++] = atoi(NEXT()); else NEXT(); }
    else if (!strcmp(k, "nocaps")) { C.caps_given = 1; NEXT(); }
    else if (!strcmp(k, "target")) C.target = atol(NEXT());
    else die_status("init config: unknown key %s", k);
  }
#undef NEXT
  C.argv[C.nargv] = NULL;
  if (C.nargv == 0) die_status("no command to run");
}

/* ---------- small helpers ---------- */

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  int e = errno;
  close(fd);
  errno = e;
  return n < 0 ? -1 : 0;
}

static void join_cgroups(pid_t pid) {
  char path[PATH_MAX], num[32];
  snprintf(num, sizeof num, "%d", (int)pid);
  for (int i = 0; i < C.ncgroups; i++) {
    snprintf(path, sizeof path, "%s/cgroup.procs", C.cgroups[i]);
    if (write_file(path, num) < 0) die_status("cannot join cgroup %s: %s", C.cgroups[i], strerror(errno));
  }
}

/* mkdir -p, inside the current root (after pivot_root, symlinks resolve within the container). */
static int mkdir_p(const char *path, mode_t mode) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) { errno = ENAMETOOLONG; return -1; }
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
  return 0;
}

static void parent_dir(const char *path, char *out, size_t n) {
  snprintf(out, n, "%s", path);
  char *s = strrchr(out, '/');
  if (s && s != out) *s = 0; else snprintf(out, n, "/");
}

static volatile sig_atomic_t pending[65];
static int sigpipe_fds[2] = { -1, -1 };

static void on_signal(int sig) {
  if (sig > 0 && sig < 65) pending[sig] = 1;
  int e = errno;
  if (sigpipe_fds[1] >= 0) { char c = (char)sig; ssize_t w = write(sigpipe_fds[1], &c, 1); (void)w; }
  errno = e;
}

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM };

static void install_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  /* no SA_RESTART: waitpid/poll must return EINTR so signals are forwarded at once */
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &sa, NULL);
  sigaction(SIGCHLD, &sa, NULL);
}

static void reset_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < 65; s++) if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

static int exit_code_of(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 125;
}

/* ---------- pty relay (the outer process) ---------- */

static struct termios saved_tio;
static int tio_saved;

static void restore_tty(void) {
  if (tio_saved) tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
}

static int open_pty(int *master, int *slave) {
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) return -1;
  if (grantpt(m) < 0 || unlockpt(m) < 0) { close(m); return -1; }
  char *name = ptsname(m);
  if (!name) { close(m); return -1; }
  int s = open(name, O_RDWR | O_NOCTTY);
  if (s < 0) { close(m); return -1; }
  struct winsize ws;
  if (isatty(STDIN_FILENO) && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) ioctl(m, TIOCSWINSZ, &ws);
  *master = m;
  *slave = s;
  return 0;
}

static void make_raw(void) {
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) < 0) return;
  tio_saved = 1;
  atexit(restore_tty);
  struct termios raw = saved_tio;
  cfmakeraw(&raw);
  tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
}

static int write_all(int fd, const char *buf, ssize_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, (size_t)n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    buf += w; n -= w;
  }
  return 0;
}

/*
 * Wait for `child`, forwarding signals to it and relaying between our stdio and the pty master.
 * Returns the child's wait status.
 */
static int supervise_child(pid_t child, int master) {
  int st = 0, done = 0, stdin_open = master >= 0;
  char buf[16384];
  while (!done) {
    struct pollfd pf[3];
    int n = 0;
    pf[n].fd = sigpipe_fds[0]; pf[n].events = POLLIN; n++;
    int im = -1, ii = -1;
    if (master >= 0) { im = n; pf[n].fd = master; pf[n].events = POLLIN; n++; }
    if (stdin_open) { ii = n; pf[n].fd = STDIN_FILENO; pf[n].events = POLLIN; n++; }
    int r = poll(pf, (nfds_t)n, -1);
    if (r < 0 && errno != EINTR) break;
    if (r > 0 && (pf[0].revents & POLLIN)) { char tmp[64]; ssize_t rr = read(sigpipe_fds[0], tmp, sizeof tmp); (void)rr; }
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
      int s = forwarded[i];
      if (!pending[s]) continue;
      pending[s] = 0;
      if (s == SIGWINCH && master >= 0) {
        struct winsize ws;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
      }
      kill(child, s);
    }
    if (im >= 0 && r > 0 && (pf[im].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = read(master, buf, sizeof buf);
      if (got > 0) write_all(STDOUT_FILENO, buf, got);
      else if (got < 0 && errno == EINTR) {}
      else { close(master); master = -1; stdin_open = 0; } /* EIO: every slave closed */
    }
    if (ii >= 0 && r > 0 && (pf[ii].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
      if (got > 0 && master >= 0) write_all(master, buf, got);
      else if (got <= 0 && !(got < 0 && errno == EINTR)) {
        stdin_open = 0; /* no more input; the command keeps its terminal, as with docker -t */
      }
    }
    for (;;) {
      pid_t w = waitpid(child, &st, WNOHANG);
      if (w == child) { done = 1; break; }
      if (w <= 0) break;
    }
  }
  if (master >= 0) {
    /* drain what the command wrote just before it exited */
    int fl = fcntl(master, F_GETFL);
    fcntl(master, F_SETFL, fl | O_NONBLOCK);
    for (;;) { ssize_t got = read(master, buf, sizeof buf); if (got <= 0) break; write_all(STDOUT_FILENO, buf, got); }
  }
  return st;
}

/* The terminal is allocated from the container's own devpts instance (so `tty` names a device that
 * exists inside) and its master end is handed to the outer process over a socketpair. */
static int send_fd(int sock, int fd) {
  char byte = 'T';
  struct iovec iov = { &byte, 1 };
  char ctl[CMSG_SPACE(sizeof(int))];
  memset(ctl, 0, sizeof ctl);
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sock, &mh, 0) < 0 ? -1 : 0;
}

static int recv_fd(int sock) {
  char byte;
  struct iovec iov = { &byte, 1 };
  char ctl[CMSG_SPACE(sizeof(int))];
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
  for (;;) {
    ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    break;
  }
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

/* ---------- container root ---------- */

static void mount_or_die(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  if (mount(src, dst, type, flags, data) < 0)
    die_status("mount %s on %s (%s): %s", src ? src : "none", dst, type ? type : "bind", strerror(errno));
}

static void make_dev_node(const char *name, mode_t mode, unsigned maj, unsigned min) {
  char path[64];
  snprintf(path, sizeof path, "/dev/%s", name);
  if (mknod(path, S_IFCHR | mode, makedev(maj, min)) < 0 && errno != EEXIST) die_status("mknod %s: %s", path, strerror(errno));
  chmod(path, mode); /* mknod honours the umask */
}

static void setup_root(int ptysock, int *slave_out) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die_status("make / private: %s", strerror(errno));

  char upper[PATH_MAX], work[PATH_MAX];
  if (C.scratch) {
    /* --rm: the writable layer lives in memory and vanishes with the mount namespace. */
    mount_or_die("tmpfs", C.scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700");
    snprintf(upper, sizeof upper, "%s/upper", C.scratch);
    snprintf(work, sizeof work, "%s/work", C.scratch);
    if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0) die_status("scratch layer: %s", strerror(errno));
  } else {
    if (!C.upper || !C.work) die_status("no writable layer configured");
    snprintf(upper, sizeof upper, "%s", C.upper);
    snprintf(work, sizeof work, "%s", C.work);
  }
  if (C.nlowers == 0) die_status("image has no layers");
  /* overlayfs lists lower layers top first; vessel records them base first. */
  size_t cap = 64 + strlen(upper) + strlen(work);
  for (int i = 0; i < C.nlowers; i++) cap += strlen(C.lowers[i]) + 1;
  char *opts = malloc(cap + 64);
  if (!opts) die_status("out of memory");
  char *o = opts;
  o += sprintf(o, "lowerdir=");
  for (int i = C.nlowers - 1; i >= 0; i--) o += sprintf(o, "%s%s", C.lowers[i], i ? ":" : "");
  sprintf(o, ",upperdir=%s,workdir=%s", upper, work);
  if (strlen(opts) >= 4096) die_status("too many image layers for one overlay mount (%d)", C.nlowers);
  mount_or_die("overlay", C.rootfs, "overlay", 0, opts);
  free(opts);

  /* Open volume sources now, on the host's tree: after pivot_root an absolute symlink in a host
   * path would resolve inside the container instead. */
  for (int i = 0; i < C.nbinds; i++) {
    C.binds[i].fd = open(C.binds[i].src, O_PATH | O_CLOEXEC);
    if (C.binds[i].fd < 0) die_status("volume %s: %s", C.binds[i].src, strerror(errno));
  }

  if (chdir(C.rootfs) < 0) die_status("chdir %s: %s", C.rootfs, strerror(errno));
  /* The old root stays attached under OLDROOT until the volumes are bound: a bind mount's source
   * must be a mount of this namespace, and the O_PATH fds above point into the old root. */
  if (mkdir(OLDROOT + 1, 0700) < 0) die_status("cannot create %s in the container root: %s", OLDROOT, strerror(errno));
  if (syscall(SYS_pivot_root, ".", OLDROOT + 1) < 0) die_status("pivot_root: %s", strerror(errno));
  if (chdir("/") < 0) die_status("chdir /: %s", strerror(errno));

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
  if (symlink("pts/ptmx", "/dev/ptmx") < 0 && errno != EEXIST) die_status("symlink /dev/ptmx: %s", strerror(errno));
  symlink("/proc/self/fd", "/dev/fd");
  symlink("/proc/self/fd/0", "/dev/stdin");
  symlink("/proc/self/fd/1", "/dev/stdout");
  symlink("/proc/self/fd/2", "/dev/stderr");
  if (ptysock >= 0) {
    int master, slave;
    if (open_pty(&master, &slave) < 0) die_status("cannot allocate a terminal in the container: %s", strerror(errno));
    int fd = open("/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
    char *name = ptsname(master);
    if (name) mount(name, "/dev/console", NULL, MS_BIND, NULL); /* best effort: programs that open /dev/console */
    if (send_fd(ptysock, master) < 0) die_status("cannot pass the terminal: %s", strerror(errno));
    close(master);
    close(ptysock);
    *slave_out = slave;
  }

  mkdir_p("/sys", 0555);
  if (C.net_host) {
    /* sysfs can only be mounted fresh in a network namespace we own */
    if (mount(OLDROOT "/sys", "/sys", NULL, MS_BIND | MS_REC, NULL) == 0)
      mount(NULL, "/sys", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);
  } else {
    mount_or_die("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  }

  for (int i = 0; i < C.nbinds; i++) {
    struct bind *b = &C.binds[i];
    struct stat st;
    if (fstat(b->fd, &st) < 0) die_status("volume %s: %s", b->src, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
      if (mkdir_p(b->dst, 0755) < 0) die_status("volume target %s: %s", b->dst, strerror(errno));
    } else {
      char dir[PATH_MAX];
      parent_dir(b->dst, dir, sizeof dir);
      if (mkdir_p(dir, 0755) < 0) die_status("volume target %s: %s", b->dst, strerror(errno));
      int fd = open(b->dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) die_status("volume target %s: %s", b->dst, strerror(errno));
      close(fd);
    }
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", b->fd);
    mount_or_die(p, b->dst, NULL, MS_BIND | MS_REC, NULL);
    if (b->ro) mount_or_die(NULL, b->dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);
    close(b->fd);
  }
  for (int i = 0; i < C.ntmpfs; i++) {
    struct tmpfs *t = &C.tmpfss[i];
    char data[128];
    if (mkdir_p(t->dst, 0755) < 0) die_status("tmpfs target %s: %s", t->dst, strerror(errno));
    snprintf(data, sizeof data, "mode=%s%s%s", *t->mode ? t->mode : "1777", *t->size ? ",size=" : "", t->size);
    mount_or_die("tmpfs", t->dst, "tmpfs", MS_NOSUID | MS_NODEV, data);
  }

  if (umount2(OLDROOT, MNT_DETACH) < 0) die_status("detach old root: %s", strerror(errno));
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

  if (C.hostname && sethostname(C.hostname, strlen(C.hostname)) < 0) die_status("sethostname: %s", strerror(errno));

  if (!C.net_host) {
    /* A fresh network namespace has lo down. */
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s >= 0) {
      struct ifreq ifr;
      memset(&ifr, 0, sizeof ifr);
      strcpy(ifr.ifr_name, "lo");
      if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ioctl(s, SIOCSIFFLAGS, &ifr);
      }
      close(s);
    }
  }
}

/* ---------- user, capabilities ---------- */

struct ids { uid_t uid; gid_t gid; gid_t groups[64]; int ngroups; char home[PATH_MAX]; int found_home; };

static int all_digits(const char *s) { if (!*s) return 0; for (; *s; s++) if (*s < '0' || *s > '9') return 0; return 1; }

/* Parse the image's own /etc/passwd and /etc/group: NSS modules of the host cannot be used
 * inside the container's root. */
static void resolve_user(struct ids *id) {
  memset(id, 0, sizeof *id);
  char spec[256];
  snprintf(spec, sizeof spec, "%s", C.user && *C.user ? C.user : "0");
  char *grp = strchr(spec, ':');
  if (grp) *grp++ = 0;
  int have_gid = 0;
  char line[2048];
  FILE *f = fopen("/etc/passwd", "re");
  int found = 0;
  if (f) {
    while (fgets(line, sizeof line, f)) {
      char *fields[7]; int n = 0; char *save = line;
      for (char *t; n < 7 && (t = strsep(&save, ":")); ) fields[n++] = t;
      if (n < 7) continue;
      fields[6][strcspn(fields[6], "\n")] = 0;
      int match = all_digits(spec) ? (atol(fields[2]) == atol(spec)) : !strcmp(fields[0], spec);
      if (!match) continue;
      id->uid = (uid_t)atol(fields[2]);
      id->gid = (gid_t)atol(fields[3]);
      snprintf(id->home, sizeof id->home, "%s", fields[5]);
      id->found_home = 1;
      have_gid = 1;
      found = 1;
      /* supplementary groups of that user */
      FILE *g = fopen("/etc/group", "re");
      if (g) {
        char gl[4096];
        while (fgets(gl, sizeof gl, g) && id->ngroups < 64) {
          char *gf[4]; int gn = 0; char *gs = gl;
          for (char *t; gn < 4 && (t = strsep(&gs, ":")); ) gf[gn++] = t;
          if (gn < 4) continue;
          gf[3][strcspn(gf[3], "\n")] = 0;
          for (char *m, *ms = gf[3]; (m = strsep(&ms, ",")); )
            if (!strcmp(m, fields[0])) { id->groups[id->ngroups++] = (gid_t)atol(gf[2]); break; }
        }
        fclose(g);
      }
      break;
    }
    fclose(f);
  }
  if (!found) {
    if (!all_digits(spec)) die_status("user \"%s\" not found in the image's /etc/passwd", spec);
    id->uid = (uid_t)atol(spec);
    id->gid = id->uid == 0 ? 0 : id->uid;
  }
  if (grp && *grp) {
    if (all_digits(grp)) id->gid = (gid_t)atol(grp);
    else {
      int gfound = 0;
      FILE *g = fopen("/etc/group", "re");
      if (g) {
        while (fgets(line, sizeof line, g)) {
          char *gf[4]; int gn = 0; char *gs = line;
          for (char *t; gn < 4 && (t = strsep(&gs, ":")); ) gf[gn++] = t;
          if (gn >= 3 && !strcmp(gf[0], grp)) { id->gid = (gid_t)atol(gf[2]); gfound = 1; break; }
        }
        fclose(g);
      }
      if (!gfound) die_status("group \"%s\" not found in the image's /etc/group", grp);
    }
    id->ngroups = 0;
  }
  (void)have_gid;
}

static int cap_last(void) {
  static int last = -1;
  if (last >= 0) return last;
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  char b[16] = {0};
  if (fd >= 0) { ssize_t r = read(fd, b, sizeof b - 1); (void)r; close(fd); }
  last = atoi(b) > 0 ? atoi(b) : 40;
  return last;
}

static int keep_cap(int c) {
  if (!C.caps_given) return 1;
  for (int i = 0; i < C.ncaps; i++) if (C.caps[i] == c) return 1;
  return 0;
}

/* Runs in the command's process, as root, just before exec: bounding set, ids, capabilities. */
static void drop_privileges(const struct ids *id) {
  int last = cap_last();
  for (int c = 0; c <= last; c++)
    if (!keep_cap(c) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      die_status("drop capability %d: %s", c, strerror(errno));
  if (setgroups((size_t)id->ngroups, id->groups) < 0) die_status("setgroups: %s", strerror(errno));
  if (setresgid(id->gid, id->gid, id->gid) < 0) die_status("setgid %u: %s", id->gid, strerror(errno));
  if (setresuid(id->uid, id->uid, id->uid) < 0) die_status("setuid %u: %s", id->uid, strerror(errno));
  if (id->uid == 0 && C.caps_given) {
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    for (int i = 0; i < C.ncaps; i++) {
      int c = C.caps[i];
      if (c < 0 || c > last) continue;
      d[c / 32].effective |= 1u << (c % 32);
      d[c / 32].permitted |= 1u << (c % 32);
      d[c / 32].inheritable |= 1u << (c % 32);
    }
    if (syscall(SYS_capset, &h, d) < 0) die_status("capset: %s", strerror(errno));
  }
  if (C.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die_status("no_new_privs: %s", strerror(errno));
}

static void apply_rlimits(void) {
  if (C.nofile > 0) {
    struct rlimit rl = { (rlim_t)C.nofile, (rlim_t)C.nofile };
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) die_status("RLIMIT_NOFILE %ld: %s", C.nofile, strerror(errno));
  }
}

/* Build the command's environment: the configured one, plus PATH and HOME defaults. */
static char **command_env(const struct ids *id) {
  static char *env[MAX_ITEMS + 8];
  static char home[PATH_MAX + 8];
  int n = 0, has_path = 0, has_home = 0, has_host = 0;
  for (int i = 0; i < C.nenv; i++) {
    if (!strncmp(C.env[i], "PATH=", 5)) has_path = 1;
    if (!strncmp(C.env[i], "HOME=", 5)) has_home = 1;
    if (!strncmp(C.env[i], "HOSTNAME=", 9)) has_host = 1;
    env[n++] = (char *)C.env[i];
  }
  if (!has_path) env[n++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (!has_home) { snprintf(home, sizeof home, "HOME=%s", id->found_home ? id->home : "/"); env[n++] = home; }
  static char hn[300];
  if (!has_host && C.hostname) { snprintf(hn, sizeof hn, "HOSTNAME=%s", C.hostname); env[n++] = hn; }
  env[n] = NULL;
  return env;
}

/* The command's process: controlling terminal, privileges, cwd, exec. Never returns. */
static void exec_command(int slave, const struct ids *id) {
  reset_handlers();
  prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  if (slave >= 0) {
    setsid();
    if (ioctl(slave, TIOCSCTTY, 0) < 0) die_status("set controlling terminal: %s", strerror(errno));
    dup2(slave, 0); dup2(slave, 1); dup2(slave, 2);
    if (slave > 2) close(slave);
  } else {
    /* own process group, so a terminal's ^C reaches it through our forwarding, not twice */
    setpgid(0, 0);
  }
  apply_rlimits();
  drop_privileges(id);
  const char *cwd = C.cwd && *C.cwd ? C.cwd : "/";
  if (chdir(cwd) < 0) {
    if (errno == ENOENT && mkdir_p(cwd, 0755) == 0 && chdir(cwd) == 0) {}
    else die_status("working directory %s: %s", cwd, strerror(errno));
  }
  char **env = command_env(id);
  environ = env; /* execvp searches the container's PATH */
  fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC);
  execvp(C.argv[0], (char *const *)C.argv);
  int e = errno;
  if (e == ENOENT) { status("notfound %s: no such file or directory in the container", C.argv[0]); _exit(127); }
  status("cannotrun %s: %s", C.argv[0], strerror(e));
  _exit(126);
}

/* ---------- pid 1 of the container ---------- */

static int others_alive(void) {
  /* /proc is the container's own here: any pid but ours means a process is still running. */
  DIR *d = opendir("/proc");
  if (!d) return 0;
  struct dirent *e;
  int found = 0;
  while ((e = readdir(d))) {
    if (!all_digits(e->d_name)) continue;
    if (atoi(e->d_name) != 1) { found = 1; break; }
  }
  closedir(d);
  return found;
}

static void wait_for_go(void) {
  char buf[16];
  for (;;) {
    ssize_t r = read(STATUS_FD, buf, sizeof buf);
    if (r > 0) return;
    if (r < 0 && errno == EINTR) continue;
    _exit(125); /* supervisor gone */
  }
}

static int container_init(int ptysock) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  int slave = -1;
  setup_root(ptysock, &slave);
  struct ids id;
  resolve_user(&id);
  status("ready");
  if (C.sync) wait_for_go();

  install_handlers();
  pid_t main_pid = fork();
  if (main_pid < 0) die_status("fork: %s", strerror(errno));
  if (main_pid == 0) exec_command(slave, &id);
  if (slave >= 0) close(slave);

  int main_code = -1;
  for (;;) {
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
      int s = forwarded[i];
      if (!pending[s]) continue;
      pending[s] = 0;
      /* Once the main command is gone, a stop signal is meant for whatever still runs. */
      if (main_code < 0) kill(main_pid, s); else if (s != SIGWINCH) kill(-1, s);
    }
    int st;
    pid_t w = waitpid(-1, &st, 0);
    if (w == main_pid) {
      main_code = exit_code_of(st);
      status("main-exit %d", main_code);
      if (C.wait_main) return main_code;
      continue;
    }
    if (w > 0 || (w < 0 && errno == EINTR)) continue;
    if (w < 0 && errno == ECHILD) {
      /* No children, but `vessel exec` sessions are not our children: wait for them too. */
      if (!others_alive()) return main_code < 0 ? 125 : main_code;
      struct timespec ts = { 0, 50 * 1000 * 1000 };
      nanosleep(&ts, NULL);
    }
  }
}

static int cmd_run(void) {
  if (C.ppid > 0 && getppid() != (pid_t)C.ppid) _exit(125); /* supervisor died before we could tie to it */
  join_cgroups(getpid());

  int master = -1, socks[2] = { -1, -1 };
  if (C.tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socks) < 0) die_status("socketpair: %s", strerror(errno));

  int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID;
  if (!C.net_host) flags |= CLONE_NEWNET;
  if (unshare(flags) < 0) die_status("unshare: %s", strerror(errno));

  if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) die_status("pipe: %s", strerror(errno));
  install_handlers();
  pid_t init = fork();
  if (init < 0) die_status("fork: %s", strerror(errno));
  if (init == 0) {
    close(sigpipe_fds[0]); close(sigpipe_fds[1]); sigpipe_fds[0] = sigpipe_fds[1] = -1;
    if (socks[0] >= 0) close(socks[0]);
    _exit(container_init(socks[1]));
  }
  status("pid %d", (int)init);
  if (socks[0] >= 0) {
    close(socks[1]);
    master = recv_fd(socks[0]);
    close(socks[0]);
    if (master >= 0) {
      struct winsize ws;
      if (isatty(STDIN_FILENO) && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
      make_raw();
    }
    /* no master: init failed before allocating it and reports why on the status channel */
  }
  int st = supervise_child(init, master);
  restore_tty();
  return exit_code_of(st);
}

/* ---------- exec into a running container ---------- */

static int cmd_exec(void) {
  if (C.target <= 0) die_status("exec: no target container");
  char path[64];
  static const char *kinds[] = { "ipc", "uts", "net", "pid", "mnt" };
  int fds[5];
  for (int i = 0; i < 5; i++) {
    snprintf(path, sizeof path, "/proc/%ld/ns/%s", C.target, kinds[i]);
    fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) die_status("container init %ld: %s: %s", C.target, kinds[i], strerror(errno));
  }
  snprintf(path, sizeof path, "/proc/%ld/root", C.target);
  int rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die_status("container root: %s", strerror(errno));
  join_cgroups(getpid()); /* nsenter does not do this: the session is counted in the container's limits */

  for (int i = 0; i < 5; i++) {
    /* joining our own namespace (host network) is harmless; EINVAL only for mismatched types */
    if (setns(fds[i], 0) < 0) die_status("setns %s: %s", kinds[i], strerror(errno));
    close(fds[i]);
  }
  if (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0) die_status("enter container root: %s", strerror(errno));
  close(rootfd);
  int master = -1, slave = -1;
  if (C.tty && open_pty(&master, &slave) < 0) die_status("cannot allocate a terminal in the container: %s", strerror(errno));

  struct ids id;
  resolve_user(&id);
  if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) die_status("pipe: %s", strerror(errno));
  install_handlers();
  status("ready");
  pid_t child = fork(); /* the pid namespace applies to children only */
  if (child < 0) die_status("fork: %s", strerror(errno));
  if (child == 0) {
    if (master >= 0) close(master);
    exec_command(slave, &id);
  }
  if (slave >= 0) close(slave);
  status("pid %d", (int)child);
  if (master >= 0) make_raw();
  int st = supervise_child(child, master);
  restore_tty();
  return exit_code_of(st);
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[1], "run") && strcmp(argv[1], "exec"))) {
    fprintf(stderr, "usage: vessel-init run|exec CONFIG (started by vessel, not by hand)\n");
    return 125;
  }
  if (fcntl(STATUS_FD, F_GETFD) < 0) {
    /* no supervisor channel: report to /dev/null rather than into the container's fd 3 */
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0 && fd != STATUS_FD) { dup2(fd, STATUS_FD); close(fd); }
  }
  fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC);
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  load_config(argv[2]);
  return !strcmp(argv[1], "run") ? cmd_run() : cmd_exec();
}
