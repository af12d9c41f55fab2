/* Parsing of the plan (plan.h says the format and why it has no quoting). */
#include "plan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cursor { char *p, *end; char *err; size_t errlen; const char *key; };

static int fail(struct cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct cursor *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, c->errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* The next token, or NULL when the plan ends inside a record. */
static const char *next(struct cursor *c) {
  if (c->p >= c->end) return NULL;
  char *t = c->p;
  char *nul = memchr(t, '\0', (size_t)(c->end - t));
  if (!nul) return NULL;
  c->p = nul + 1;
  return t;
}

#define FIELD(var) do { if (!((var) = next(c))) return fail(c, "plan: record %s is truncated", c->key); } while (0)

static int number(struct cursor *c, const char *text, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < min || v > max) return fail(c, "plan: %s: \"%s\" is not a number in [%ld, %ld]", c->key, text, min, max);
  *out = v;
  return 0;
}

static int num_field(struct cursor *c, long min, long max, long *out) {
  const char *t;
  FIELD(t);
  return number(c, t, min, max, out);
}

static int int_field(struct cursor *c, long min, long max, int *out) {
  long v;
  if (num_field(c, min, max, &v) < 0) return -1;
  *out = (int)v;
  return 0;
}

static int roles_of(struct cursor *c, const char *text, int *out) {
  int roles = 0;
  char buf[128];
  if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf) return fail(c, "plan: %s: roles too long", c->key);
  for (char *save = buf, *r; (r = strsep(&save, ",")); ) {
    if (!strcmp(r, "memory")) roles |= CG_MEMORY;
    else if (!strcmp(r, "pids")) roles |= CG_PIDS;
    else if (!strcmp(r, "cpu")) roles |= CG_CPU;
    else if (!strcmp(r, "cpuacct")) roles |= CG_CPUACCT;
    else if (!strcmp(r, "unified")) roles |= CG_UNIFIED;
    else return fail(c, "plan: %s: unknown cgroup role \"%s\"", c->key, r);
  }
  *out = roles;
  return 0;
}

#define APPEND(arr, n, max, what, val) do { \
    if ((n) >= (max)) return fail(c, "plan: too many %s (at most %d)", what, (int)(max)); \
    (arr)[(n)++] = (val); } while (0)

static int ipv6_field(struct cursor *c, const char **out) {
  struct in6_addr a;
  FIELD(*out);
  if (inet_pton(AF_INET6, *out, &a) != 1) return fail(c, "plan: %s: \"%s\" is not an IPv6 address", c->key, *out);
  return 0;
}

/* relay tcp|udp LISTEN PORT TARGET TARGET_PORT COUNT: both port ranges stay within 1-65535. */
static int relay_record(struct plan *p, struct cursor *c) {
  const char *proto;
  long port, tport, count;
  FIELD(proto);
  if (strcmp(proto, "tcp") && strcmp(proto, "udp")) return fail(c, "plan: relay: unknown protocol \"%s\"", proto);
  if (p->nrelays >= MAX_RELAYS) return fail(c, "plan: too many relays (at most %d)", MAX_RELAYS);
  struct relay *r = &p->relays[p->nrelays];
  if (ipv6_field(c, &r->listen) < 0 || num_field(c, 1, 65535, &port) < 0) return -1;
  if (ipv6_field(c, &r->target) < 0 || num_field(c, 1, 65535, &tport) < 0 || num_field(c, 1, 65535, &count) < 0) return -1;
  if (port + count - 1 > 65535 || tport + count - 1 > 65535) return fail(c, "plan: relay: %ld ports from %ld or %ld pass 65535", count, port, tport);
  r->udp = !strcmp(proto, "udp");
  r->port = (int)port;
  r->target_port = (int)tport;
  r->count = (int)count;
  p->nrelays++;
  return 0;
}

