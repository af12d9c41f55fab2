/* status.h: the record and its atomic write. */
#include "status.h"
#include "at.h"
#include "say.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *phase_name(enum phase ph) {
  static const char *names[] = { "preparing", "waiting", "starting", "running", "stopping", "exited", "backoff", "idle", "failed" };
  return ph <= PH_FAILED ? names[ph] : "unknown";
}

/* One value per line: a line break in a reason would start a new key. */
static void flat(const char *in, char *out, size_t n) {
  size_t i = 0;
  for (; *in && i + 1 < n; in++) out[i++] = (*in == '\n' || *in == '\r') ? ' ' : *in;
  out[i] = '\0';
}

/* The record's directory, held: the record is written through it (at.h says why). */
static struct held_dir dir = HELD_DIR_INIT;

int status_dir(const struct plan *p) {
  if (!p->status_path || !held_dir_for(&dir, p->status_path)) return -1;
  return dir.fd;
}

void status_close_dir(void) {
  if (dir.fd >= 0) close(dir.fd);
  dir.fd = -1;
}

void status_write(const struct plan *p, const struct status *s) {
  if (!p->status_path) return;
  char tmp[4200], body[8192], reason[512], note[512];
  const char *name = held_dir_for(&dir, p->status_path);
  if (!name) { say(L_WARN, "status %s: %s", p->status_path, strerror(errno)); return; }
  if (snprintf(tmp, sizeof tmp, "%s.tmp%d", name, (int)getpid()) >= (int)sizeof tmp) return;
  flat(s->reason, reason, sizeof reason);
  flat(s->note, note, sizeof note);
  int n = snprintf(body, sizeof body,
                   "version 1\nrunid %s\nmonitor %d\nphase %s\nrun %ld\ninit %d\nleaf %s\nstarted %lld\nexited %lld\n"
                   "code %d\nmain %d\noom %d\nstopped %d\nrestarts %ld\nfailures %ld\nquick %ld\nreason %s\nnote %s\n",
                   p->run_id ? p->run_id : "", (int)getpid(), phase_name(s->phase), s->run, (int)s->init_pid, s->cgroup_leaf ? s->cgroup_leaf : "",
                   s->started_ms, s->exited_ms, s->exit_code, s->main_code, s->oom_kills, s->stopped, s->restarts,
                   s->failures, s->quick_deaths, reason, note);
  if (n < 0 || (size_t)n >= sizeof body) return;
  if (s->health) {
    n += snprintf(body + n, sizeof body - (size_t)n, "health %s\nstreak %d\n", s->health, s->health_streak);
    for (int i = 0; i < s->health_logs && (size_t)n < sizeof body; i++) {
      char line[600];
      flat(s->health_log[i], line, sizeof line);
      n += snprintf(body + n, sizeof body - (size_t)n, "check %s\n", line);
    }
    if ((size_t)n >= sizeof body) n = (int)sizeof body - 1;
  }
  if (s->relay_pid > 0 && (size_t)n < sizeof body) n += snprintf(body + n, sizeof body - (size_t)n, "relay %d\n", (int)s->relay_pid);
  if ((size_t)n >= sizeof body) n = (int)sizeof body - 1;
  if (s->next_phase && (size_t)n < sizeof body) {
    n += snprintf(body + n, sizeof body - (size_t)n, "next %s %s %d %s %s\n", s->next_phase, s->next_run_id ? s->next_run_id : "-",
                  (int)s->next_init, s->next_leaf && *s->next_leaf ? s->next_leaf : "-", s->next_health ? s->next_health : "-");
    if ((size_t)n >= sizeof body) n = (int)sizeof body - 1;
  }
  int fd = openat(dir.fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) { say(L_WARN, "status %s/%s: %s", dir.path, tmp, strerror(errno)); return; }
  ssize_t w = write(fd, body, (size_t)n);
  int e = errno;
  close(fd);
  if (w != n || renameat(dir.fd, tmp, dir.fd, name) < 0) {
    say(L_WARN, "status %s: %s", p->status_path, strerror(w != n ? e : errno));
    unlinkat(dir.fd, tmp, 0);
  }
}
