import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { VesselError, config, hasErrno, pidAlive, readJsonFile, run, withLock, writeJsonAtomic } from '../util/index.js';
import { NAME_RE, validateVolumeName } from '../spec/index.js';
import type { VolumeInfo, VolumeRecord, VolumeUsers } from './types.js';
import { zfsVolumeCreate, zfsVolumeDataset, zfsVolumeDestroy, zfsVolumeExists } from './zfs.js';

/**
 * The named-volume store: $VESSEL_ROOT/volumes/NAME/{volume.json,_data}. `_data` is what a
 * container mounts — a plain directory, or the mountpoint of the volume's dataset on a FreeBSD
 * ZFS store. A volume outlives every container that mounts it; only `vessel volume rm|prune`
 * removes one, and never while a container (running or stopped) still names it, as docker does.
 *
 * Crash safety: a new volume is laid out under a hidden temporary name and renamed into place,
 * its record written before its dataset is created; a removal renames the directory away before
 * deleting it. A crash leaves only hidden `.NAME.*` entries, which the next change sweeps.
 */

export function volumesDir(): string {
  return join(config().root, 'volumes');
}

export function volumePaths(name: string): { dir: string; data: string; record: string } {
  const dir = join(volumesDir(), name);
  return { dir, data: join(dir, '_data'), record: join(dir, 'volume.json') };
}

function withVolumesLock<T>(fn: () => Promise<T>): Promise<T> {
  return withLock(join(config().run, 'locks', 'volumes.lock'), fn, { what: 'the volume store', timeoutMs: 60_000 });
}

/**
 * NAME's record, or undefined when it has none. A record that does not parse, or that is not
 * NAME's, is an error naming the file: skipped, its volume would vanish from ls, prune and rm
 * while its data stays (a record's name is what a removal deletes).
 */
async function readRecord(name: string): Promise<VolumeRecord | undefined> {
  const path = volumePaths(name).record;
  const rec = await readJsonFile<Partial<VolumeRecord> | null>(path);
  if (rec === undefined) return undefined;
  if (typeof rec !== 'object' || rec === null || rec.name !== name || (rec.driver !== 'local' && rec.driver !== 'zfs')) {
    throw new VesselError('E_STATE', `${path}: not the record of volume ${name} (expected {"name": "${name}", "driver": "local"|"zfs", …})`, {
      hint: 'repair or remove the file by hand; vessel lists, prunes and removes only volumes whose record it can read',
    });
  }
  return rec as VolumeRecord;
}

export async function readVolume(name: string): Promise<VolumeRecord | undefined> {
  // The spec's rule, so a name `volume create` accepts is one a spec can mount.
  validateVolumeName(name);
  return readRecord(name);
}

export async function listVolumes(): Promise<VolumeRecord[]> {
  let entries: string[];
  try {
    entries = readdirSync(volumesDir());
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return [];
    throw e;
  }
  const out: VolumeRecord[] = [];
  for (const e of entries.sort()) {
    if (!NAME_RE.test(e)) continue;
    const rec = await readRecord(e);
    if (rec) out.push(rec);
  }
  return out;
}

/** Hidden entries of interrupted creations and removals (`.NAME.new-PID`, `.NAME.rm-PID`) whose process is gone. */
function sweepInterrupted(): void {
  let entries: string[];
  try {
    entries = readdirSync(volumesDir());
  } catch {
    return;
  }
  for (const e of entries) {
    const m = /^\.[A-Za-z0-9][A-Za-z0-9_.-]*\.(new|rm)-(\d+)$/.exec(e);
    if (m && !pidAlive(Number(m[2]))) rmSync(join(volumesDir(), e), { recursive: true, force: true });
  }
}

export interface CreateOptions {
  /** The ZFS store (VESSEL_ZFS_DATASET on FreeBSD): the volume becomes a dataset under it. */
  zfsStore?: string;
  createdBy?: VolumeRecord['createdBy'];
}

async function ensureDataset(rec: VolumeRecord, mountpoint: string): Promise<void> {
  if (rec.driver !== 'zfs' || rec.dataset === undefined) return;
  const probe = await run(zfsVolumeExists(rec.dataset), { allowFailure: true });
  if (probe.exitCode !== 0) await run(zfsVolumeCreate(rec.dataset, mountpoint));
}

/**
 * The volume NAME, created when missing (docker's `volume create` of an existing name is not an
 * error either). Returns its record and the directory a container mounts.
 */
