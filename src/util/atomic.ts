import { closeSync, fsyncSync, futimesSync, openSync, renameSync, unlinkSync, writeSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { VesselError, hasErrno } from './errors.js';

/** A temporary name beside `path`, hidden and with a suffix no watcher looks for. */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Write a file so that readers see either the old or the new content, never a half-written one:
 * temp file in the same directory, rename. Synchronous on purpose: state files are small and are
 * written on paths (signal handlers, exit) where an await may never resume.
 * `durable` adds an fsync before the rename, for what must survive a power cut (image index,
 * registry refs). Container state does not need it: after a reboot no container runs and
 * `vessel gc` reconciles, and each fsync costs milliseconds on the start path.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, opts: { mtime?: Date; durable?: boolean } = {}): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempNameFor(path);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    // Set before the rename so a watcher (the uWSGI Emperor) never sees the file with another mtime.
    if (opts.mtime) futimesSync(fd, opts.mtime, opts.mtime);
    if (opts.durable) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
}

export function writeJsonAtomic(path: string, value: unknown, mode = 0o644, opts: { durable?: boolean } = {}): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', mode, opts);
}

/** Read a JSON file; undefined when it does not exist; a VesselError naming the file when corrupt. */
export async function readJsonFile<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new VesselError('E_STATE', `${path}: not valid JSON (${(e as Error).message})`);
  }
}
