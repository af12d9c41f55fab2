import type { BigIntStats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
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
  const abs = (rel: string) => Buffer.concat([rootBytes, Buffer.from(rel === '' ? '' : `/${rel}`, 'latin1')]);
  const fail = (rel: string, e: unknown): never => {
    throw new VesselError('E_HOST', `listing ${root}: "${printableName(rel)}": ${errorMessage(e)}`);
  };
  const rootDev = (await lstat(rootBytes, { bigint: true }).catch((e: unknown) => fail('', e))).dev;

  const walkDir = async (dir: string): Promise<void> => {
    const names = await readdir(abs(dir), { encoding: 'buffer' }).catch((e: unknown) => fail(dir, e));
    const rels = names.map((n) => (dir === '' ? '' : `${dir}/`) + n.toString('latin1')).filter((r) => dir !== '' || !skip.has(r));
    const stats = await Promise.all(rels.map((r) => lstat(abs(r), { bigint: true }).catch((e: unknown) => fail(r, e))));
    const subdirs: string[] = [];
    rels.forEach((r, i) => {
      const st = stats[i]!;
      const kind = kindOf(st);
      if (kind === undefined) return;
      out.set(r, { kind, stamp: kind === 'dir' ? dirStamp(st) : fileStamp(st) });
      if (kind === 'dir' && st.dev === rootDev) subdirs.push(r);
    });
    for (const d of subdirs) {
      await walkDir(d);
      // stamped again once what is in it was looked up (unionfs shadow directories: above)
      out.set(d, { kind: 'dir', stamp: dirStamp(await lstat(abs(d), { bigint: true }).catch((e: unknown) => fail(d, e))) });
    }
  };
  await walkDir('');
  return out;
}
