/**
 * cgroups, one file per concern (youki's libcgroups shape): where a run's directories are
 * (cgroup-layout), the limit writes rendered as data and run (cgroup-limits), what the
 * directories say (cgroup-events: processes, OOM kills, usage, emptiness) and ending a run
 * (cgroup-kill).
 */
export * from './cgroup-layout.js';
export * from './cgroup-limits.js';
export * from './cgroup-events.js';
export * from './cgroup-kill.js';
