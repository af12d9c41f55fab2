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

/*
 * The runner checks one run at a time, bound to its plan, run and status record by start/resume
 * (a zero-downtime reload moves it to the next run while that one is checked, and back or along
 * after): every other call acts on the run it is bound to, so a check can never be ticked, killed
 * or recorded against another run.
 */
void health_start(const struct plan *p, struct run *r, struct status *s, long long now_ms);
/* Checks again on a run whose state S already holds (after a zero-downtime reload gave up). */
void health_resume(const struct plan *p, struct run *r, struct status *s, long long now_ms);
/* The bound run moved (a reload's next run became the current one): the same checks go on there. */
void health_rebind(const struct plan *p, struct run *r, struct status *s);
/* Whether the runner is checking R. */
int health_runs_on(const struct run *r);
/* Starts a due check, gives up one past its timeout, and judges finished ones. */
enum health_change health_tick(long long now_ms);
/* A process ended: if it is the running check, its result is judged at the next tick. */
void health_reaped(pid_t pid, int wait_status);
/* The check's output pipe (to poll), or -1; health_output() reads what is there. */
int health_fd(void);
void health_output(void);
/* The next moment the runner needs the loop (0: none). */
long long health_deadline(void);
/* Heartbeats to the Emperor pause while the container is unhealthy (uWSGI's own rules then act). */
int health_allows_heartbeat(const struct status *s);
/* The checks end (the run is over, or a reload moves them): a check still running is killed. */
void health_stop(void);

#endif
