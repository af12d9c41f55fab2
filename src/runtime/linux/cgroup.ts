/**
 * cgroups, one file per concern (youki's libcgroups shape): where a run's directories are
 * (cgroup-layout), the limit writes rendered as data and run (cgroup-limits), what the
 * directories say (cgroup-events: processes, OOM kills, emptiness; cgroup-usage: what the run
 * uses) and ending a run (cgroup-kill).
 */
export * from './cgroup-layout.js';
export * from './cgroup-limits.js';
export * from './cgroup-events.js';
export * from './cgroup-kill.js';
export * from './cgroup-usage.js';
