/* Writes to the unpacker (feed.h). */
#include "feed.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

void *feed_memory(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void feed_memory_free(void *p, size_t size) {
  if (p) munmap(p, size);
}

void feed_open(struct feed *f, int fd) {
  f->fd = fd;
  f->zero_copy = 0;
  f->reserve = 0;
  f->full = 0;
  /* Never block on the unpacker: poll says when its pipe takes more. */
  (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
#if defined(__linux__) && defined(F_GETPIPE_SZ)
  int cap = fcntl(fd, F_GETPIPE_SZ);
  if (cap > 0 && (size_t)cap <= FEED_RESERVE_MAX) {
    f->zero_copy = 1;
    f->reserve = (size_t)cap;
  }
#endif
}

static ssize_t push(struct feed *f, const struct iovec *v, int n) {
#if defined(__linux__) && defined(SPLICE_F_NONBLOCK)
  if (f->zero_copy) {
    ssize_t k = vmsplice(f->fd, v, (unsigned long)n, SPLICE_F_NONBLOCK);
    if (k >= 0 || (errno != EINVAL && errno != ENOSYS && errno != EPERM)) return k;
    /* Refused (a seccomp filter, an old kernel): copy from now on; the reserve stays, for the pages already in the pipe. */
    f->zero_copy = 0;
  }
#endif
  return writev(f->fd, v, n);
}

ssize_t feed_push(struct feed *f, const struct iovec *v, int n) {
  size_t want = 0;
  for (int i = 0; i < n; i++) want += v[i].iov_len;
  ssize_t k = push(f, v, n);
  f->full = (k < 0 && errno == EAGAIN) || (k >= 0 && (size_t)k < want);
  return k;
}
