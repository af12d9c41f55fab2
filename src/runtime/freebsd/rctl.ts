import { VesselError, run } from '../../util/index.js';
import type { Limits } from '../../spec/index.js';
import type { Resource } from '../types.js';
import type { Step } from './steps.js';
import { isJailOf } from './names.js';

/**
 * rctl(8) rules, `subject:subject-id:resource:action=amount`, for the jail subject. Amounts are
 * written in plain units (bytes, processes, percent of one CPU) so the rule reads back from
 * `rctl` exactly as added.
 */
export function rctlRules(jail: string, limits: Limits): string[] {
  const rules: string[] = [];
  const add = (resource: string, amount: number | undefined): void => {
    if (amount !== undefined) rules.push(`jail:${jail}:${resource}:deny=${amount}`);
  };
  add('memoryuse', limits.memoryBytes);
  add('vmemoryuse', limits.vmemoryBytes);
  add('maxproc', limits.maxproc);
  // rctl(8): pcpu is "%CPU, in percents of a single CPU core"; deny on pcpu throttles.
  add('pcpu', limits.cpuPercent === undefined ? undefined : Math.round(limits.cpuPercent));
  add('openfiles', limits.openfiles);
  return rules;
}

export function hasLimits(limits: Limits): boolean {
  return rctlRules('x', limits).length > 0;
}

export function addRuleSteps(rules: string[]): Step[] {
  return rules.map((r) => ({ argv: ['rctl', '-a', r] }));
}

export const RACCT_PROBE = ['sysctl', '-n', 'kern.racct.enable'];

/** rctl does nothing unless racct was enabled at boot: say how, instead of a cryptic rctl error. */
export function checkRacct(stdout: string, exitCode: number): void {
  if (exitCode !== 0 || stdout.trim() !== '1') {
    throw new VesselError('E_UNSUPPORTED', '[limits]: resource limits need RACCT, and kern.racct.enable is 0 on this host', {
      hint: 'add kern.racct.enable=1 to /boot/loader.conf and reboot (rctl(8), racct is a boot-time tunable)',
    });
  }
}

/** Removing the rules of a jail that has none is not an error. */
export async function removeRules(jail: string): Promise<void> {
  await run(['rctl', '-r', `jail:${jail}`], { allowFailure: true });
}


/** Every rctl rule on the host (rctl(8) without options); the subjects of container NAME's jails (names.ts isJailOf). */
export async function rctlLeftovers(name: string): Promise<Resource[]> {
  const r = await run(['rctl'], { allowFailure: true });
  if (r.exitCode !== 0) return [];
  const subjects = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^jail:([^:]+):/.exec(line.trim());
    if (m && isJailOf(m[1]!, name)) subjects.add(`jail:${m[1]}`);
  }
  return [...subjects].map((id): Resource => ({ kind: 'rctl', id }));
}
