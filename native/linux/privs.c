/*
 * The command's own process, just before exec: its terminal, resource limits, bounding set and
 * ids (the image's user), the kept capabilities, no_new_privs, working directory, environment.
 */
#include "linux.h"
#include "../common/fs.h"
#include "../common/selfpipe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

static int cap_last(void) {
  static int last = -1;
  if (last >= 0) return last;
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  char b[16] = { 0 };
  if (fd >= 0) { ssize_t r = read(fd, b, sizeof b - 1); (void)r; close(fd); }
  last = atoi(b) > 0 ? atoi(b) : 40;
  return last;
}

static int keep_cap(const struct plan *p, int c) {
  if (!p->caps_given) return 1;
  for (int i = 0; i < p->ncaps; i++) if (p->caps[i] == c) return 1;
  return 0;
}

static void drop_privileges(const struct plan *p, const struct ids *id) {
  int last = cap_last();
  for (int c = 0; c <= last; c++)
    if (!keep_cap(p, c) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      die_setup("drop capability %d: %s", c, strerror(errno));
  if (setgroups((size_t)id->ngroups, id->groups) < 0) die_setup("setgroups: %s", strerror(errno));
  if (setresgid(id->gid, id->gid, id->gid) < 0) die_setup("setgid %u: %s", id->gid, strerror(errno));
  if (setresuid(id->uid, id->uid, id->uid) < 0) die_setup("setuid %u: %s", id->uid, strerror(errno));
  if (id->uid == 0 && p->caps_given) {
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    for (int i = 0; i < p->ncaps; i++) {
      int c = p->caps[i];
      if (c < 0 || c > last) continue;
      d[c / 32].effective |= 1u << (c % 32);
      d[c / 32].permitted |= 1u << (c % 32);
      d[c / 32].inheritable |= 1u << (c % 32);
    }
    if (syscall(SYS_capset, &h, d) < 0) die_setup("capset: %s", strerror(errno));
  }
  if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die_setup("no_new_privs: %s", strerror(errno));
}


char **command_env(const struct plan *p, const struct ids *id) {
  static char *env[MAX_ITEMS + 8];
  static char home[4096 + 8], hn[300];
  int n = 0, has_path = 0, has_home = 0, has_host = 0;
  for (int i = 0; i < p->nenv; i++) {
    if (!strncmp(p->env[i], "PATH=", 5)) has_path = 1;
    if (!strncmp(p->env[i], "HOME=", 5)) has_home = 1;
    if (!strncmp(p->env[i], "HOSTNAME=", 9)) has_host = 1;
    env[n++] = (char *)p->env[i];
  }
  if (!has_path) env[n++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (!has_home) { snprintf(home, sizeof home, "HOME=%s", id->found_home ? id->home : "/"); env[n++] = home; }
  if (!has_host && p->hostname) { snprintf(hn, sizeof hn, "HOSTNAME=%s", p->hostname); env[n++] = hn; }
  env[n] = NULL;
  return env;
}

_Noreturn void exec_command(const struct plan *p, int slave, const struct ids *id) {
  signals_default();
  prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  if (slave >= 0) {
    setsid();
    if (ioctl(slave, TIOCSCTTY, 0) < 0) die_setup("set controlling terminal: %s", strerror(errno));
    dup2(slave, 0); dup2(slave, 1); dup2(slave, 2);
    if (slave > 2) close(slave);
  } else {
    /* its own process group, so a terminal's ^C reaches it once, through the forwarding */
    setpgid(0, 0);
  }
  if (p->nofile > 0) {
    struct rlimit rl = { (rlim_t)p->nofile, (rlim_t)p->nofile };
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) die_setup("RLIMIT_NOFILE %ld: %s", p->nofile, strerror(errno));
  }
  drop_privileges(p, id);
  const char *cwd = p->cwd && *p->cwd ? p->cwd : "/";
  if (chdir(cwd) < 0) {
    if (!(errno == ENOENT && mkdir_p(cwd, 0755) == 0 && chdir(cwd) == 0)) die_setup("working directory %s: %s", cwd, strerror(errno));
  }
  environ = command_env(p, id); /* execvp searches the container's PATH */
  if (chan_fd >= 0) fcntl(chan_fd, F_SETFD, FD_CLOEXEC);
  execvp(p->argv[0], (char *const *)p->argv);
  int e = errno;
  if (e == ENOENT) { chan_say("notfound %s: no such file or directory in the container", p->argv[0]); _exit(127); }
  chan_say("cannotrun %s: %s", p->argv[0], strerror(e));
  _exit(126);
}