static int record(struct plan *p, struct cursor *c) {
  const char *k = c->key, *a, *b, *d;
  if (!strcmp(k, "name")) FIELD(p->name);
  else if (!strcmp(k, "mode")) {
    FIELD(a);
    if (!strcmp(a, "foreground")) p->mode = MODE_FOREGROUND;
    else if (!strcmp(a, "detached")) p->mode = MODE_DETACHED;
    else if (!strcmp(a, "emperor")) p->mode = MODE_EMPEROR;
    else return fail(c, "plan: mode: unknown \"%s\"", a);
  }
  else if (!strcmp(k, "status")) FIELD(p->status_path);
  else if (!strcmp(k, "service")) FIELD(p->service);
  else if (!strcmp(k, "log")) FIELD(p->log_path);
  else if (!strcmp(k, "stop-marker")) FIELD(p->stop_marker);
  else if (!strcmp(k, "run-id")) FIELD(p->run_id);
  else if (!strcmp(k, "stop-signal")) return int_field(c, 1, 64, &p->stop_signal);
  else if (!strcmp(k, "stop-timeout-ms")) return num_field(c, 0, 86400000L, &p->stop_timeout_ms);
  else if (!strcmp(k, "restart")) {
    FIELD(a);
    if (!strcmp(a, "no")) p->restart = RESTART_NO;
    else if (!strcmp(a, "always")) p->restart = RESTART_ALWAYS;
    else if (!strcmp(a, "on-failure")) p->restart = RESTART_ON_FAILURE;
    else return fail(c, "plan: restart: unknown \"%s\"", a);
    return num_field(c, -1, INT_MAX, &p->max_retries);
  }
  else if (!strcmp(k, "backoff")) {
    if (num_field(c, 0, 86400000L, &p->backoff_base_ms) < 0 || num_field(c, 0, 86400000L, &p->backoff_max_ms) < 0) return -1;
    return num_field(c, 0, 86400000L, &p->healthy_uptime_ms);
  }
  else if (!strcmp(k, "min-uptime-ms")) return num_field(c, 0, 86400000L, &p->min_uptime_ms);
  else if (!strcmp(k, "heartbeat-ms")) return num_field(c, 100, 3600000L, &p->heartbeat_ms);
  else if (!strcmp(k, "on-signal")) { FIELD(a); p->on_signal_stop = !strcmp(a, "stop"); }
  else if (!strcmp(k, "parent-pid")) return num_field(c, 1, INT_MAX, &p->parent_pid);
  else if (!strcmp(k, "release-arg")) { FIELD(a); APPEND(p->release_argv, p->nrelease, MAX_RELEASE_ARGS, "release arguments", a); }
  else if (!strcmp(k, "health-arg")) { FIELD(a); APPEND(p->health_argv, p->nhealth, MAX_HEALTH_ARGS, "health-check arguments", a); }
  else if (!strcmp(k, "health")) {
    if (num_field(c, 1, 86400000L, &p->health_interval_ms) < 0 || num_field(c, 1, 86400000L, &p->health_timeout_ms) < 0) return -1;
    if (num_field(c, 0, 86400000L, &p->health_start_period_ms) < 0 || int_field(c, 1, 1000000, &p->health_retries) < 0) return -1;
    FIELD(a);
    p->health_restart = !strcmp(a, "restart");
  }
  else if (!strcmp(k, "cgroup-dir")) {
    FIELD(a); FIELD(b);
    if (p->ncgroups >= MAX_CGROUP_DIRS) return fail(c, "plan: too many cgroup directories");
    if (roles_of(c, b, &p->cgroups[p->ncgroups].roles) < 0) return -1;
    p->cgroups[p->ncgroups++].parent = a;
  }
  else if (!strcmp(k, "cgroup-write")) {
    FIELD(a); FIELD(b); FIELD(d);
    const char *when;
    FIELD(when);
    if (p->nwrites >= MAX_CGROUP_WRITES) return fail(c, "plan: too many cgroup writes");
    struct cgroup_write *w = &p->writes[p->nwrites];
    if (roles_of(c, a, &w->role) < 0) return -1;
    if (strchr(b, '/') || !*b || b[0] == '.') return fail(c, "plan: cgroup-write: bad file name \"%s\"", b);
    w->file = b; w->value = d;
    w->when = !strcmp(when, "if-present") ? WRITE_IF_PRESENT : !strcmp(when, "best-effort") ? WRITE_BEST_EFFORT : WRITE_REQUIRED;
    p->nwrites++;
  }
  else if (!strcmp(k, "cgroup")) { FIELD(a); APPEND(p->join_dirs, p->njoin, 16, "cgroups to join", a); }
  else if (!strcmp(k, "veth")) { FIELD(p->veth_host); FIELD(p->veth_peer); FIELD(p->bridge); }
  else if (!strcmp(k, "addr")) { FIELD(a); if (p->naddrs >= MAX_ADDRS) return fail(c, "plan: too many addresses"); p->addrs[p->naddrs++].cidr = a; }
  else if (!strcmp(k, "relay")) return relay_record(p, c);
  else if (!strcmp(k, "gateway4")) FIELD(p->gateway4);
  else if (!strcmp(k, "gateway6")) FIELD(p->gateway6);
  else if (!strcmp(k, "rootfs")) FIELD(p->rootfs);
  else if (!strcmp(k, "lower")) { FIELD(a); APPEND(p->lowers, p->nlowers, MAX_ITEMS, "image layers", a); }
  else if (!strcmp(k, "upper")) FIELD(p->upper);
  else if (!strcmp(k, "work")) FIELD(p->work);
  else if (!strcmp(k, "scratch")) FIELD(p->scratch);
  else if (!strcmp(k, "hostname")) FIELD(p->hostname);
  else if (!strcmp(k, "bind")) {
    FIELD(a); FIELD(b); FIELD(d);
    if (p->nbinds >= MAX_BINDS) return fail(c, "plan: too many volumes (at most %d)", MAX_BINDS);
    p->binds[p->nbinds++] = (struct bind){ .src = a, .dst = b, .ro = !strcmp(d, "ro"), .fd = -1 };
  }
  else if (!strcmp(k, "tmpfs")) {
    FIELD(a); FIELD(b); FIELD(d);
    if (p->ntmpfs >= MAX_TMPFS) return fail(c, "plan: too many tmpfs volumes (at most %d)", MAX_TMPFS);
    p->tmpfss[p->ntmpfs++] = (struct tmpfs){ .dst = a, .size = b, .mode = d };
  }
  else if (!strcmp(k, "env")) { FIELD(a); APPEND(p->env, p->nenv, MAX_ITEMS, "environment variables", a); }
  else if (!strcmp(k, "arg")) { FIELD(a); APPEND(p->argv, p->nargv, MAX_ITEMS, "command arguments", a); }
  else if (!strcmp(k, "cwd")) FIELD(p->cwd);
  else if (!strcmp(k, "user")) FIELD(p->user);
  else if (!strcmp(k, "wait")) { FIELD(a); p->wait_main = !strcmp(a, "main"); }
  else if (!strcmp(k, "tty")) return int_field(c, 0, 1, &p->tty);
  else if (!strcmp(k, "interactive")) return int_field(c, 0, 1, &p->interactive);
  else if (!strcmp(k, "net")) { FIELD(a); p->net_host = !strcmp(a, "host"); }
  else if (!strcmp(k, "nnp")) return int_field(c, 0, 1, &p->nnp);
  else if (!strcmp(k, "nofile")) return num_field(c, 1, LONG_MAX, &p->nofile);
  else if (!strcmp(k, "cap")) { int v; if (int_field(c, 0, 63, &v) < 0) return -1; p->caps_given = 1; APPEND(p->caps, p->ncaps, MAX_CAPS, "capabilities", v); }
  else if (!strcmp(k, "nocaps")) { FIELD(a); p->caps_given = 1; }
  else if (!strcmp(k, "target")) return num_field(c, 1, INT_MAX, &p->target);
  else if (!strcmp(k, "jail")) FIELD(p->jail);
  else if (!strcmp(k, "uid")) return num_field(c, 0, 4294967294L, &p->uid);
  else if (!strcmp(k, "gid")) return num_field(c, 0, 4294967294L, &p->gid);
  else if (!strcmp(k, "groups")) FIELD(p->groups);
  else return fail(c, "plan: unknown key \"%s\" (a plan from a newer vessel?)", k);
  return 0;
}

