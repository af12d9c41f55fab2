import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashTree, makeOciArchive, motdTree, stagingLeft } from '../helpers/image.js';
import { makeRoot, vessel } from '../helpers/vessel.js';

/**
 * Real-world tar features, in archives written by the tools people use — GNU tar, bsdtar
 * (libarchive), Python's tarfile, busybox tar, git archive — imported on the Linux path (GNU tar
 * unpacks) and on the FreeBSD path (VESSEL_OS=freebsd: the FreeBSD forms of tar-forms.ts, run
 * with real bsdtar): GNU and pax sparse files, GNU long names and links, pax global headers,
 * hard links to files of lower layers (OCI import and pull). Names with control characters or
 * bytes that are not UTF-8 are printed escaped in errors.
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-tar-features-'));
process.env.VESSEL_ROOT = root;
const files = join(root, 'files');
const images = join(root, 'images');
const sh = (cmd: string, args: string[], opts: { cwd?: string } = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });

type Store = typeof import('../../src/image/index.js');
let store: Store;
let tree: string;

/** A Python tarfile script writing `out` (sys.argv[1]); `body` uses t (the open archive) and io. */
function python(out: string, body: string, format = 'GNU_FORMAT', open = ''): void {
  const script = `import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w', format=tarfile.${format}, encoding='utf-8', errors='surrogateescape'${open})\n` +
    `def add(name, data=b'', **kw):\n  ti = tarfile.TarInfo(name)\n  for k, v in kw.items(): setattr(ti, k, v)\n  if ti.type in (tarfile.REGTYPE, tarfile.AREGTYPE): ti.size = len(data)\n  t.addfile(ti, io.BytesIO(data) if ti.size else None)\n` +
    `${body}\nt.close()\n`;
  execFileSync('python3', ['-c', script, out]);
}

const flavors = [
  ['Linux (GNU tar unpacks)', undefined],
  ['FreeBSD (bsdtar unpacks)', 'freebsd'],
] as const;

function onOs(os: string | undefined): void {
  if (os) process.env.VESSEL_OS = os;
  else delete process.env.VESSEL_OS;
}

beforeAll(async () => {
  mkdirSync(files, { recursive: true });
  store = await import('../../src/image/index.js');
  // A tree with what the archives below carry: a sparse file (holes at 0 and between
  // 30 data runs, so GNU's format needs extension blocks), long names, links.
  tree = join(root, 'tree');
  const long = join(tree, 'd'.repeat(120), 'e'.repeat(90));
  mkdirSync(long, { recursive: true });
  writeFileSync(join(long, `${'f'.repeat(100)}.txt`), 'deep\n');
  symlinkSync(`/${'t'.repeat(150)}/target`, join(tree, 'longlink'));
  linkSync(join(long, `${'f'.repeat(100)}.txt`), join(tree, 'hard-to-long'));
  execFileSync('python3', ['-c', "import sys\nf = open(sys.argv[1], 'wb')\nfor i in range(30):\n  f.seek((i + 1) * 1024 * 1024); f.write(b'run %d' % i)\nf.close()", join(tree, 'sparse')]);
});

afterAll(() => {
  delete process.env.VESSEL_OS;
  rmSync(root, { recursive: true, force: true });
});

afterEach(() => {
  delete process.env.VESSEL_OS;
});

/** The unpacked layer of a one-layer image. */
async function layerOf(id: string): Promise<string> {
  return (await store.resolveImage(id)).layerDirs[0]!;
}

