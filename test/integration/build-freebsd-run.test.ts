import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * Issue 13, its last part: a `vessel build` RUN step on FreeBSD records what the step deleted.
 * FreeBSD's roots show no deletion as a file — unionfs keeps its whiteouts as DT_WHT directory
 * entries that readdir(3) and tar never return, and a ZFS clone has no upper directory — so the
 * step's root is listed before the command and after it (build/root-walk.ts), the listings
 * compared (build/root-diff.ts), and the layer is the whiteout markers followed by what changed,
 * archived by bsdtar from the live root (build/layers.ts, tar-forms.ts streamPaths).
 *
 * Run here through vessel's real FreeBSD path (VESSEL_OS=freebsd, the test seam: the real
 * supervisor, the jail driver, the image store's bsdtar forms) against the model host with real
 * roots (test/helpers/freebsd-build.ts): each store's root is a real union filesystem made the way
 * the driver asks (overlayfs standing in for unionfs and for a ZFS clone), the step's command
 * runs in it for real, bsdtar runs for real. What must hold: the image built, applied by vessel's
 * own FreeBSD apply path (image/flat.ts: the chain flattened with its deletions by bsdtar), is
 * exactly the root the step left — deletions of files and directories, a directory replaced by a
 * file and a file by a directory, a directory deleted and made again, names with spaces,
 * newlines and bytes that are not UTF-8 (one deleted: its directory goes opaque); and no whiteout
 * lands outside the root. The argv of both builds is golden (test/fixtures/freebsd/
 * build-run-deletions/ and build-run-deletions-zfs/). What the model cannot show: overlayfs keeps
 * its deletions as 0/0 devices in the upper directory, which tar could read, where unionfs's are invisible; so
 * the test asserts that the upper directory is never read, rather than that reading it fails.
 */
const tmp = mkdtempSync(join(tmpdir(), 'vessel-build-freebsd-'));
const root = join(tmp, 'store');
const scratch = join(tmp, 'scratch');
process.env.VESSEL_ROOT = root;
process.env.VESSEL_OS = 'freebsd';
delete process.env.VESSEL_ZFS_DATASET;
const repo = resolve(__dirname, '..', '..');

import { host, setHostRunner } from '../../src/util/host.js';
import { buildImage } from '../../src/build/index.js';
import { importImage, paths, resolveImage, withMergedRoot, type StoredImage } from '../../src/image/index.js';
import { expectGolden, normalizeRoot } from '../helpers/freebsd.js';
import { RealRootFreeBSD, snapshotTree } from '../helpers/freebsd-build.js';
import { makeOciArchive, makeTar, stagingLeft } from '../helpers/image.js';

const NL = '\n';
const FF = '\xff'; // the byte 0xff: names are byte strings (latin1) below
const bytes = (s: string) => Buffer.from(s, 'latin1');

/** The step: every kind of change the layer must carry, in one shell script of the image. */
const SCRIPT = `set -e
nl='
'
ff=$(printf '\\377')
rm /data/file
rm -rf /data/dir
rm -rf /data/dir2file && echo now-a-file > /data/dir2file
rm /data/file2dir && mkdir /data/file2dir && echo inner > /data/file2dir/inner
rm -rf /data/remade && mkdir /data/remade && echo new > /data/remade/new
rm "/data/with space" "/data/new\${nl}line"
echo added > "/data/added space"; echo added > "/data/added\${nl}line"; echo added > "/data/added\${ff}byte"
chmod 700 /data/keepdir
echo changed >> /data/keep
rm "/odd/bad\${ff}name"
rm -rf /data/sub && ln -s / /data/sub
ln -s ../../.. /data/escape
`;

let fake: RealRootFreeBSD | undefined;
let restore: (() => void) | undefined;
const ctx = join(tmp, 'ctx');

function install(): RealRootFreeBSD {
  fake = new RealRootFreeBSD(host(), scratch);
  restore = setHostRunner(fake);
  return fake;
}

