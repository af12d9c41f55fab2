/*
 * The monitor's status record ($containers/NAME/monitor.status): what the container is doing now,
 * written whole through a temporary file and rename() at every change, so a reader (vessel ps,
 * stop, exec, gc) sees the previous record or the next, never half of one. Lines of `key value`;
 * src/supervise/status.ts parses them and merges them into the container's state.
 */
#ifndef VESSEL_STATUS_H
#define VESSEL_STATUS_H

#include <sys/types.h>
#include "plan.h"

enum phase {
  PH_PREPARING, PH_WAITING, PH_STARTING, PH_RUNNING, PH_STOPPING, PH_EXITED, PH_BACKOFF, PH_IDLE, PH_FAILED,
};

struct status {
  enum phase phase;
  long run;                 /* 0 for the first run of this monitor, +1 per restart */
  pid_t init_pid;           /* the container's init (pid 1 inside), 0 when none */
  pid_t relay_pid;          /* the run's relay of published ports (Linux), 0 when none */
  const char *cgroup_leaf;  /* this run's leaf directory name */
  long long started_ms;
  /* The last finished run (kept while the next one runs): when, code, what it said. */
  long long exited_ms;
  int exit_code;            /* the init's: the main command's code, or 128+signal */
  int main_code;            /* the main command's own, -1 when it never ran */
  int oom_kills;
  int stopped;              /* the run ended because a stop was asked for */
  long restarts;            /* runs started again after dying (this monitor's) */
  long failures, quick_deaths;
  const char *health;       /* starting | healthy | unhealthy, NULL without a check */
  int health_streak;
  char reason[512];         /* the last exit's: what the setup or the exec said went wrong */
  char note[512];           /* what the container waits for, or why the monitor idles or failed */
  char health_log[5][600];  /* last results, newest last: "START END CODE OUTPUT" */
  int health_logs;
  /* A zero-downtime reload under way: the next run beside this one (next_phase NULL: none). */
  const char *next_phase;
  const char *next_run_id;
  pid_t next_init;
  const char *next_leaf;
  const char *next_health;
};

const char *phase_name(enum phase ph);
/* Writes the record for P's container; errors are logged, never fatal (the container matters more). */
void status_write(const struct plan *p, const struct status *s);
/* The held descriptor of the record's directory (opened now if need be), or -1: for os_sandbox(). */
int status_dir(const struct plan *p);
/* In a child the monitor forked: the held directory is not the child's to keep. */
void status_close_dir(void);

#endif