describe('sparse files', () => {
  const archives: Array<[string, string[]]> = [
    ['GNU tar -S, gnu format (old GNU sparse headers with extension blocks)', ['tar', '-S', '--format=gnu']],
    ['GNU tar -S, pax sparse 0.0', ['tar', '-S', '--format=pax', '--sparse-version=0.0']],
    ['GNU tar -S, pax sparse 0.1', ['tar', '-S', '--format=pax', '--sparse-version=0.1']],
    ['GNU tar -S, pax sparse 1.0', ['tar', '-S', '--format=pax', '--sparse-version=1.0']],
    ['bsdtar, pax (sparse read by default)', ['bsdtar', '--format', 'pax']],
  ];
  for (const [os, forced] of flavors) {
    it.each(archives)(`${os}: %s`, async (what, argv) => {
      const f = join(files, `sparse-${what.replace(/\W+/g, '-')}.tar`);
      sh(argv[0]!, [...argv.slice(1), '-cf', f, '-C', tree, 'sparse']);
      onOs(forced);
      const rec = await store.importRootfsTarball(f, 'sparse:1');
      const unpacked = join(await layerOf(rec.id), 'sparse');
      expect(readFileSync(unpacked).equals(readFileSync(join(tree, 'sparse')))).toBe(true);
      // Unpacked as a sparse file again, not 31 MiB of zeros.
      expect(statSync(unpacked).blocks * 512).toBeLessThan(4 * 1024 * 1024);
      // A sparse file counts what it unpacks to against VESSEL_IMAGE_MAX_BYTES.
      await expect(store.importRootfsTarball(f, 'sparse:small', { limits: { maxBytes: 16 * 1024 * 1024 } })).rejects.toMatchObject({
        code: 'E_ARCHIVE', message: expect.stringMatching(/entry "sparse": unpacks to more than 16777216 bytes/),
      });
    }, 60_000);
  }
});

describe('GNU long names and links, pax, busybox and Python archives', () => {
  const writers: Array<[string, (out: string) => void]> = [
    ['GNU tar, gnu format (././@LongLink)', (out) => sh('tar', ['--format=gnu', '-cf', out, '-C', tree, '.'])],
    ['GNU tar, pax format', (out) => sh('tar', ['--format=pax', '-cf', out, '-C', tree, '.'])],
    ['bsdtar, pax format', (out) => sh('bsdtar', ['--format', 'pax', '-cf', out, '-C', tree, '.'])],
    ['Python tarfile, gnu format', (out) => python(out, `t.add(${JSON.stringify(tree)}, arcname='.')`)],
  ];
  for (const [os, forced] of flavors) {
    it.each(writers)(`${os}: %s`, async (_what, write) => {
      const f = join(files, 'long.tar');
      write(f);
      onOs(forced);
      const rec = await store.importRootfsTarball(f, 'long:1');
      const layer = await layerOf(rec.id);
      const deep = join(layer, 'd'.repeat(120), 'e'.repeat(90), `${'f'.repeat(100)}.txt`);
      expect(readFileSync(deep, 'utf8')).toBe('deep\n');
      expect(lstatSync(join(layer, 'longlink')).isSymbolicLink()).toBe(true);
      expect(sh('readlink', [join(layer, 'longlink')]).trim()).toBe(`/${'t'.repeat(150)}/target`);
      expect(statSync(join(layer, 'hard-to-long')).ino).toBe(statSync(deep).ino);
    }, 60_000);
  }

  it('busybox tar archives import', async () => {
    const small = motdTree(join(root, 'bbtree'), 'busybox\n');
    const f = join(files, 'busybox-made.tar');
    sh('busybox', ['tar', '-c', '-f', f, '-C', small, 'etc']);
    const rec = await store.importRootfsTarball(f, 'bb-made:1');
    expect(readFileSync(join(await layerOf(rec.id), 'etc', 'issue'), 'utf8')).toBe('busybox\n');
  });
});

describe('pax global headers', () => {
  it('git archive (a global comment) and GNU tar global keywords import, on both OSes', async () => {
    const repo = join(root, 'gitrepo');
    mkdirSync(join(repo, 'd'), { recursive: true });
    writeFileSync(join(repo, 'a'), 'from git\n');
    writeFileSync(join(repo, 'd', 'b'), 'b\n');
    sh('git', ['init', '-q'], { cwd: repo });
    sh('git', ['add', '.'], { cwd: repo });
    sh('git', ['-c', 'user.email=t@example.org', '-c', 'user.name=t', 'commit', '-qm', 'm'], { cwd: repo });
    const gitTar = join(files, 'git.tar');
    sh('git', ['archive', '--format=tar', '-o', gitTar, 'HEAD'], { cwd: repo });
    const gnuTar = join(files, 'global.tar');
    sh('tar', ['--format=pax', '--pax-option=comment=made by vessel tests,vessel.test=1', '-cf', gnuTar, '-C', repo, 'a']);
    expect(readFileSync(gnuTar).subarray(156, 157).toString()).toBe('g');
    for (const [, forced] of flavors) {
      onOs(forced);
      for (const f of [gitTar, gnuTar]) {
        const rec = await store.importRootfsTarball(f, 'global:1');
        expect(readFileSync(join(await layerOf(rec.id), 'a'), 'utf8')).toBe('from git\n');
      }
    }
  });

  it('a global header that renames every entry is refused, the store unchanged', async () => {
    const f = join(files, 'global-path.tar');
    python(f, "add('ok', b'x')", 'PAX_FORMAT', ", pax_headers={'path': 'evil'}");
    const before = hashTree(images);
    await expect(store.importRootfsTarball(f, 'global:evil')).rejects.toMatchObject({
      code: 'E_ARCHIVE', message: `${f}: not a valid tar stream: pax global header sets "path" for every entry`,
    });
    expect(hashTree(images)).toBe(before);
  });
});