afterEach(() => {
  fake?.dispose();
  restore?.();
  fake = undefined;
  restore = undefined;
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** The data layer, written from a real tree by bsdtar (tar-stream cannot name bytes that are not UTF-8). */
function dataLayer(): Buffer {
  const t = join(tmp, 'data-tree');
  const mk = (rel: string, content?: string) => {
    const p = Buffer.concat([bytes(t), bytes(`/${rel}`)]);
    if (content === undefined) mkdirSync(p, { recursive: true });
    else writeFileSync(p, content);
  };
  for (const d of ['data', 'data/dir', 'data/dir/sub', 'data/dir2file', 'data/remade', 'data/keepdir', 'data/sub', 'data/sub/deep', 'odd', 'steps']) mk(d);
  mk('data/file', 'file\n');
  mk('data/dir/a', 'a\n');
  mk('data/dir/sub/b', 'b\n');
  mk('data/dir2file/x', 'x\n');
  mk('data/file2dir', 'was a file\n');
  mk('data/remade/old1', 'old1\n');
  mk('data/remade/old2', 'old2\n');
  mk('data/keep', 'keep\n');
  mk('data/keepdir/k', 'k\n');
  mk('data/with space', 'space\n');
  mk(`data/new${NL}line`, 'newline\n');
  mk('data/sub/deep/s', 's\n');
  mk(`odd/bad${FF}name`, 'bad\n');
  mk('odd/other', 'other\n');
  mk('steps/deletions.sh', SCRIPT);
  // (bsdtar warns that it cannot show the name that is not UTF-8 in this locale; it archives its bytes)
  return execFileSync('bsdtar', ['-c', '-f', '-', '--numeric-owner', '--uid', '0', '--gid', '0', '-C', t, '.'], { maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'ignore'] });
}

beforeAll(async () => {
  mkdirSync(scratch, { recursive: true });
  mkdirSync(ctx, { recursive: true });
  const busybox = join(tmp, 'busybox.tar');
  execFileSync('sh', [join(repo, 'test/fixtures/build-busybox.sh'), busybox]);
  // a third layer that deletes: the nullfs root's lower is then the chain flattened (image/flat.ts)
  const deletes = await makeTar([{ name: 'www', type: 'directory' }, { name: 'www/.wh.index.html' }]);
  writeFileSync(join(tmp, 'base.tar'), await makeOciArchive({ layers: [readFileSync(busybox), dataLayer(), deletes], config: { Cmd: ['/bin/sh'] }, os: 'freebsd' }));
  // imported for real by the FreeBSD path's bsdtar forms, before the model host is installed
  await importImage(join(tmp, 'base.tar'), 'base:1');
  writeFileSync(join(ctx, 'Vesselfile'), 'FROM base:1\nRUN ["/bin/sh", "/steps/deletions.sh"]\nCMD ["/bin/sh"]\n');
});

/** The build's argv, as a FreeBSD host would run it: the state root, random names and digests fixed. */
function transcript(f: RealRootFreeBSD): string {
  return normalizeRoot(f.transcript(), root)
    .replace(/vessel-build-[0-9a-f]{10}/g, 'vessel-build-<id>')
    .replace(/images\/tmp\/(build|flat)-\d+-[0-9a-f]{12}/g, 'images/tmp/$1-<staging>')
    .replace(/(layers|flat)\/[0-9a-f]{64}/g, '$1/<digest>')
    .replace(/\b(layer|run-paths)-\d+\b/g, '$1-<n>')
    .replace(/zfs\/[0-9a-f]{32}/g, 'zfs/<chainid>')
    .replace(/(zroot\/vessel\/layers\/)[0-9a-f]{32}/g, '$1<chainid>')
    .replace(/devfs rule -s \d+/g, 'devfs rule -s <ruleset>')
    .replace(/^( {2}\| run-id )[0-9a-f]{8}$/gm, '$1<run>');
}

/** Build, then compare what the step left with the image applied by vessel's FreeBSD path. */
async function buildAndCompare(tag: string, dir = ctx) {
  const f = install();
  await buildImage({ context: dir, tag, noCache: true });
  const argv = transcript(f);
  expect([...f.roots.keys()]).toHaveLength(1);
  const step = [...f.roots.values()][0]!;
  const { record } = await resolveImage(tag);
  const applied = await withMergedRoot(record.layers, async (d) => snapshotTree(d));
  return { record, step, applied, argv };
}

const EXPECTED_MARKERS = [
  './data/.wh.dir', './data/.wh.dir2file', './data/.wh.file', './data/.wh.file2dir', `./data/.wh.new${NL}line`, './data/.wh.sub',
  './data/.wh.with space', './data/remade/.wh..wh..opq', './odd/.wh..wh..opq',
].sort();

describe('FreeBSD build: a RUN step\'s deletions are in its layer', () => {
  it('nullfs store (unionfs root): the image built is exactly the root the step left', async () => {
    const { record: rec, step, applied, argv } = await buildAndCompare('run:nullfs');
    // the step did what it says (a check of the test itself)
    expect(step.has('data/file')).toBe(false);
    expect(step.get('data/dir2file')).toMatch(/^100000 /);
    expect(step.get('data/file2dir')).toMatch(/^40000 /);
    expect(step.has(`data/added${FF}byte`)).toBe(true);
    expect(step.has(`odd/bad${FF}name`)).toBe(false);
    expect(applied).toEqual(step);

    // the layer: markers first (an in-order applier removes what `.wh.NAME` names when it meets
    // it), then the changes; the store's record of its deletions
    const top = rec.layers.at(-1)!;
    const stored = JSON.parse(readFileSync(paths.record(rec.id), 'utf8')) as StoredImage;
    const names = execFileSync('bsdtar', ['-t', '-f', paths.blob(stored.layerBlobs.at(-1)!.digest)]).toString('latin1').split('\n').filter(Boolean).map((n) => n.replace(/\\n/g, NL).replace(/\\377/g, FF));
    expect(names.slice(0, EXPECTED_MARKERS.length)).toEqual(EXPECTED_MARKERS);
    expect(names.slice(EXPECTED_MARKERS.length).some((n) => n.includes('.wh.'))).toBe(false);
    expect(names).toEqual(expect.arrayContaining(['./data/dir2file', './data/file2dir/inner', './data/remade/new', './data/added space', `./data/added${NL}line`, `./data/added${FF}byte`, './odd/other', './data/sub', './data/escape']));
    const record = JSON.parse(readFileSync(`${paths.layer(top)}.json`, 'utf8')) as { whiteouts: string[]; opaqueDirs: string[] };
    expect(record).toEqual({
      whiteouts: ['data/dir', 'data/dir2file', 'data/file', 'data/file2dir', `data/new${NL}line`, 'data/sub', 'data/with space'],
      opaqueDirs: ['data/remade', 'odd'],
    });
    expect(stagingLeft(join(root, 'images'))).toEqual([]);
    expect(readdirSync(join(root, 'containers'))).toEqual([]);
    // the unionfs upper directory is never read: unionfs's whiteouts are not in it as files
    expect(argv).not.toMatch(/^tar .*\/upper( |$)/m);
    expectGolden('build-run-deletions', 'commands.txt', argv);
  });

  it('ZFS store (a clone of the image\'s snapshot, no upper directory): the same', async () => {
    process.env.VESSEL_ZFS_DATASET = 'zroot/vessel';
    try {
      const { step, applied, argv } = await buildAndCompare('run:zfs');
      expect(step.has('data/dir')).toBe(false);
      expect(step.get('data/remade/new')).toBeDefined();
      expect(step.has('data/remade/old1')).toBe(false);
      expect(applied).toEqual(step);
      expectGolden('build-run-deletions-zfs', 'commands.txt', argv);
    } finally {
      delete process.env.VESSEL_ZFS_DATASET;
    }
  });

  it('no whiteout lands outside the root: a deletion through a symlink the image holds is recorded where it happened, inside', async () => {
    // step 1 makes, inside the root, a directory at the path the host has a canary at, and a
    // link to it; step 2 deletes through the link. Followed on the host, either would reach the canary.
    const outside = join(tmp, 'outside');
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'victim'), 'the host\'s\n');
    const dir = join(tmp, 'ctx-link');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Vesselfile'), [
      'FROM base:1',
      `RUN ["/bin/sh", "-c", "mkdir -p ${outside} && echo root > ${outside}/victim && ln -s ${outside} /data/out"]`,
      'RUN ["/bin/sh", "-c", "rm /data/out/victim"]',
      '',
    ].join('\n'));
    const f = install();
    await buildImage({ context: dir, tag: 'link:1', noCache: true });
    const { record } = await resolveImage('link:1');
    const rel = outside.slice(1);
    expect(JSON.parse(readFileSync(`${paths.layer(record.layers.at(-1)!)}.json`, 'utf8'))).toEqual({ whiteouts: [`${rel}/victim`], opaqueDirs: [] });
    const applied = await withMergedRoot(record.layers, async (d) => snapshotTree(d));
    expect(applied.get('data/out')).toBe(`120000 777 0:0 -> ${outside}`);
    expect(applied.has(`${rel}/victim`)).toBe(false);
    expect(applied.get(rel)).toMatch(/^40000 /);
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('the host\'s\n');
    expect(f.roots.size).toBe(2);
  });

  it('a step that leaves a name OCI reserves for whiteouts is refused in one line, and leaves nothing behind', async () => {
    const dir = join(tmp, 'ctx-wh');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Vesselfile'), 'FROM base:1\nRUN ["/bin/sh", "-c", "echo x > /data/.wh.keep"]\n');
    install();
    await expect(buildImage({ context: dir, tag: 'wh:1', noCache: true })).rejects.toThrow(
      'Vesselfile:2: RUN ["/bin/sh", "-c", "echo x > /data/.wh.keep"]: it left /data/.wh.keep: a name beginning with ".wh." is an OCI whiteout marker; a layer cannot hold it as a file',
    );
    expect(readdirSync(join(root, 'containers'))).toEqual([]);
    expect(execFileSync('mount', { encoding: 'utf8' })).not.toContain(root);
  });
});
