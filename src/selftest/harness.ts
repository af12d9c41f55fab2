import { errorMessage } from '../util/index.js';
import type { ContainerConfig } from '../runtime/index.js';
import type { CaseAttachment, ContractCase, ContractHost } from './contract.js';

/**
 * One case, from the host's features to its container removed: the same steps for the unit
 * tests and for `vessel selftest`, so SKIP, PASS and FAIL mean the same everywhere.
 */

export type CaseStatus = 'pass' | 'fail' | 'skip';

export interface CaseOutcome {
  status: CaseStatus;
  /** FAIL: what broke; SKIP: why the host cannot run it (doctor's words, or the OS's). */
  reason?: string;
}

/** Why this host cannot run the case, or undefined: doctor's missing (or limited) check, or the OS. */
export function skipReason(h: ContractHost, c: ContractCase): string | undefined {
  const needs = c.needs?.(h.driver.os);
  if (needs !== undefined && 'notOnThisOs' in needs) return needs.notOnThisOs;
  if (c.network !== undefined && h.network === undefined) return 'no network was given to this run of the contract';
  if (needs === undefined) return undefined;
  for (const id of needs.checks) {
    const found = h.doctor?.checks.find((x) => x.id === id);
    // Without doctor's report nothing is known to be missing: the case runs and says for itself.
    if (found === undefined) {
      if (h.doctor !== undefined) return `vessel doctor has no check "${id}" on this host`;
      continue;
    }
    if (found.status === 'missing' || found.status === 'warn') return `${found.feature}: ${found.detail}${found.fix ? ` (${found.fix})` : ''}`;
  }
  return undefined;
}

/**
 * Run case C from the base config: skipped when the host lacks its feature; otherwise its config,
 * recorded (h.record) before anything exists, its network attached and recorded again, the case,
 * and the network released.
 */
export async function runCase(h: ContractHost, c: ContractCase, base: ContainerConfig): Promise<CaseOutcome> {
  const skip = skipReason(h, c);
  if (skip !== undefined) return { status: 'skip', reason: skip };
  let cfg = c.configure ? c.configure(base, h) : base;
  let attachment: CaseAttachment | undefined;
  let outcome: CaseOutcome;
  try {
    if (c.network !== undefined) {
      // the lease, by the container's name, is in the record before it exists
      h.record?.(cfg, [{ kind: 'lease', id: cfg.name }]);
      attachment = await h.network!.attach(cfg.name, c.network.publish);
      cfg = { ...cfg, network: attachment.network, mounts: [...cfg.mounts, ...attachment.mounts] };
    }
    h.record?.(cfg, attachment?.resources ?? []);
    await c.run(h, cfg);
    outcome = { status: 'pass' };
  } catch (e) {
    outcome = { status: 'fail', reason: errorMessage(e) };
  }
  if (attachment !== undefined) {
    try {
      await h.network!.release(cfg.name, attachment.resources);
    } catch (e) {
      // a network that cannot be released leaves the host dirty: that breaks the contract too
      outcome = { status: 'fail', reason: `${outcome.reason ? `${outcome.reason}; ` : ''}releasing the network: ${errorMessage(e)}` };
    }
  }
  return outcome;
}
