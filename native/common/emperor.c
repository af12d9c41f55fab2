/* emperor.h: the protocol bytes. */
#include "emperor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int emperor_fd_from_env(void) {
  const char *raw = getenv("UWSGI_EMPEROR_FD");
  if (!raw || !*raw) return -1;
  char *end = NULL;
  long fd = strtol(raw, &end, 10);
  if (*end || fd < 3 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0) return -1;
  fcntl((int)fd, F_SETFD, FD_CLOEXEC);
  fcntl((int)fd, F_SETFL, fcntl((int)fd, F_GETFL) | O_NONBLOCK);
  /* uWSGI must not see this in the container's environment, nor the command its number. */
  unsetenv("UWSGI_EMPEROR_FD");
  return (int)fd;
}

enum emperor_command emperor_decode(unsigned char byte) {
  if (byte == 0 || byte == 2) return EMPEROR_STOP;
  if (byte == 1) return EMPEROR_RELOAD;
  return EMPEROR_NONE;
}

void emperor_send(int fd, unsigned char byte) {
  if (fd < 0) return;
  for (;;) {
    ssize_t w = send(fd, &byte, 1, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    return;
  }
}
