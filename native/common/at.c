/* at.h: a directory held open for the files inside it. */
#include "at.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *held_dir_for(struct held_dir *d, const char *file) {
  const char *slash = strrchr(file, '/');
  if (!slash || !slash[1]) { errno = EINVAL; return NULL; }
  size_t len = slash == file ? 1 : (size_t)(slash - file);
  if (len >= sizeof d->path) { errno = ENAMETOOLONG; return NULL; }
  if (d->fd >= 0) {
    struct stat st;
    /* the same directory, still linked: keep it (a removed one is reopened while that is possible) */
    if (strlen(d->path) == len && !strncmp(d->path, file, len) && fstat(d->fd, &st) == 0 && st.st_nlink > 0) return slash + 1;
  }
  char dir[sizeof d->path];
  memcpy(dir, file, len);
  dir[len] = '\0';
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return d->fd >= 0 && !strcmp(d->path, dir) ? slash + 1 : NULL;
  if (d->fd >= 0) close(d->fd);
  d->fd = fd;
  memcpy(d->path, dir, len + 1);
  return slash + 1;
}
