import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VesselError, hasErrno } from './errors.js';

/**
 * A cross-process lock: a file created with O_EXCL holding the owner's pid. A lock whose owner
 * is dead (SIGKILLed vassal, crashed CLI) is stale and taken over, so a crash never wedges a
 * container name. Used for short critical sections: create/remove a container, lease an address,
 * update the image index.
 */
export interface Lock {
  release(): void;
}

/**
 * A process that still runs. A zombie does not: a detached monitor's parent is the host's init
 * (or a subreaper), which may take its time to reap it, and the process is gone all the same.
 */
function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return hasErrno(e, 'EPERM');
  }
  try {
    // "PID (comm) S …": the state follows the last ')' (comm may hold anything)
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return true; // no /proc (FreeBSD): kill(2) said it exists
  }
}

function tryAcquire(path: string): Lock | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    if (!hasErrno(e, 'EEXIST')) throw e;
    let owner = NaN;
    try {
      owner = Number(readFileSync(path, 'utf8').trim());
    } catch (re) {
      if (hasErrno(re, 'ENOENT')) return tryAcquire(path);
    }
    // An empty file is a lock being written this instant: treat it as held.
    if (!Number.isNaN(owner) && owner !== 0 && !pidAlive(owner)) {
      try { unlinkSync(path); } catch { /* someone else took it over first */ }
      return tryAcquire(path);
    }
    return undefined;
  }
  writeSync(fd, `${process.pid}\n`);
  closeSync(fd);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try { unlinkSync(path); } catch { /* stale-taken or already removed */ }
    },
  };
}

/** The lock now, or undefined when a live process holds it (no waiting). */
export function tryLock(path: string): Lock | undefined {
  mkdirSync(dirname(path), { recursive: true });
  return tryAcquire(path);
}

/** `signal`: stop waiting when it aborts (a caller gone away), with its reason. */
export async function acquireLock(path: string, opts: { timeoutMs?: number; what?: string; signal?: AbortSignal } = {}): Promise<Lock> {
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let delay = 5;
  for (;;) {
    opts.signal?.throwIfAborted();
    const lock = tryAcquire(path);
    if (lock) return lock;
    if (Date.now() >= deadline) {
      throw new VesselError('E_LOCKED', `${opts.what ?? path} is locked by another vessel process`, {
        hint: `lock file ${path}`,
      });
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
}

export async function withLock<T>(path: string, fn: () => Promise<T>, opts: { timeoutMs?: number; what?: string; signal?: AbortSignal } = {}): Promise<T> {
  const lock = await acquireLock(path, opts);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

export { pidAlive };
