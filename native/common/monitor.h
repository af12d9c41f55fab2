/*
 * The container's monitor: the one process that stays for a container's whole life, as podman's
 * conmon and s6-supervise do. It is the container's parent, sees the end of its whole process
 * tree, writes its status record, applies a detached container's restart table, and — when the
 * uWSGI Emperor started it — speaks the Emperor's protocol and asks `vessel up` for every
 * decision (what to run, whether to respawn, what a reload changes).
 * docs/supervision.md has the state machine as a table.
 */
#ifndef VESSEL_MONITOR_H
#define VESSEL_MONITOR_H

/* `vessel-init monitor PLAN`: foreground (the CLI waits) or detached (run -d). */
int monitor_main(const char *plan_path);
/* `vessel-init vassal --config NAME.vessel`: run by the Emperor; the plan comes from vessel up. */
int vassal_main(const char *vassal_file);

#endif