export async function ensureVolume(name: string, opts: CreateOptions = {}): Promise<{ record: VolumeRecord; mountpoint: string; created: boolean }> {
  validateVolumeName(name);
  return withVolumesLock(async () => {
    const p = volumePaths(name);
    const existing = await readRecord(name);
    if (existing) {
      // A dataset recorded but never created (a crash between the two) is created now.
      await ensureDataset(existing, p.data);
      return { record: existing, mountpoint: p.data, created: false };
    }
    sweepInterrupted();
    mkdirSync(volumesDir(), { recursive: true, mode: 0o700 });
    // A directory without a record (a crash in an older layout, or a hand-made one) is not ours to adopt.
    if (existsSync(p.dir)) {
      throw new VesselError('E_EXISTS', `${p.dir} exists but holds no volume record`, { hint: 'move it away; vessel keeps only what it recorded' });
    }
    const rec: VolumeRecord = {
      name,
      driver: opts.zfsStore !== undefined ? 'zfs' : 'local',
      ...(opts.zfsStore !== undefined ? { dataset: zfsVolumeDataset(opts.zfsStore, name) } : {}),
      createdAt: new Date().toISOString(),
      createdBy: opts.createdBy ?? 'first use',
    };
    const tmp = join(volumesDir(), `.${name}.new-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    // 0755 like docker's _data: the container's (possibly non-root) user must reach what is inside.
    mkdirSync(join(tmp, '_data'), { recursive: true, mode: 0o755 });
    writeJsonAtomic(join(tmp, 'volume.json'), rec, 0o644);
    renameSync(tmp, p.dir);
    await ensureDataset(rec, p.data);
    return { record: rec, mountpoint: p.data, created: true };
  });
}

/** Where a volume's data would be mounted from, without creating anything (`vessel plan`). */
export function volumeMountpoint(name: string): string {
  return volumePaths(validateVolumeName(name)).data;
}

type Users = Awaited<ReturnType<VolumeUsers>>;

/** The containers that mount NAME, of the users the caller handed in (asked once per command). */
function usersOf(name: string, all: Users): string[] {
  return all.filter((u) => u.volumes.includes(name)).map((u) => u.name).sort();
}

function info(rec: VolumeRecord, all: Users): VolumeInfo {
  return { ...rec, mountpoint: volumePaths(rec.name).data, usedBy: usersOf(rec.name, all) };
}

export async function inspectVolume(name: string, users: VolumeUsers): Promise<VolumeInfo> {
  const rec = await readVolume(name);
  if (!rec) throw new VesselError('E_NOT_FOUND', `no such volume: ${name}`, { hint: 'vessel volume ls lists volumes' });
  return info(rec, await users());
}

export async function listVolumeInfo(users: VolumeUsers): Promise<VolumeInfo[]> {
  const all = await users();
  return (await listVolumes()).map((rec) => info(rec, all));
}

async function removeUnlocked(rec: VolumeRecord): Promise<void> {
  const p = volumePaths(rec.name);
  if (rec.driver === 'zfs' && rec.dataset !== undefined) {
    const probe = await run(zfsVolumeExists(rec.dataset), { allowFailure: true });
    if (probe.exitCode === 0) await run(zfsVolumeDestroy(rec.dataset));
  }
  // Renamed away first: a crash halfway through deleting never leaves a half volume under its name.
  const gone = join(volumesDir(), `.${rec.name}.rm-${process.pid}`);
  rmSync(gone, { recursive: true, force: true });
  renameSync(p.dir, gone);
  rmSync(gone, { recursive: true, force: true });
}

/**
 * `vessel volume rm`: refused while any container, running or stopped, mounts it (remove the
 * container first, as with docker). `force`: a volume that does not exist is not an error.
 */
export async function removeVolume(name: string, users: VolumeUsers, opts: { force?: boolean } = {}): Promise<boolean> {
  validateVolumeName(name);
  return withVolumesLock(async () => {
    const rec = await readRecord(name);
    if (!rec) {
      if (opts.force) return false;
      throw new VesselError('E_NOT_FOUND', `no such volume: ${name}`, { hint: 'vessel volume ls lists volumes' });
    }
    const used = usersOf(name, await users());
    if (used.length > 0) {
      throw new VesselError('E_IN_USE', `volume ${name} is in use by container${used.length === 1 ? '' : 's'} ${used.join(', ')}`, {
        hint: `remove ${used.length === 1 ? 'it' : 'them'} first (vessel rm ${used.join(' ')}); the volume's data stays until then`,
      });
    }
    await removeUnlocked(rec);
    sweepInterrupted();
    return true;
  });
}

/** `vessel volume prune`: every volume no container (running or stopped) mounts. Returns the names removed. */
export async function pruneVolumes(users: VolumeUsers): Promise<string[]> {
  return withVolumesLock(async () => {
    const all = await users();
    const removed: string[] = [];
    for (const rec of await listVolumes()) {
      if (usersOf(rec.name, all).length > 0) continue;
      await removeUnlocked(rec);
      removed.push(rec.name);
    }
    sweepInterrupted();
    return removed;
  });
}
