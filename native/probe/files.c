/*
 * Steps about the container's files (its volumes):
 *   read PATH         "read PATH CONTENT" (newlines shown as \n), or "read PATH error ENAME"
 *   write PATH TEXT   create or truncate PATH with TEXT: "write PATH ok" or "write PATH error ENAME"
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"

static void read_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    report("read %s error %s", path, errno_name(errno));
    return;
  }
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int e = errno;
  close(fd);
  if (n < 0) {
    report("read %s error %s", path, errno_name(e));
    return;
  }
  char shown[2048];
  size_t o = 0;
  for (ssize_t i = 0; i < n && o + 2 < sizeof shown; i++) {
    if (buf[i] == '\n') { shown[o++] = '\\'; shown[o++] = 'n'; }
    else shown[o++] = buf[i];
  }
  shown[o] = '\0';
  report("read %s %s", path, shown);
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    report("write %s error %s", path, errno_name(errno));
    return;
  }
  size_t len = strlen(text);
  ssize_t w = write(fd, text, len);
  int e = errno;
  if (close(fd) < 0 && w >= 0) { w = -1; e = errno; }
  if (w < 0 || (size_t)w != len) report("write %s error %s", path, errno_name(w < 0 ? e : ENOSPC));
  else report("write %s ok", path);
}

int step_files(const char *verb, int argc, char **argv) {
  if (!strcmp(verb, "read")) {
    if (argc != 1) return -1;
    read_file(argv[0]);
    return 0;
  }
  if (!strcmp(verb, "write")) {
    if (argc != 2) return -1;
    write_file(argv[0], argv[1]);
    return 0;
  }
  return STEP_UNKNOWN;
}
