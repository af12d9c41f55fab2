/**
 * The monitor's plan (native/common/plan.h): records of a key and a fixed number of fields, every
 * token NUL-terminated, so no path or value ever needs quoting. supervise/ renders the records of
 * supervision (mode, restart table, status file), the driver those of the container (cgroups,
 * network, root, command); the monitor reads them once. Pure.
 */
export type PlanRecord = readonly string[];

/** What native/common/plan.c accepts; a plan of another version is refused there. */
export const PLAN_VERSION = 1;

export function encodePlan(records: readonly PlanRecord[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`plan-version\0${PLAN_VERSION}\0`)];
  for (const r of records) {
    for (const f of r) {
      // A NUL would end the field early and shift every record after it.
      if (f.includes('\0')) throw new Error(`plan record ${r[0]}: a value contains a NUL byte`);
      parts.push(Buffer.from(f + '\0'));
    }
  }
  return Buffer.concat(parts);
}

/** One record per line, fields separated by spaces (as `vessel plan` shows the plan). */
export function describePlan(records: readonly PlanRecord[]): string {
  return [`plan-version ${PLAN_VERSION}`, ...records.map((r) => r.join(' '))].join('\n') + '\n';
}
