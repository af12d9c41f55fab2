/* health.h: the runner and docker's state rules. */
#include "health.h"
#include "say.h"
#include "waitcode.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUTPUT_MAX 4096 /* docker keeps 4 KiB of a check's output */

static struct {
  const struct plan *p;    /* the run the checks are bound to (health.h) */
  struct run *r;
  struct status *s;
  int active;              /* the container has a check */
  long long next;          /* when the next check starts */
  long long deadline;      /* when the running one is killed */
  long long started_mono;  /* the run's start, for start_period */
  long long check_start;   /* wall clock, for the log */
  pid_t pid;               /* the running check, 0 none */
  int out;                 /* its output pipe */
  int done, status, timed_out, had_success;
  int reaped;              /* its pid was waited for: no longer ours to signal (it may be reused) */
  char output[OUTPUT_MAX + 1];
  size_t outlen;
} H = { .out = -1 };

static long long wall(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void bind(const struct plan *p, struct run *r, struct status *s) {
  H.p = p;
  H.r = r;
  H.s = s;
}

void health_start(const struct plan *p, struct run *r, struct status *s, long long now_ms) {
  health_stop();
  bind(p, r, s);
  H.active = p->nhealth > 0;
  if (!H.active) return;
  H.started_mono = now_ms;
  H.next = now_ms + p->health_interval_ms;
  H.had_success = 0;
  s->health = "starting";
  s->health_streak = 0;
  s->health_logs = 0;
}

void health_resume(const struct plan *p, struct run *r, struct status *s, long long now_ms) {
  health_stop();
  bind(p, r, s);
  H.active = p->nhealth > 0;
  if (!H.active) return;
  H.started_mono = now_ms - p->health_start_period_ms; /* its start period is long over */
  H.next = now_ms + p->health_interval_ms;
  H.had_success = s->health && !strcmp(s->health, "healthy");
}

void health_rebind(const struct plan *p, struct run *r, struct status *s) {
  if (H.active) bind(p, r, s);
}

int health_runs_on(const struct run *r) { return H.active && H.r == r; }

static void spawn_check(long long now_ms) {
  const struct plan *p = H.p;
  int fds[2];
  if (pipe(fds) < 0) { say(L_WARN, "health check: pipe: %s", strerror(errno)); return; }
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
  H.outlen = 0;
  H.output[0] = '\0';
  H.done = H.timed_out = H.reaped = 0;
  H.check_start = wall();
  H.pid = os_spawn_inside(p, H.r, p->health_argv, fds[1]);
  close(fds[1]);
  if (H.pid <= 0) {
    close(fds[0]);
    H.pid = 0;
    /* could not even enter the container: a failed check */
    H.done = 1;
    H.status = 126 << 8;
    H.outlen = (size_t)snprintf(H.output, sizeof H.output, "cannot start the health check in the container");
    return;
  }
  H.out = fds[0];
  H.deadline = now_ms + p->health_timeout_ms;
}

void health_output(void) {
  if (H.out < 0) return;
  for (;;) {
    char buf[1024];
    ssize_t n = read(H.out, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0 || errno != EAGAIN) { close(H.out); H.out = -1; }
      return;
    }
    size_t take = (size_t)n;
    if (H.outlen + take > OUTPUT_MAX) take = OUTPUT_MAX - H.outlen;
    memcpy(H.output + H.outlen, buf, take);
    H.outlen += take;
    H.output[H.outlen] = '\0';
  }
}

void health_reaped(pid_t pid, int wait_status) {
  if (!H.active || pid != H.pid || pid == 0) return;
  H.reaped = 1;
  if (H.timed_out) return; /* given up already: judged as a timeout */
  H.done = 1;
  H.status = wait_status;
}

static void log_result(struct status *s, int code) {
  if (s->health_logs == 5) {
    memmove(s->health_log[0], s->health_log[1], sizeof s->health_log[0] * 4);
    s->health_logs = 4;
  }
  char *slot = s->health_log[s->health_logs++];
  int n = snprintf(slot, sizeof s->health_log[0], "%lld %lld %d ", H.check_start, wall(), code);
  /* the output as one line: the status record is line-based */
  size_t o = n > 0 ? (size_t)n : 0;
  for (size_t i = 0; i < H.outlen && o + 1 < sizeof s->health_log[0]; i++) slot[o++] = (H.output[i] == '\n' || H.output[i] == '\r') ? ' ' : H.output[i];
  slot[o] = '\0';
}

enum health_change health_tick(long long now_ms) {
  if (!H.active) return HEALTH_SAME;
  const struct plan *p = H.p;
  struct status *s = H.s;
  if (H.pid && !H.done && now_ms >= H.deadline) {
    /* given up: judged now, not when (or whether) its exit is reported */
    H.timed_out = 1;
    H.done = 1;
  }
  if (!H.pid && !H.done) {
    if (now_ms >= H.next) spawn_check(now_ms);
    if (!H.done) return HEALTH_SAME;
  }
  if (!H.done) return HEALTH_SAME;
  /* judge the finished check; whatever it left running goes with it */
  health_output();
  if (H.pid) os_kill_inside(p, H.r, H.pid, H.reaped);
  if (H.out >= 0) { close(H.out); H.out = -1; }
  H.pid = 0;
  H.done = 0;
  H.next = now_ms + p->health_interval_ms;
  int code = H.timed_out ? -1 : wait_code(H.status);
  if (H.timed_out) {
    int n = snprintf(H.output, sizeof H.output, "Health check exceeded timeout (%ldms)", p->health_timeout_ms);
    H.outlen = n > 0 && (size_t)n < sizeof H.output ? (size_t)n : 0;
  }
  log_result(s, code);
  const char *before = s->health;
  if (code == 0) {
    H.had_success = 1;
    s->health_streak = 0;
    s->health = "healthy";
  } else if (!H.had_success && now_ms - H.started_mono < p->health_start_period_ms) {
    /* docker: failures during the start period do not count until a first success */
  } else {
    s->health_streak++;
    if (s->health_streak >= p->health_retries) s->health = "unhealthy";
  }
  if (strcmp(before, s->health)) {
    say(code == 0 ? L_INFO : L_WARN, "health: %s (exit %d)", s->health, code);
    if (!strcmp(s->health, "healthy")) return HEALTH_BECAME_HEALTHY;
    if (!strcmp(s->health, "unhealthy")) return HEALTH_BECAME_UNHEALTHY;
  }
  return HEALTH_CHECKED;
}

int health_fd(void) { return H.out; }

long long health_deadline(void) {
  if (!H.active) return 0;
  if (H.pid && !H.done) return H.deadline;
  if (H.done) return 1; /* judge at once */
  return H.next;
}

int health_allows_heartbeat(const struct status *s) {
  return !s->health || strcmp(s->health, "unhealthy") != 0;
}

void health_stop(void) {
  if (H.pid && H.p) os_kill_inside(H.p, H.r, H.pid, H.reaped);
  if (H.out >= 0) close(H.out);
  H.out = -1;
  H.pid = 0;
  H.done = 0;
  H.active = 0;
}
