import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Issue 13 finding 4 on a FreeBSD host without a ZFS store: the root is the layers stacked with
 * nullfs and unionfs, and unionfs reads no OCI deletions, so a file a higher layer deleted would
 * show through. A chain with deletions is flattened once into one directory (image/flat.ts) by
 * the FreeBSD tar forms — run here for real with bsdtar (VESSEL_OS=freebsd, the test seam) — and
 * `image prune` removes it with the last image of that chain.
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-freebsd-flat-'));
process.env.VESSEL_ROOT = root;
process.env.VESSEL_OS = 'freebsd';
afterAll(() => rmSync(root, { recursive: true, force: true }));

import { deletingLayers, makeOciArchive, makeTar, stagingLeft } from '../helpers/image.js';
import { exportImage, importImage, pruneImages, removeImage, resolveImage, unionLowerDirs, withStoreLock } from '../../src/image/index.js';

const noUsers = async () => [];

describe('FreeBSD nullfs roots: a layer chain with deletions is flattened once', () => {
  it('deleted and opaque paths are gone from the one directory; made once, shared, named before it exists', async () => {
    const { base, top } = await deletingLayers();
    const file = join(root, 'layered.tar');
    writeFileSync(file, await makeOciArchive({ layers: [base, top], config: { Cmd: ['/bin/sh'] } }));
    await importImage(file, 'layered:1');
    const img = await resolveImage('layered:1');

    // a plan names it without making it
    const [planned] = await unionLowerDirs(img.record.layers, { make: false });
    expect(planned).toMatch(new RegExp(`^${root}/images/flat/[0-9a-f]{64}$`));
    expect(existsSync(planned!)).toBe(false);

    const [flat] = await unionLowerDirs(img.record.layers, { make: true });
    expect(flat).toBe(planned);
    expect(readdirSync(join(flat!, 'www'))).toEqual(['keep.html']);
    expect(readdirSync(join(flat!, 'etc'))).toEqual(['c']);
    expect(readFileSync(join(flat!, 'usr', 'bin', 'x'), 'utf8')).toBe('lib\n');
    const made = statSync(flat!).ctimeMs;

    // the next start finds it: not copied again, nothing left in staging
    expect(await unionLowerDirs(img.record.layers, { make: true })).toEqual([flat]);
    expect(statSync(flat!).ctimeMs).toBe(made);
    expect(stagingLeft(join(root, 'images'))).toEqual([]);
  });

  it('an export reads the chain\'s flattened directory instead of copying every layer again', async () => {
    const img = await resolveImage('layered:1');
    const [flat] = await unionLowerDirs(img.record.layers, { make: false });
    // a file only the flattened directory has: seen in the export only if the export read it
    writeFileSync(join(flat!, 'only-in-flat'), 'x\n');
    try {
      const out = join(root, 'layered-export.tar');
      await exportImage('layered:1', out, { format: 'tar' });
      const names = execFileSync('tar', ['-tf', out], { encoding: 'utf8' }).split('\n').map((n) => n.replace(/^\.\//, '')).filter(Boolean);
      expect(names).toContain('only-in-flat');
      expect(names).toContain('www/keep.html');
      expect(names).not.toContain('www/index.html');
      expect(names).not.toContain('etc/a');
      expect(stagingLeft(join(root, 'images'))).toEqual([]);
    } finally {
      rmSync(join(flat!, 'only-in-flat'));
    }
  });

  it('a chain that deletes nothing stacks its layers as they are', async () => {
    const one = await makeTar([{ name: 'etc', type: 'directory' }, { name: 'etc/a', content: 'a\n' }]);
    const two = await makeTar([{ name: 'etc', type: 'directory' }, { name: 'etc/b', content: 'b\n' }]);
    const file = join(root, 'plain.tar');
    writeFileSync(file, await makeOciArchive({ layers: [one, two], config: { Cmd: ['/bin/sh'] } }));
    await importImage(file, 'plain:1');
    const img = await resolveImage('plain:1');
    expect(await unionLowerDirs(img.record.layers, { make: true })).toEqual(img.layerDirs);
  });

  it('the copy is made outside the store lock; starts racing for one chain share one directory', async () => {
    const { base, top } = await deletingLayers();
    const third = await makeTar([{ name: 'etc', type: 'directory' }, { name: 'etc/d', content: 'd\n' }]);
    const file = join(root, 'racing.tar');
    writeFileSync(file, await makeOciArchive({ layers: [base, top, third], config: { Cmd: ['/bin/sh'] } }));
    await importImage(file, 'racing:1');
    const img = await resolveImage('racing:1');
    const tmp = join(root, 'images', 'tmp');
    const copies = () => (existsSync(tmp) ? readdirSync(tmp).filter((n) => n.startsWith('flat-')) : []);
    const copied = () => copies().every((n) => existsSync(join(tmp, n, 'root', 'etc', 'd')));

    // the store lock held by someone else (an import, a prune) does not stop the copies: both
    // starts' trees are complete while it is held; they only wait for it to rename
    let starts: Promise<[string[], string[]]> | undefined;
    await withStoreLock(async () => {
      starts = Promise.all([unionLowerDirs(img.record.layers, { make: true }), unionLowerDirs(img.record.layers, { make: true })]);
      for (let i = 0; i < 400; i++) {
        if (copies().length === 2 && copied()) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(copies()).toHaveLength(2);
      expect(copied()).toBe(true);
    });
    const [[a], [b]] = await starts!;
    expect(a).toBe(b);
    expect(readdirSync(join(a!, 'etc')).sort()).toEqual(['c', 'd']);
    expect(readdirSync(join(a!, 'www'))).toEqual(['keep.html']);
    expect(stagingLeft(join(root, 'images'))).toEqual([]); // the loser's copy dropped
    await removeImage('racing:1', { users: noUsers });
  });

  it('image prune removes a flattened chain with the last image that has it', async () => {
    const img = await resolveImage('layered:1');
    const [flat] = await unionLowerDirs(img.record.layers, { make: false });
    // racing:1 went in the test before: its own top layer and its flattened chain
    expect(await pruneImages(noUsers)).toMatchObject({ layers: 1, flattened: 1 });
    expect(existsSync(flat!)).toBe(true); // still tagged
    await removeImage('layered:1', { users: noUsers });
    // flattened chains are counted apart from layers
    expect(await pruneImages(noUsers)).toMatchObject({ layers: 2, flattened: 1 });
    expect(existsSync(flat!)).toBe(false);
    expect(existsSync(join(root, 'images', 'flat'))).toBe(false);
  });
});
