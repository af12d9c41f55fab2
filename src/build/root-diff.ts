import { VesselError } from '../util/index.js';
import { printableName, utf8Name } from '../image/index.js';

/**
 * What a RUN step changed, from two listings of its root — before the command and after it —
 * as the entries of an OCI layer. Pure. This is how a step's layer is made where the root has
 * no upper directory to read (FreeBSD: unionfs keeps its whiteouts as directory entries of type
 * DT_WHT, which readdir(3) hides and tar never sees; a ZFS clone has no upper directory at all).
 *
 * Paths are byte strings (latin1: a char per byte, as tar-headers.ts reads tar names), relative,
 * '/'-separated, the root itself not listed: any name a filesystem can hold (spaces, newlines,
 * bytes that are not UTF-8) goes through unchanged.
 *
 * The OCI layer rules (image-spec layer.md "Whiteouts") this follows:
 *   - a path that is gone, or whose directory became a non-directory or the reverse, gets a
 *     whiteout `.wh.NAME` beside it (one, at the topmost path gone: it hides what was below it);
 *     the new entry of a replaced path is in the layer too, and "whiteout files MUST only apply
 *     to resources in lower/parent layers";
 *   - a directory made again — every lower entry under it gone or in this layer anew, and
 *     something new or made again in it (not only an entry of another kind in a gone one's
 *     place) — gets the opaque marker `.wh..wh..opq` instead of a whiteout per entry, as the
 *     spec's own "deleted and recreated" example has it and overlay-based builders write it.
 *     (The spec says implementations SHOULD write explicit whiteouts and MUST read both; this is
 *     the one place vessel writes the opaque form by choice: the same root, fewer markers.)
 *     A directory only emptied keeps a whiteout per entry;
 *   - what was changed or added is in the layer with every directory above it (as an overlay
 *     upper directory holds them), so that unpacking it never makes a directory up with other
 *     metadata than the step's root has.
 * A deletion a whiteout cannot name — a name that is not UTF-8 (vessel's store records whiteouts
 * as text), `.wh..opq` (its whiteout would be the opaque marker), or one too long for the `.wh.`
 * prefix (NAME_MAX 255) — makes the nearest directory above it that can be named opaque instead,
 * and everything under that directory goes into the layer: the same root, a larger layer.
 */
export type EntryKind = 'dir' | 'file' | 'symlink' | 'char' | 'block' | 'fifo';

export interface RootEntry {
  kind: EntryKind;
  /**
   * What changes when the entry does (root-walk.ts says how it is made); equal stamps of one
   * path before and after mean "unchanged".
   */
  stamp: string;
}

/** Path → entry, for every path under a root (the root itself not included). */
export type RootListing = ReadonlyMap<string, RootEntry>;

export interface RootDiff {
  /** Paths of the lower layers that the layer hides: `DIR/.wh.NAME` each. */
  whiteouts: string[];
  /** Directories whose lower contents the layer hides: `DIR/.wh..wh..opq` each ('' is the root). */
  opaque: string[];
  /** Paths of the root after the step that the layer holds, a directory before what is in it. */
  emit: string[];
  /** Paths the step made that no layer can hold, and why (the caller refuses the step). */
  refused: Array<{ path: string; why: string }>;
}

/** Names OCI reserves for whiteout markers (image-spec layer.md). */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
/** NAME_MAX of FreeBSD's sys/syslimits.h and Linux's limits.h. */
const NAME_MAX = 255;

const parentOf = (p: string): string => {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
};
const baseOf = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
/** `p` and every directory above it, the root ('') last. */
function* ancestors(p: string): Generator<string> {
  let q = p;
  while (q !== '') {
    q = parentOf(q);
    yield q;
  }
}
const isUnder = (p: string, dir: string): boolean => dir === '' ? p !== '' : p.startsWith(`${dir}/`);

/** An empty path or component, a `.` or `..` component, a NUL byte. */
const NOT_PLAIN = /^$|^\/|\/$|\/\/|\0|(^|\/)\.\.?(\/|$)/;

/**
 * A listing must be a tree of plain names: a component that is empty, `.`, `..` or holds a NUL
 * could name something outside the root, and a path whose directory is not listed is not a walk
 * of one root. Neither can come from readdir(3); both are refused, whoever built the listing.
 */
