/* Entering a running container from the host: `vessel exec` and the health checks. */
#include "linux.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int enter_container(pid_t init, char *err, size_t errlen) {
  static const char *kinds[] = { "ipc", "uts", "net", "pid", "mnt" };
  char path[64];
  int fds[5];
  /* every descriptor first: once in its mount namespace, the host's /proc is out of reach */
  for (int i = 0; i < 5; i++) {
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)init, kinds[i]);
    if ((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
      snprintf(err, errlen, "container init %d: %s: %s", (int)init, kinds[i], strerror(errno));
      for (int j = 0; j < i; j++) close(fds[j]);
      return -1;
    }
  }
  snprintf(path, sizeof path, "/proc/%d/root", (int)init);
  int rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) {
    snprintf(err, errlen, "container root: %s", strerror(errno));
    for (int j = 0; j < 5; j++) close(fds[j]);
    return -1;
  }
  int bad = -1;
  for (int i = 0; i < 5; i++) {
    /* joining our own namespace (host network) is harmless */
    if (bad < 0 && setns(fds[i], 0) < 0) bad = i;
    close(fds[i]);
  }
  if (bad >= 0) { snprintf(err, errlen, "setns %s: %s", kinds[bad], strerror(errno)); close(rootfd); return -1; }
  int ok = fchdir(rootfd) == 0 && chroot(".") == 0 && chdir("/") == 0;
  int e = errno;
  close(rootfd);
  if (!ok) { snprintf(err, errlen, "enter container root: %s", strerror(e)); return -1; }
  return 0;
}
