import { describe, expect, it } from 'vitest';
import { diffRoots, type EntryKind, type RootEntry } from '../../src/build/root-diff.js';

/**
 * build/root-diff.ts: two listings of a RUN step's root → the OCI layer's whiteouts, opaque
 * directories and paths to archive (image-spec layer.md "Whiteouts"). Listings are written as
 * `path: 'kind stamp'`; a directory's stamp changes when the step changed it (as root-walk.ts
 * stamps it). Names are byte strings (latin1), so '\xff' below is the byte 0xff, not UTF-8.
 */
function listing(entries: Record<string, string>): Map<string, RootEntry> {
  return new Map(Object.entries(entries).map(([p, v]) => {
    const [kind, stamp] = v.split(' ') as [EntryKind, string];
    return [p, { kind, stamp: stamp ?? '1' }];
  }));
}

const BASE = {
  etc: 'dir 1',
  'etc/keep': 'file 1',
  'etc/foo': 'file 2',
  opt: 'dir 1',
  'opt/app': 'dir 1',
  'opt/app/a': 'file 3',
  'opt/app/sub': 'dir 1',
  'opt/app/sub/b': 'file 4',
  var: 'dir 1',
  'var/cache': 'dir 1',
  'var/cache/x': 'file 5',
  'var/cache/y': 'file 6',
  'var/keep': 'file 7',
} as const;

function without(keys: string[], extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { ...BASE };
  for (const k of keys) delete out[k];
  return { ...out, ...extra };
}

