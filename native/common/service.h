/*
 * The monitor's side of its conversation with `vessel up` (the one warm TypeScript process per
 * host, src/service/): a root-only unix stream socket, one text line per message, one request
 * outstanding at a time, every request answered by one line within a deadline. docs/supervision.md
 * lists the messages. A reply that is not a known line, or none by the deadline, fails the
 * container with one error line: the monitor never waits forever on TypeScript.
 */
#ifndef VESSEL_SERVICE_H
#define VESSEL_SERVICE_H

#include <stddef.h>

#define SERVICE_PROTOCOL 1
#define SERVICE_LINE_MAX 4096

struct service {
  int fd;
  char buf[SERVICE_LINE_MAX + 1];
  size_t len;
  int pending;              /* a request awaits its reply */
  long long deadline_ms;    /* of that reply (monotonic) */
  char request[64];         /* its verb, for error lines */
};

/* Connects to PATH; 0, or -1 with the reason (ENOENT/ECONNREFUSED: vessel up is not running). */
int service_connect(struct service *s, const char *path, char *err, size_t errlen);
/* Sends one line (no newline in LINE) and expects a reply within TIMEOUT_MS. */
int service_send(struct service *s, long long now_ms, long timeout_ms, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * Reads what is there. Returns 1 with a reply in LINE (NUL-terminated), 0 when nothing complete
 * yet, -1 when the service closed or broke the framing (reason in LINE).
 */
int service_read(struct service *s, char *line, size_t linelen);
void service_close(struct service *s);

#endif
