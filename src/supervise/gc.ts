import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { VesselError, errorMessage, hasErrno, config, containerPaths, acquireLock, writeFileAtomic } from '../util/index.js';
import { driverFor } from '../runtime/index.js';
import { isLive, listStates, readState, writeState } from './state.js';
import { removeLeftovers } from './leftovers.js';
import { stopContainer } from './control.js';
import { removeReloadLeftovers } from './surge.js';

function errorFile(name: string): string {
  return join(config().root, 'errors', `${name}.txt`);
}

/** Remember why a container could not be (re)started — a rejected spec — for `vessel ps`. */
export async function recordError(name: string, error: string | undefined): Promise<void> {
  const f = errorFile(name);
  if (error === undefined) {
    rmSync(f, { force: true });
    return;
  }
  // Atomic: ps and inspect read it while a vassal may be writing the next one.
  writeFileAtomic(f, error + '\n');
}

export function readError(name: string): string | undefined {
  try {
    return readFileSync(errorFile(name), 'utf8').trim();
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}

export function listErrors(): Array<{ name: string; error: string }> {
  let files: string[];
  try {
    files = readdirSync(join(config().root, 'errors'));
  } catch {
    return [];
  }
  return files.filter((f) => f.endsWith('.txt')).map((f) => ({ name: f.slice(0, -4), error: readError(f.slice(0, -4)) ?? '' }));
}

/** `vessel rm`: a stopped container's directory and state; -f stops a running one first. */
export async function removeContainer(name: string, opts: { force?: boolean } = {}): Promise<void> {
  const s = await readState(name);
  if (!s) throw new VesselError('E_NOT_FOUND', `no such container: ${name}`, { hint: 'vessel ps -a lists containers' });
  if (isLive(s)) {
    if (!opts.force) throw new VesselError('E_IN_USE', `container ${name} is running`, { hint: `vessel stop ${name}, or vessel rm -f ${name}` });
    await stopContainer(name, 0);
  }
  const lock = await acquireLock(containerPaths(config(), name).lock, { what: `container ${name}` });
  try {
    const st = await readState(name);
    const driver = await driverFor();
    await removeLeftovers(name, st, driver, { network: true });
    await removeReloadLeftovers(name, st, driver);
    rmSync(containerPaths(config(), name).dir, { recursive: true, force: true });
    await recordError(name, undefined);
  } finally {
    lock.release();
  }
}

export interface GcReport {
  /** Containers whose leftovers were removed. */
  cleaned: string[];
  /** --rm containers whose directory was removed. */
  removed: string[];
  errors: Array<{ name: string; error: string }>;
}

/**
 * Remove the leftovers of every container that is not running: resources recorded in state files
 * whose supervisor is dead (SIGKILL, crash, reboot), and host resources named after containers
 * that have no live supervisor.
 */
export async function gc(): Promise<GcReport> {
  const report: GcReport = { cleaned: [], removed: [], errors: [] };
  const driver = await driverFor();
  const states = await listStates();
  for (const s of states) {
    if (isLive(s)) continue;
    try {
      const leftovers = s.resources.length > 0 || s.next !== undefined || (await driver.findLeftovers(s.name)).length > 0;
      if (leftovers || s.status === 'running' || s.status === 'stopping' || s.status === 'created') {
        await removeLeftovers(s.name, s, driver, { network: true });
        // a zero-downtime reload cut short (its monitor or vessel up SIGKILLed): the next run's too
        await removeReloadLeftovers(s.name, s, driver);
        const { next: _gone, ...rest } = s;
        if (s.status !== 'exited' && s.status !== 'failed') {
          writeState({ ...rest, status: 'exited', resources: [], finishedAt: new Date().toISOString(), lastExit: { code: 137, signal: 'SIGKILL', oomKilled: false, reason: 'supervisor died; container killed with it', at: new Date().toISOString() } });
        } else writeState({ ...rest, resources: [] });
        report.cleaned.push(s.name);
      }
      if (s.autoRemove) {
        rmSync(containerPaths(config(), s.name).dir, { recursive: true, force: true });
        report.removed.push(s.name);
      }
    } catch (e) {
      report.errors.push({ name: s.name, error: errorMessage(e) });
    }
  }
  // resources on the host, and address leases, of containers that have no state file at all
  const known = new Set(states.map((s) => s.name));
  const { listLeases } = await import('../net/index.js');
  const leased = (await listLeases()).map((l) => l.container);
  const orphans = new Set([...((await driver.instanceNames?.()) ?? []), ...leased]);
  for (const name of orphans) {
    if (known.has(name)) continue;
    try {
      await removeLeftovers(name, undefined, driver, { network: true });
      report.cleaned.push(name);
    } catch (e) {
      report.errors.push({ name, error: errorMessage(e) });
    }
  }
  await driver.pruneParents?.();
  return report;
}
