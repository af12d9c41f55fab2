/*
 * The plan: everything the monitor needs to run one container, rendered by vessel's TypeScript
 * side (src/supervise/plan.ts + the driver's records) and read once at start-up.
 *
 * Format: a sequence of records, each a key followed by a fixed number of fields, every token
 * NUL-terminated. No quoting and no parsing ambiguity: any byte but NUL is allowed in paths and
 * values. An unknown key is an error (a plan from a newer vessel must not half-run), and the first
 * record is `plan-version 1`.
 *
 * The parsed plan points into one buffer read at start-up; nothing is allocated after that.
 */
#ifndef VESSEL_PLAN_H
#define VESSEL_PLAN_H

#include <stddef.h>

#define PLAN_VERSION 1
#define MAX_ITEMS 256
#define MAX_BINDS 64
#define MAX_TMPFS 32
#define MAX_CGROUP_DIRS 8
#define MAX_CGROUP_WRITES 32
#define MAX_ADDRS 8
#define MAX_CAPS 64
#define MAX_RELEASE_ARGS 16
#define MAX_HEALTH_ARGS 64
#define MAX_RELAYS 64

enum mode { MODE_FOREGROUND, MODE_DETACHED, MODE_EMPEROR };
enum restart_mode { RESTART_NO, RESTART_ALWAYS, RESTART_ON_FAILURE };
enum write_when { WRITE_REQUIRED, WRITE_IF_PRESENT, WRITE_BEST_EFFORT };

/* cgroup roles: which controller a directory serves (v2: one directory serves all). */
enum {
  CG_MEMORY = 1 << 0,
  CG_PIDS = 1 << 1,
  CG_CPU = 1 << 2,
  CG_CPUACCT = 1 << 3,
  CG_UNIFIED = 1 << 4, /* cgroup.events / cgroup.kill / cgroup.procs of the v2 tree */
};

struct bind { const char *src, *dst; int ro; int fd; };
struct tmpfs { const char *dst, *size, *mode; };
/* A run's directory is PARENT/LEAF (LEAF from the run id); ROLES says what it is used for. */
struct cgroup_dir { const char *parent; int roles; };
struct cgroup_write { int role; const char *file, *value; enum write_when when; };
struct addr { const char *cidr; };
/*
 * A published port served from the host in userland (Linux with br_netfilter: [::1], which the
 * kernel cannot redirect; linux/relay.c): COUNT ports from PORT at LISTEN, each to the same offset
 * from TARGET_PORT at TARGET (the container's address). IPv6 addresses, checked when parsed.
 */
struct relay { int udp; const char *listen; int port; const char *target; int target_port; int count; };

struct plan {
  char *buf;                 /* the buffer the plan points into (plan_load's; freed when replaced) */
  const char *path;          /* the file it was read from; NULL when parsed from memory */
  /* supervision (common/monitor.c) */
  const char *name;
  enum mode mode;
  const char *status_path;   /* the monitor's status record */
  const char *service;       /* vessel up's socket; NULL when none */
  const char *log_path;      /* container output; NULL: inherit the monitor's */
  const char *stop_marker;   /* exists: a stop was asked for, never restart */
  const char *run_id;
  int stop_signal;
  long stop_timeout_ms;
  enum restart_mode restart;
  long max_retries;          /* on-failure:N; -1 unlimited */
  long backoff_base_ms, backoff_max_ms, healthy_uptime_ms;
  long min_uptime_ms, heartbeat_ms;
  int on_signal_stop;        /* foreground: SIGTERM/SIGINT stop the container (cluster tasks) */
  long parent_pid;           /* foreground: the CLI that waits; the monitor dies with it */
  const char *release_argv[MAX_RELEASE_ARGS + 1]; int nrelease;

  /* health check (run natively, docker's semantics) */
  const char *health_argv[MAX_HEALTH_ARGS + 1]; int nhealth;
  long health_interval_ms, health_timeout_ms, health_start_period_ms;
  int health_retries;
  int health_restart;        /* on_unhealthy = restart */

  /* cgroups (linux/cgroup.c) */
  struct cgroup_dir cgroups[MAX_CGROUP_DIRS]; int ncgroups;
  struct cgroup_write writes[MAX_CGROUP_WRITES]; int nwrites;
  const char *join_dirs[16]; int njoin; /* exec: explicit directories to join */

  /* network (linux/netlink.c) */
  const char *veth_host, *veth_peer, *bridge;
  struct addr addrs[MAX_ADDRS]; int naddrs;
  const char *gateway4, *gateway6;
  struct relay relays[MAX_RELAYS]; int nrelays;

  /* the container's root and command (linux/root.c, linux/init.c) */
  const char *rootfs, *upper, *work, *scratch;
  const char *lowers[MAX_ITEMS]; int nlowers;
  const char *hostname;
  struct bind binds[MAX_BINDS]; int nbinds;
  struct tmpfs tmpfss[MAX_TMPFS]; int ntmpfs;
  const char *env[MAX_ITEMS + 8]; int nenv;
  const char *argv[MAX_ITEMS + 1]; int nargv;
  const char *cwd, *user;
  int wait_main, tty, interactive, net_host, nnp;
  long nofile;
  int caps[MAX_CAPS]; int ncaps; int caps_given;
  long target;               /* exec: host pid of the container's init */

  /* FreeBSD (freebsd/run.c): the jail the command is attached to, numeric identity */
  const char *jail;
  long uid, gid;
  const char *groups;
};

/* Reads and parses PATH into P. Returns 0, or -1 with a one-line reason in ERR. */
int plan_load(struct plan *p, const char *path, char *err, size_t errlen);
/* Frees what plan_load allocated; P is empty afterwards. */
void plan_free(struct plan *p);
/* Reads it from FD (from its start, with pread: a descriptor handed over keeps its offset); PATH names it. Same contract. */
int plan_load_fd(struct plan *p, int fd, const char *path, char *err, size_t errlen);
/* Parses an in-memory buffer (BUF must stay alive; it is modified). Same contract. */
int plan_parse(struct plan *p, char *buf, size_t len, char *err, size_t errlen);

#endif
