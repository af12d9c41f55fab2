/* service.h: the line protocol's transport. */
#include "service.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int service_connect(struct service *s, const char *path, char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  s->fd = -1;
  struct sockaddr_un addr;
  if (strlen(path) >= sizeof addr.sun_path) { snprintf(err, errlen, "service socket path too long: %s", path); return -1; }
  /* through the OS half: a monitor in a sandbox cannot connect to a path itself */
  int fd = os_dial(path);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ECONNREFUSED)
      snprintf(err, errlen, "vessel up is not running (no service at %s)", path);
    else
      snprintf(err, errlen, "cannot reach vessel up at %s: %s", path, strerror(e));
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  s->fd = fd;
  return 0;
}

int service_send(struct service *s, long long now_ms, long timeout_ms, const char *fmt, ...) {
  if (s->fd < 0) return -1;
  char line[SERVICE_LINE_MAX + 2];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, SERVICE_LINE_MAX, fmt, ap);
  va_end(ap);
  if (n < 0 || n >= SERVICE_LINE_MAX) return -1;
  for (int i = 0; i < n; i++) if (line[i] == '\n') line[i] = ' ';
  line[n++] = '\n';
  sscanf(line, "%63s", s->request);
  size_t off = 0;
  while (off < (size_t)n) {
    ssize_t w = send(s->fd, line + off, (size_t)n - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      /* A line is far below the socket buffer: only a service that stopped reading gets here. */
      return -1;
    }
    if (w < 0) return -1;
    off += (size_t)w;
  }
  s->pending = 1;
  s->deadline_ms = now_ms + timeout_ms;
  return 0;
}

int service_read(struct service *s, char *line, size_t linelen) {
  for (;;) {
    char *nl = memchr(s->buf, '\n', s->len);
    if (nl) {
      size_t n = (size_t)(nl - s->buf);
      if (n >= linelen) n = linelen - 1;
      memcpy(line, s->buf, n);
      line[n] = '\0';
      size_t rest = s->len - (size_t)(nl - s->buf) - 1;
      memmove(s->buf, nl + 1, rest);
      s->len = rest;
      s->pending = 0;
      return 1;
    }
    if (s->len >= SERVICE_LINE_MAX) {
      snprintf(line, linelen, "the service sent a line longer than %d bytes", SERVICE_LINE_MAX);
      return -1;
    }
    ssize_t r = read(s->fd, s->buf + s->len, SERVICE_LINE_MAX - s->len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (r <= 0) {
      snprintf(line, linelen, "%s", r == 0 ? "the service closed the connection" : strerror(errno));
      return -1;
    }
    s->len += (size_t)r;
  }
}

void service_close(struct service *s) {
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  s->pending = 0;
}
