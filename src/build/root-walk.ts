import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { VesselError, errorMessage } from '../util/index.js';
import { printableName } from '../image/index.js';
import type { EntryKind, RootEntry } from './root-diff.js';

/**
 * A listing of a root filesystem for root-diff.ts: every path's kind and a stamp that changes
 * when the entry does — names and lstat(2) only, no content is read. Names are read as bytes
 * (readdir with a buffer encoding), so any name the filesystem holds is listed as it is.
 *
 * The stamp of a non-directory is its inode number and ctime (nanoseconds): the kernel sets ctime
 * on every change of content or metadata and no program can set it back (utimes(2) cannot), and
 * a file replaced by another has another inode or a later ctime. Through unionfs a lower file
 * reports its lower inode and times (union_vnops.c unionfs_getattr: VOP_GETATTR of the lower
 * vnode; only va_fsid is the union's), and a copied-up file is the upper one; a ZFS clone keeps
 * its origin's object numbers and znode times until something is written.
 *
 * The stamp of a directory is its mode, owner and mtime, not its inode or ctime: unionfs makes
 * an upper "shadow" directory the first time a lower one is looked up (union_vnops.c
 * unionfs_lookup, "check shadow dir": unionfs_mkshadowdir), a new inode whose mode, owner and
 * times come from the lower one (union_subr.c unionfs_create_uppervattr_core; transparent is the
 * kernel's default copymode, union_vfsops.c unionfs_domount) — and the mkdir(2) of each shadow
 * changes its parent's mtime. So a directory is stamped after what is in it was listed (the
 * shadows below it exist by then): the walk before the step made every shadow, the walk after
 * it sees the same ones, and a directory differs only when the step changed it.
 *
 * `skip`: names at the top that are not the step's (the jail's devfs on /dev: jail(8)
 * mount.devfs). A directory on another device than the root is listed, never entered: a mount
 * inside the root is not part of it. Sockets are not listed: no tar stores one.
 */
export type Listing = Map<string, RootEntry>;

function kindOf(st: BigIntStats): EntryKind | undefined {
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return undefined;
}

const dirStamp = (st: BigIntStats) => `${st.mode.toString(8)}:${st.uid}:${st.gid}:${st.mtimeNs}`;
const fileStamp = (st: BigIntStats) => `${st.ino}:${st.ctimeNs}`;

export async function walkRoot(root: string, skip: ReadonlySet<string> = new Set()): Promise<Listing> {
  const out: Listing = new Map();
  const rootBytes = Buffer.from(root);
  const abs = (rel: string) => (rel === '' ? rootBytes : Buffer.concat([rootBytes, Buffer.from(`/${rel}`, 'latin1')]));
  const stat = (rel: string): BigIntStats => {
    try {
      return lstatSync(abs(rel), { bigint: true });
    } catch (e) {
      throw new VesselError('E_HOST', `listing ${root}: "${printableName(rel)}": ${errorMessage(e)}`);
    }
  };
  const rootDev = stat('').dev;
  // Synchronous calls: a walk is a million small syscalls, and a promise per call costs ten
  // times the call (measured); nothing else runs meanwhile (the command has not started, or
  // has ended). The event loop is let in between directories now and then.
  let sinceYield = 0;
  const walkDir = async (dir: string): Promise<void> => {
    let names: Buffer[];
    try {
      names = readdirSync(abs(dir), { encoding: 'buffer' });
    } catch (e) {
      throw new VesselError('E_HOST', `listing ${root}: "${printableName(dir)}": ${errorMessage(e)}`);
    }
    const subdirs: string[] = [];
    for (const n of names) {
      const r = (dir === '' ? '' : `${dir}/`) + n.toString('latin1');
      if (dir === '' && skip.has(r)) continue;
      const st = stat(r);
      const kind = kindOf(st);
      if (kind === undefined) continue;
      out.set(r, { kind, stamp: kind === 'dir' ? dirStamp(st) : fileStamp(st) });
      if (kind === 'dir' && st.dev === rootDev) subdirs.push(r);
    }
    if ((sinceYield += names.length) > 20_000) {
      sinceYield = 0;
      await new Promise((res) => setImmediate(res));
    }
    for (const d of subdirs) {
      await walkDir(d);
      // stamped again once what is in it was looked up (unionfs shadow directories: above)
      out.set(d, { kind: 'dir', stamp: dirStamp(stat(d)) });
    }
  };
  await walkDir('');
  return out;
}
