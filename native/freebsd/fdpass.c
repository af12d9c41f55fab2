/*
 * One message with descriptors between the monitor and its starter: SCM_RIGHTS over a
 * SOCK_SEQPACKET unix socket (unix(4): "SOCK_SEQPACKET ... preserves message boundaries"), so a
 * request and its answer are one recvmsg(2) each and need no framing. A descriptor sent keeps the
 * capability rights it had in the sender (capsicum(4)).
 */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#endif
#include "freebsd.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int msg_send(int sock, const char *text, const int *fds, int nfds) {
  size_t len = strlen(text);
  if (len == 0 || len > MSG_MAX_TEXT || nfds < 0 || nfds > MSG_MAX_FDS) { errno = EINVAL; return -1; }
  struct iovec iov = { .iov_base = (void *)(uintptr_t)text, .iov_len = len };
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int) * MSG_MAX_FDS)]; } control;
  memset(&control, 0, sizeof control);
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (nfds > 0) {
    m.msg_control = control.buf;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
  }
  for (;;) {
    ssize_t w = sendmsg(sock, &m, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    return w == (ssize_t)len ? 0 : -1;
  }
}

ssize_t msg_recv(int sock, char *text, size_t len, int *fds, int *nfds, int maxfds, int flags) {
  struct iovec iov = { .iov_base = text, .iov_len = len - 1 };
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int) * 8)]; } control;
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
  if (nfds) *nfds = 0;
  ssize_t r;
  do r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | flags); while (r < 0 && errno == EINTR);
  if (r < 0) return -1;
  text[r] = '\0';
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (fds && nfds && *nfds < maxfds) fds[(*nfds)++] = fd;
      else close(fd);
    }
  }
  if (r > 0 && (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
    /* a cut message is refused whole: the descriptors that came with it are not the caller's */
    for (int i = 0; fds && nfds && i < *nfds; i++) close(fds[i]);
    if (nfds) *nfds = 0;
    errno = EMSGSIZE;
    return -1;
  }
  return r;
}
