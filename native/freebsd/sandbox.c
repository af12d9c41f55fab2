/*
 * Capsicum for the monitor (capsicum(4), cap_rights_limit(2), cap_enter(2), rights(4)). Each
 * descriptor it keeps is limited to its use before it enters capability mode, where "access to
 * global name spaces, such as file system or IPC name spaces, is prevented" (cap_enter(2)): a
 * monitor taken over by what it reads (the plan, the service's replies, the Emperor's bytes) can
 * then open no file, connect nowhere, execute nothing, and write only through what it holds.
 */
#ifndef __FreeBSD__
#define _DEFAULT_SOURCE 1
#endif
#include "freebsd.h"

#include <errno.h>
#include <sys/capsicum.h>

int limit_fd(int fd, enum fd_kind kind) {
  cap_rights_t r;
  switch (kind) {
  case FD_DIR:
    /* the status record: openat(O_CREAT|O_TRUNC) + write + renameat over the old one; the stop
     * marker: faccessat + openat(O_RDONLY) + read. The files opened through it get these rights. */
    cap_rights_init(&r, CAP_LOOKUP, CAP_CREATE, CAP_READ, CAP_WRITE, CAP_SEEK, CAP_FTRUNCATE, CAP_FSTAT,
                    CAP_FSTATAT, CAP_RENAMEAT_SOURCE, CAP_RENAMEAT_TARGET, CAP_UNLINKAT);
    break;
  case FD_STREAM: /* the Emperor's socket, vessel up's, the starter's: lines both ways, polled */
    cap_rights_init(&r, CAP_READ, CAP_WRITE, CAP_EVENT, CAP_FCNTL, CAP_FSTAT, CAP_SHUTDOWN);
    break;
  case FD_READ:
    cap_rights_init(&r, CAP_READ, CAP_EVENT, CAP_FSTAT);
    break;
  case FD_WRITE:
    cap_rights_init(&r, CAP_WRITE, CAP_EVENT, CAP_FSTAT);
    break;
  case FD_KQUEUE:
    cap_rights_init(&r, CAP_KQUEUE, CAP_EVENT);
    break;
  case FD_PROCDESC: /* pdkill(2), and kevent(2) EVFILT_PROCDESC, which needs CAP_EVENT */
    cap_rights_init(&r, CAP_PDKILL, CAP_EVENT, CAP_FSTAT);
    break;
  case FD_FILE: /* a plan handed over: pread(2) from its start, fstat(2) for its size */
    cap_rights_init(&r, CAP_READ, CAP_SEEK, CAP_FSTAT);
    break;
  default:
    errno = EINVAL;
    return -1;
  }
  return cap_rights_limit(fd, &r);
}

int enter_capability_mode(void) {
  return cap_enter();
}
