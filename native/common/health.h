/*
 * Health checks, run by the monitor itself (as conmon does) so they work for every way a
 * container is run — under the Emperor, `run -d`, foreground — and add no process per container.
 * docker's semantics: the first check `interval` after the start, each killed at `timeout` (a
 * failure), `retries` failures in a row make the container unhealthy, failures during
 * `start_period` do not count until a first success. The check runs inside the container
 * (os_spawn_inside: its namespaces, root, cgroups, user and environment); whatever it started is
 * killed when it ends, so a check that forks daemons leaves nothing behind.
 */
#ifndef VESSEL_HEALTH_H
#define VESSEL_HEALTH_H

#include <sys/types.h>
#include "os.h"
#include "plan.h"
#include "status.h"

/* HEALTH_CHECKED: a check finished without changing the state (its result is in the log). */
enum health_change { HEALTH_SAME, HEALTH_CHECKED, HEALTH_BECAME_HEALTHY, HEALTH_BECAME_UNHEALTHY };

void health_start(const struct plan *p, struct run *r, struct status *s, long long now_ms);
/* Checks again on a run whose state S already holds (after a zero-downtime reload gave up). */
void health_resume(const struct plan *p, struct run *r, struct status *s, long long now_ms);
/* Starts a due check, kills one past its timeout, and judges finished ones. */
enum health_change health_tick(const struct plan *p, struct run *r, struct status *s, long long now_ms);
/* SIGCHLD for PID: if it is the running check, its result is judged at the next tick. */
void health_reaped(const struct plan *p, struct run *r, struct status *s, pid_t pid, int wait_status, long long now_ms);
/* The check's output pipe (to poll), or -1; health_output() reads what is there. */
int health_fd(void);
void health_output(void);
/* The next moment the runner needs the loop (0: none). */
long long health_deadline(void);
/* Heartbeats to the Emperor pause while the container is unhealthy (uWSGI's own rules then act). */
int health_allows_heartbeat(const struct status *s);
/* The run is over: a check still running is killed. */
void health_stop(const struct plan *p, struct run *r);

#endif
