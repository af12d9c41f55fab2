import { rmSync } from 'node:fs';
import { config, containerPaths, acquireLock, log, errorMessage } from '../util/index.js';
import { driverFor, readMonitorStatus, type ExitStatus } from '../runtime/index.js';
import type { ContainerState } from './types.js';
import { readRawState, writeState } from './state.js';
import { mergeStatus } from './status.js';
import { releaseResources } from './leftovers.js';

/**
 * After a container's monitor ended its last run: what TypeScript created is released (the
 * address lease and firewall rules, the FreeBSD jail and its objects; the monitor removed the
 * run's cgroups itself), the exit is recorded, and a --rm container's directory goes. Idempotent
 * and locked: the CLI that waited, `vessel stop`, the warm service, `vessel _release` and
 * `vessel gc` may all get here for the same end, and only the first does anything. RUNID: only
 * if the state is still that start's.
 */
export async function releaseRun(name: string, opts: { exit?: ExitStatus; keepFiles?: boolean; runId?: string } = {}): Promise<ContainerState | undefined> {
  const paths = containerPaths(config(), name);
  const lock = await acquireLock(paths.lock, { what: `container ${name}` });
  try {
    const raw = await readRawState(name);
    if (!raw) return undefined;
    // a release meant for an earlier start of this name must not touch a newer one
    if (opts.runId !== undefined && raw.runId !== opts.runId) return undefined;
    const m = readMonitorStatus(paths.status);
    const s = mergeStatus(raw, m);
    if ((raw.status === 'exited' || raw.status === 'failed') && raw.resources.length === 0) return s;
    // This run's exit: the monitor's record, else what the caller saw (a driver without a monitor).
    const at = (m?.runId === raw.runId ? m.exitedAt : undefined) ?? new Date().toISOString();
    const lastExit = m?.runId === raw.runId && m.exitedAt && s.lastExit
      ? s.lastExit
      : opts.exit
        ? { ...opts.exit, at }
        : { code: 137, signal: 'SIGKILL', oomKilled: false, reason: 'the monitor died; the container was killed with it', at };
    const driver = await driverFor();
    try {
      await releaseResources(driver, name, s.resources);
    } catch (e) {
      log().warn({ container: name, err: errorMessage(e) }, 'release after exit failed; vessel gc will retry');
      writeState({ ...s, status: 'exited', lastExit, finishedAt: at });
      return s;
    }
    const next: ContainerState = { ...s, status: s.status === 'failed' ? 'failed' : 'exited', resources: [], lastExit, finishedAt: at };
    delete next.pid;
    delete next.waiting;
    writeState(next);
    if (s.autoRemove && !opts.keepFiles) rmSync(paths.dir, { recursive: true, force: true });
    return next;
  } finally {
    lock.release();
  }
}