describe('diffRoots', () => {
  it('an unchanged root is an empty layer', () => {
    expect(diffRoots(listing(BASE), listing(BASE))).toEqual({ whiteouts: [], opaque: [], emit: [], refused: [] });
  });

  it('a deleted file: a whiteout beside it, its directory in the layer with the step\'s metadata', () => {
    const d = diffRoots(listing(BASE), listing(without(['etc/foo'], { etc: 'dir 2' })));
    expect(d).toEqual({ whiteouts: ['etc/foo'], opaque: [], emit: ['etc'], refused: [] });
  });

  it('a deleted directory: one whiteout, at its top (it hides what was under it)', () => {
    const d = diffRoots(listing(BASE), listing(without(['opt/app', 'opt/app/a', 'opt/app/sub', 'opt/app/sub/b'], { opt: 'dir 2' })));
    expect(d.whiteouts).toEqual(['opt/app']);
    expect(d.opaque).toEqual([]);
    expect(d.emit).toEqual(['opt']);
  });

  it('a directory replaced by a file: a whiteout and the new file', () => {
    const d = diffRoots(listing(BASE), listing(without(['opt/app/a', 'opt/app/sub', 'opt/app/sub/b'], { 'opt/app': 'file 9', opt: 'dir 2' })));
    expect(d.whiteouts).toEqual(['opt/app']);
    expect(d.emit).toEqual(['opt', 'opt/app']);
  });

  it('a file replaced by a directory: a whiteout and the new directory with what is in it', () => {
    const d = diffRoots(listing(BASE), listing({ ...BASE, 'etc/foo': 'dir 9', 'etc/foo/inner': 'file 9', etc: 'dir 2' }));
    expect(d.whiteouts).toEqual(['etc/foo']);
    expect(d.emit).toEqual(['etc', 'etc/foo', 'etc/foo/inner']);
  });

  it('a file replaced by a symlink (no directory involved): no whiteout, the new entry replaces it', () => {
    const d = diffRoots(listing(BASE), listing({ ...BASE, 'etc/foo': 'symlink 9' }));
    expect(d.whiteouts).toEqual([]);
    expect(d.emit).toEqual(['etc', 'etc/foo']);
  });

  it('a directory deleted and made again: the opaque marker, no whiteout per old entry', () => {
    const after = without(['var/cache/x', 'var/cache/y'], { 'var/cache': 'dir 9', 'var/cache/new': 'file 9' });
    const d = diffRoots(listing(BASE), listing(after));
    expect(d).toEqual({ whiteouts: [], opaque: ['var/cache'], emit: ['var', 'var/cache', 'var/cache/new'], refused: [] });
  });

  it('a directory only emptied keeps a whiteout per entry, as does one that keeps a lower entry', () => {
    const emptied = diffRoots(listing(BASE), listing(without(['opt/app/a', 'opt/app/sub', 'opt/app/sub/b'], { 'opt/app': 'dir 2' })));
    expect(emptied.opaque).toEqual([]);
    expect(emptied.whiteouts).toEqual(['opt/app/a', 'opt/app/sub']);
    const partly = diffRoots(listing(BASE), listing(without(['var/cache/x'], { 'var/cache': 'dir 2' })));
    expect(partly.opaque).toEqual([]);
    expect(partly.whiteouts).toEqual(['var/cache/x']);
  });

  it('an entry made again (a new stamp) counts as in the layer: its directory can be opaque; an unchanged one cannot', () => {
    const remade = diffRoots(listing(BASE), listing(without(['var/cache/x'], { 'var/cache': 'dir 2', 'var/cache/y': 'file 99' })));
    expect(remade.opaque).toEqual(['var/cache']);
    expect(remade.emit).toEqual(['var', 'var/cache', 'var/cache/y']);
    // a directory that stays, unchanged, under one emptied otherwise: its lower contents still show
    const kept = diffRoots(listing(BASE), listing(without(['opt/app/a'], { 'opt/app': 'dir 2' })));
    expect(kept.opaque).toEqual([]);
    expect(kept.whiteouts).toEqual(['opt/app/a']);
  });

  it('the whole root replaced: the root is opaque', () => {
    const d = diffRoots(listing(BASE), listing({ new: 'file 1' }));
    expect(d).toEqual({ whiteouts: [], opaque: [''], emit: ['new'], refused: [] });
  });

  it('names with spaces, newlines and bytes that are not UTF-8 are archived as they are', () => {
    const after = { ...BASE, 'etc/with space': 'file 9', 'etc/new\nline': 'file 9', 'etc/bad\xffname': 'file 9', 'etc/d\xfeir': 'dir 9', 'etc/d\xfeir/x': 'file 9' };
    const d = diffRoots(listing(BASE), listing(after));
    expect(d.emit).toEqual(['etc', 'etc/bad\xffname', 'etc/d\xfeir', 'etc/d\xfeir/x', 'etc/new\nline', 'etc/with space']);
    expect(d.whiteouts).toEqual([]);
  });

  it('a deletion no whiteout can name makes the nearest nameable directory opaque, and everything under it goes in the layer', () => {
    const before = { ...BASE, 'etc/bad\xffname': 'file 8', 'etc/\xfe': 'dir 8', 'etc/\xfe/inner': 'file 8', 'etc/\xfe/gone': 'file 8' };
    // not UTF-8: vessel's store records whiteouts as text
    const a = diffRoots(listing(before), listing(without(['etc/foo'], { 'etc/\xfe': 'dir 8', 'etc/\xfe/inner': 'file 8', 'etc/\xfe/gone': 'file 8' })));
    expect(a.opaque).toEqual(['etc']);
    expect(a.whiteouts).toEqual([]);
    expect(a.emit).toEqual(['etc', 'etc/keep', 'etc/\xfe', 'etc/\xfe/inner', 'etc/\xfe/gone'].sort());
    // its directory's name is not UTF-8 either: the next one up
    const afterB: Record<string, string> = { ...before, 'etc/\xfe': 'dir 2' };
    delete afterB['etc/\xfe/gone'];
    const b = diffRoots(listing(before), listing(afterB));
    expect(b.opaque).toEqual(['etc']);
    expect(b.emit).toContain('etc/\xfe/inner');
    expect(b.emit).toContain('etc/bad\xffname');
  });

  it('`.wh..opq` and a name too long for the `.wh.` prefix are escalated the same way', () => {
    const long = 'l'.repeat(252);
    const before = { ...BASE, 'opt/.wh..opq': 'file 8', [`var/${long}`]: 'file 8' };
    const d = diffRoots(listing(before), listing(BASE));
    expect(d.opaque).toEqual(['opt', 'var']);
    expect(d.whiteouts).toEqual([]);
    expect(d.emit).toEqual(['opt', 'opt/app', 'opt/app/a', 'opt/app/sub', 'opt/app/sub/b', 'var', 'var/cache', 'var/cache/x', 'var/cache/y', 'var/keep']);
    // 251 bytes still fit NAME_MAX with the prefix
    const fits = diffRoots(listing({ ...BASE, [`var/${'l'.repeat(251)}`]: 'file 8' }), listing(BASE));
    expect(fits.whiteouts).toEqual([`var/${'l'.repeat(251)}`]);
  });

  it('a name the step made that OCI reserves for whiteouts is refused, not archived as a marker', () => {
    const d = diffRoots(listing(BASE), listing({ ...BASE, 'etc/.wh.foo': 'file 9', 'etc/.wh..wh..opq': 'file 9' }));
    expect(d.refused.map((r) => r.path)).toEqual(['etc/.wh..wh..opq', 'etc/.wh.foo']);
    expect(d.refused[0]!.why).toMatch(/OCI whiteout marker/);
  });

  it('hostile listings are refused: no whiteout or path can be made outside the root', () => {
    for (const bad of ['..', 'etc/..', '../etc', './x', '/abs', 'etc//x', 'etc/', 'a\0b', '']) {
      const l = listing({ ...BASE, [bad]: 'file 1' });
      expect(() => diffRoots(l, listing(BASE)), bad).toThrow(/not a plain relative path/);
      expect(() => diffRoots(listing(BASE), l), bad).toThrow(/not a plain relative path/);
    }
    // a path whose directory is not listed (or is not a directory) is not a walk of one root
    expect(() => diffRoots(listing({ ...BASE, 'nowhere/x': 'file 1' }), listing(BASE))).toThrow(/its directory is not/);
    expect(() => diffRoots(listing(BASE), listing({ ...BASE, 'etc/keep/x': 'file 1' }))).toThrow(/its directory is not/);
  });

  it('a directory replaced by a symlink elsewhere: the whiteout is at the replaced path, never through the link', () => {
    const d = diffRoots(listing(BASE), listing(without(['opt/app/a', 'opt/app/sub', 'opt/app/sub/b'], { 'opt/app': 'symlink 9', opt: 'dir 2' })));
    expect(d.whiteouts).toEqual(['opt/app']);
    expect(d.emit).toEqual(['opt', 'opt/app']);
  });
});