describe('names with control characters or bytes that are not UTF-8', () => {
  it.each([
    ['terminal escapes', "'evil\\x1b]0;pwned\\x07\\x1b[2J/../x'", 'evil\\x1b]0;pwned\\x07\\x1b[2J/../x'],
    ['bytes that are not UTF-8', "b'\\xff\\xfe/../x'.decode('utf-8', 'surrogateescape')", '\\xff\\xfe/../x'],
    ['a newline', "'two\\nlines/../x'", 'two\\x0alines/../x'],
  ])('%s: one line, escaped, the store unchanged', async (_what, pyName, shown) => {
    const f = join(files, 'names.tar');
    python(f, `add(${pyName}, b'pwned')`);
    const before = hashTree(images);
    const err = await store.importRootfsTarball(f, 'names:1').then(() => undefined, (e: Error) => e);
    expect(err).toMatchObject({ code: 'E_ARCHIVE' });
    const msg = (err as Error).message;
    expect(msg).toBe(`${f}: entry "${shown}": path goes outside the image ("..")`);
    // eslint-disable-next-line no-control-regex
    expect(msg).not.toMatch(/[\x00-\x1f\x7f\x80-\x9f\ufffd]/);
    expect(hashTree(images)).toBe(before);
  });
});

describe('hard links to files of lower layers', () => {
  /** Layer 1 by GNU tar: usr/bin/tool (0750, 1000:1000) and etc/gone; layer 2 by Python. */
  function layers(top: string): { base: Buffer; top: Buffer } {
    const t = join(root, 'lower-tree');
    rmSync(t, { recursive: true, force: true });
    mkdirSync(join(t, 'usr', 'bin'), { recursive: true });
    mkdirSync(join(t, 'etc'));
    writeFileSync(join(t, 'usr', 'bin', 'tool'), '#!/bin/sh\necho tool\n');
    chmodSync(join(t, 'usr', 'bin', 'tool'), 0o750);
    chownSync(join(t, 'usr', 'bin', 'tool'), 1000, 1000);
    writeFileSync(join(t, 'etc', 'gone'), 'deleted above\n');
    const base = execFileSync('tar', ['-c', '-f', '-', '--numeric-owner', '-C', t, 'usr', 'etc']);
    const f = join(files, 'top.tar');
    python(f, top);
    return { base, top: readFileSync(f) };
  }
  const LINKS = "add('usr', type=tarfile.DIRTYPE, mode=0o755)\nadd('usr/bin', type=tarfile.DIRTYPE, mode=0o755)\n" +
    "add('usr/bin/alias', type=tarfile.LNKTYPE, linkname='usr/bin/tool')\nadd('usr/bin/alias2', type=tarfile.LNKTYPE, linkname='usr/bin/tool')\n" +
    "add('usr/bin/own', b'own\\n', mode=0o644)\nadd('usr/bin/own-link', type=tarfile.LNKTYPE, linkname='usr/bin/own')";

  function checkTop(topDir: string, baseDir: string): void {
    const alias = join(topDir, 'usr', 'bin', 'alias');
    const st = lstatSync(alias);
    expect(st.isFile()).toBe(true);
    expect(readFileSync(alias, 'utf8')).toBe('#!/bin/sh\necho tool\n');
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o750, 1000, 1000]);
    // Two links to one lower file: one copy, linked within the layer; never the lower inode.
    expect(statSync(join(topDir, 'usr', 'bin', 'alias2')).ino).toBe(st.ino);
    expect(st.ino).not.toBe(statSync(join(baseDir, 'usr', 'bin', 'tool')).ino);
    // A link to a file of the same layer stays a plain hard link.
    expect(statSync(join(topDir, 'usr', 'bin', 'own-link')).ino).toBe(statSync(join(topDir, 'usr', 'bin', 'own')).ino);
  }

  for (const [os, forced] of flavors) {
    it(`${os}: an OCI archive whose top layer links to the base layer's file imports`, async () => {
      const { base, top } = layers(LINKS);
      const f = join(files, 'links.oci.tar');
      writeFileSync(f, await makeOciArchive({ layers: [base, top], annotations: { 'io.containerd.image.name': `links:${forced ?? 'linux'}` } }));
      onOs(forced);
      const rec = await store.importImage(f, undefined);
      const r = await store.resolveImage(rec.id);
      checkTop(r.layerDirs[1]!, r.layerDirs[0]!);
      const flat = join(root, `flat-${forced ?? 'linux'}`);
      await store.flattenInto(rec.layers, flat);
      expect(readFileSync(join(flat, 'usr', 'bin', 'alias'), 'utf8')).toBe('#!/bin/sh\necho tool\n');
    }, 60_000);
  }

  it('a link to a file a layer between deletes is refused, the store unchanged', async () => {
    const { base } = layers('');
    const middle = join(files, 'middle.tar');
    python(middle, "add('etc', type=tarfile.DIRTYPE, mode=0o755)\nadd('etc/.wh.gone')");
    const top = join(files, 'top-gone.tar');
    python(top, "add('etc', type=tarfile.DIRTYPE, mode=0o755)\nadd('etc/again', type=tarfile.LNKTYPE, linkname='etc/gone')");
    const f = join(files, 'gone.oci.tar');
    writeFileSync(f, await makeOciArchive({ layers: [base, readFileSync(middle), readFileSync(top)], annotations: { 'io.containerd.image.name': 'gone:1' } }));
    const before = hashTree(images);
    await expect(store.importImage(f, undefined)).rejects.toMatchObject({
      code: 'E_ARCHIVE', message: expect.stringMatching(/^.*gone\.oci\.tar: layer sha256:[0-9a-f]{64}: entry "etc\/again": hardlink target "etc\/gone" is in no layer below$/),
    });
    expect(hashTree(images)).toBe(before);
  });

  it('a rootfs tarball with a link to a file it does not hold is refused by name', async () => {
    const f = join(files, 'dangling.tar');
    python(f, "add('b', type=tarfile.LNKTYPE, linkname='a')");
    await expect(store.importRootfsTarball(f, 'dangling:1')).rejects.toMatchObject({
      code: 'E_ARCHIVE', message: `${f}: entry "b": hardlink target "a" is not in the archive`,
    });
  });

  it('pulled: the layers arrive in parallel, the links are filled in from the layer below', async () => {
    const src = makeRoot('links-src');
    const dst = makeRoot('links-dst');
    try {
      const { base, top } = layers(LINKS);
      const f = join(files, 'links-pull.oci.tar');
      writeFileSync(f, await makeOciArchive({ layers: [base, top], annotations: { 'io.containerd.image.name': 'links:pull' } }));
      const reg = `file://${join(src.root, 'registry')}`;
      for (const args of [['image', 'import', f], ['publish', 'links:pull', reg], ['pull', `${reg}/links:pull`]]) {
        const r = await vessel(args[0] === 'pull' ? dst : src, args, { timeoutMs: 120_000 });
        expect(r.code, r.stderr).toBe(0);
      }
      const rec = JSON.parse((await vessel(dst, ['image', 'inspect', 'links:pull'])).stdout) as { layers: string[] };
      const dirs = rec.layers.map((l) => join(dst.root, 'images', 'layers', l.slice(7)));
      checkTop(dirs[1]!, dirs[0]!);
      expect(stagingLeft(join(dst.root, 'images'))).toEqual([]);
    } finally {
      src.dispose();
      dst.dispose();
    }
  }, 120_000);
});

it('nothing is left in the store\'s tmp/', () => {
  expect(stagingLeft(images)).toEqual([]);
});