function checkListing(l: RootListing, which: string): void {
  for (const p of l.keys()) {
    if (NOT_PLAIN.test(p)) throw new VesselError('E_STATE', `${which} listing: path "${printableName(p)}" is not a plain relative path`);
    const parent = parentOf(p);
    if (parent !== '' && l.get(parent)?.kind !== 'dir') {
      throw new VesselError('E_STATE', `${which} listing: "${printableName(p)}" is listed but its directory is not`);
    }
  }
}

/** Whether `DIR/.wh.NAME` can stand for `p` in a layer vessel's store (and other tools) read back. */
function whiteoutNameable(p: string): boolean {
  const base = baseOf(p);
  return utf8Name(p) !== undefined && `${WHITEOUT_PREFIX}${base}` !== OPAQUE_MARKER && base.length + WHITEOUT_PREFIX.length <= NAME_MAX;
}

const dirNameable = (d: string): boolean => d === '' || utf8Name(d) !== undefined;

export function diffRoots(before: RootListing, after: RootListing): RootDiff {
  checkListing(before, 'before');
  checkListing(after, 'after');
  const isDir = (l: RootListing, p: string) => p === '' || l.get(p)?.kind === 'dir';

  // Gone: absent now, or a directory that became a non-directory or the reverse.
  const gone = new Set<string>();
  for (const [p, b] of before) {
    const a = after.get(p);
    if (a === undefined || (a.kind === 'dir') !== (b.kind === 'dir')) gone.add(p);
  }
  // Changed or added: new, another kind, or another stamp.
  const changed = new Set<string>();
  for (const [p, a] of after) {
    const b = before.get(p);
    if (b === undefined || b.kind !== a.kind || b.stamp !== a.stamp) changed.add(p);
  }
  // The topmost gone paths: below one, everything is gone with it.
  const topGone = [...gone].filter((p) => !gone.has(parentOf(p))).sort();

  // A directory may be opaque when nothing of the layers below shows in it any more: every
  // lower path under it is gone or is in this layer anew.
  const keepsLower = new Set<string>();
  for (const p of before.keys()) {
    if (gone.has(p) || changed.has(p)) continue;
    for (const d of ancestors(p)) {
      if (keepsLower.has(d)) break;
      keepsLower.add(d);
    }
  }
  // Opaque rather than a whiteout per entry where a directory was made again: what it held is
  // gone, and it holds something new or made again — not only an entry of another kind in a
  // gone one's place, which keeps its whiteout, as a directory only emptied keeps its own.
  // keepsLower goes up the tree: only a deletion's own directory can qualify.
  const holdsSomething = new Set<string>();
  for (const p of after.keys()) if (!gone.has(p)) holdsSomething.add(parentOf(p));
  const bothDirs = (d: string) => isDir(before, d) && isDir(after, d) && !gone.has(d);
  const candidates = [...new Set(topGone.map(parentOf))].filter((d) => bothDirs(d) && !keepsLower.has(d) && holdsSomething.has(d) && dirNameable(d));

  // A deletion no whiteout can name: the nearest nameable directory above it goes opaque, and
  // everything under it into the layer.
  const forced = new Set<string>();
  for (const p of topGone) {
    if (whiteoutNameable(p)) continue;
    for (const d of ancestors(p)) {
      if (dirNameable(d)) {
        forced.add(d);
        break;
      }
    }
  }
  // One marker for a directory and what is under it: the topmost ones only.
  const marked = new Set([...candidates, ...forced]);
  const opaque = [...marked].filter((d) => ![...ancestors(d)].some((a) => marked.has(a))).sort();
  const underOpaque = (p: string) => opaque.some((d) => isUnder(p, d));
  const emit = new Set<string>(changed);
  for (const d of opaque) {
    if (!forced.has(d)) continue;
    for (const p of after.keys()) if (isUnder(p, d)) emit.add(p);
  }
  const whiteouts = topGone.filter((p) => !underOpaque(p));
  // Every directory the layer names is in it, with the step's metadata for it.
  for (const d of opaque) if (d !== '') emit.add(d);
  for (const p of [...emit, ...whiteouts]) {
    for (const d of ancestors(p)) if (d !== '') emit.add(d);
  }
  const refused: RootDiff['refused'] = [];
  for (const p of emit) {
    if (baseOf(p).startsWith(WHITEOUT_PREFIX)) refused.push({ path: p, why: `a name beginning with "${WHITEOUT_PREFIX}" is an OCI whiteout marker; a layer cannot hold it as a file` });
  }
  return { whiteouts, opaque, emit: [...emit].sort(), refused: refused.sort((x, y) => (x.path < y.path ? -1 : 1)) };
}
