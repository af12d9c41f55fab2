import { existsSync } from 'node:fs';
import { run } from '../../util/index.js';
import type { Resource } from '../types.js';
import type { Step } from './steps.js';
import { isJailOf } from './names.js';

/** jail(8) and jls(8): create from the rendered jail.conf, modify, remove, look up. */

export function createStep(conf: string, jail: string): Step {
  return { argv: ['jail', '-f', conf, '-c', jail] };
}

/** The jails above a child, nearest first: `a.b` → [`a.b`, `a`]. */
export function ancestors(parent: string): string[] {
  const parts = parent.split('.');
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('.'));
}

/**
 * Hierarchical jails: every jail above the new one must allow one more descendant, and a jail's
 * own children.max must stay strictly below its parent's. kern_jail.c kern_jail_set:
 * `if (childmax >= ppr->pr_childmax) { error = EPERM; … }`; a new jail is refused when any
 * ancestor's pr_childcount has reached its pr_childmax. So, nearest ancestor first, each needs
 * max(children.max, children.cur + 1, what the one below it needs + 1) — for the nearest, the
 * one below is the new jail itself with its own children.max (`ownChildrenMax`, 0 unless its
 * spec lets it have children) — and the values are set from the top down (raising a child first
 * would put it at or above its parent). Setting the value a jail already has is harmless.
 */
export function raiseChildrenSteps(parent: string, ownChildrenMax = 0): Step[] {
  const chain = ancestors(parent);
  const v = (i: number) => `children_max_${i}`;
  const read: Step[] = chain.map((jail, i) => ({
    argv: ['jls', '-j', jail, 'children.max', 'children.cur'],
    capture: {
      name: v(i),
      parse: (r, vars) => {
        const [max, cur] = r.stdout.trim().split(/\s+/).map(Number);
        const below = (i === 0 ? ownChildrenMax : Number(vars[v(i - 1)] ?? '0')) + 1;
        return String(Math.max(max ?? 0, (cur ?? 0) + 1, below));
      },
    },
  }));
  const set: Step[] = chain.map((jail, i) => ({ argv: ['jail', '-m', `name=${jail}`, `children.max=\${${v(i)}}`] })).reverse();
  return [...read, ...set];
}

export async function jailExists(jail: string): Promise<boolean> {
  return (await run(['jls', '-j', jail, 'jid'], { allowFailure: true })).exitCode === 0;
}

export async function jailId(jail: string): Promise<string | undefined> {
  const r = await run(['jls', '-j', jail, 'jid'], { allowFailure: true });
  const jid = r.stdout.trim();
  return r.exitCode === 0 && /^\d+$/.test(jid) ? jid : undefined;
}

/**
 * `jail -f CONF -r` runs the conf's stop parameters and unmounts what jail -c mounted; without
 * the conf (lost with a crashed container's directory) `jail -R` removes the jail alone.
 */
export async function removeJail(jail: string, conf: string | undefined): Promise<void> {
  if (conf !== undefined && existsSync(conf)) {
    const r = await run(['jail', '-f', conf, '-r', jail], { allowFailure: true });
    if (r.exitCode === 0) return;
  }
  await run(['jail', '-R', jail]);
}

export interface JailInfo {
  jid: number;
  name: string;
  path: string;
  hostname?: string;
  /** ACTIVE or DYING (jls(8) -v). */
  state?: string;
}

/** jls(8) with libxo: `{"jail-information": {"jail": [{jid, name, path, state, …}]}}`. */
function parseJls(stdout: string): JailInfo[] {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    return [];
  }
  const list = (doc as { 'jail-information'?: { jail?: unknown } })['jail-information']?.jail;
  if (!Array.isArray(list)) return [];
  return list
    .filter((j): j is Record<string, unknown> => typeof j === 'object' && j !== null && typeof (j as { name?: unknown }).name === 'string')
    .map((j) => ({
      jid: Number(j.jid),
      name: String(j.name),
      path: String(j.path ?? ''),
      ...(typeof j.hostname === 'string' ? { hostname: j.hostname } : {}),
      ...(typeof j.state === 'string' ? { state: j.state } : {}),
    }));
}

/** Every jail, dying ones included (`jls --libxo json -d -v`). */
export async function listJails(): Promise<JailInfo[]> {
  const r = await run(['jls', '--libxo', 'json', '-d', '-v'], { allowFailure: true });
  return r.exitCode === 0 ? parseJls(r.stdout) : [];
}

/**
 * Jails of container NAME (`NAME`, a run's `NAME@RUNID`, or either below a parent, names.ts
 * isJailOf) whose root is in the container's directory (dying ones too). CONF: the jail.conf of the
 * run whose root it is (JAIL's path → its run directory's), for `jail -r`.
 */
export async function jailLeftovers(name: string, dir: string, confOf: (path: string) => string): Promise<Resource[]> {
  return (await listJails())
    .filter((j) => isJailOf(j.name, name) && j.path.startsWith(dir + '/'))
    .map((j): Resource => ({ kind: 'jail', id: j.name, detail: { conf: confOf(j.path), ...(j.state ? { state: j.state } : {}) } }));
}

export async function removeJailIfExists(jail: string, conf: string | undefined): Promise<void> {
  if (await jailExists(jail)) await removeJail(jail, conf);
}