int plan_parse(struct plan *p, char *buf, size_t len, char *err, size_t errlen) {
  memset(p, 0, sizeof *p);
  p->nnp = 1;
  p->nofile = -1;
  p->max_retries = -1;
  p->stop_signal = 15;
  p->stop_timeout_ms = 10000;
  p->backoff_base_ms = 100;
  p->backoff_max_ms = 60000;
  p->healthy_uptime_ms = 10000;
  p->heartbeat_ms = 10000;
  p->uid = p->gid = -1;
  struct cursor c = { .p = buf, .end = buf + len, .err = err, .errlen = errlen, .key = "" };
  const char *first = next(&c);
  long version;
  c.key = "plan-version";
  if (!first || strcmp(first, "plan-version")) {
    snprintf(err, errlen, "plan: does not start with plan-version");
    return -1;
  }
  if (num_field(&c, 1, 1000, &version) < 0) return -1; /* it said why */
  if (version != PLAN_VERSION) return fail(&c, "plan: version %ld, this monitor reads %d (rebuild: npm run build)", version, PLAN_VERSION);
  while (c.p < c.end) {
    c.key = next(&c);
    if (!c.key) return fail(&c, "plan: truncated");
    if (record(p, &c) < 0) return -1;
  }
  p->argv[p->nargv] = NULL;
  p->release_argv[p->nrelease] = NULL;
  p->health_argv[p->nhealth] = NULL;
  return 0;
}

int plan_load_fd(struct plan *p, int fd, const char *path, char *err, size_t errlen) {
  struct stat st;
  if (fstat(fd, &st) < 0) { snprintf(err, errlen, "plan %s: %s", path, strerror(errno)); return -1; }
  if (st.st_size > 16 * 1024 * 1024) { snprintf(err, errlen, "plan %s: larger than 16 MiB", path); return -1; }
  size_t pathlen = strlen(path) + 1;
  char *buf = malloc((size_t)st.st_size + 1 + pathlen);
  if (!buf) { snprintf(err, errlen, "plan %s: out of memory", path); return -1; }
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) { snprintf(err, errlen, "read %s: %s", path, r < 0 ? strerror(errno) : "short read"); free(buf); return -1; }
    got += (size_t)r;
  }
  buf[got] = '\0';
  /* The buffer lives as long as the plan (freed by plan_free): it points into it, its path too
   * (the caller's may not live as long). */
  char *own = buf + got + 1;
  memcpy(own, path, pathlen);
  if (plan_parse(p, buf, got, err, errlen) < 0) { free(buf); return -1; }
  p->buf = buf;
  p->path = own;
  return 0;
}

void plan_free(struct plan *p) {
  free(p->buf);
  memset(p, 0, sizeof *p);
}

int plan_load(struct plan *p, const char *path, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) { snprintf(err, errlen, "cannot open plan %s: %s", path, strerror(errno)); return -1; }
  int r = plan_load_fd(p, fd, path, err, errlen);
  close(fd);
  return r;
}
