import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import tarStream from 'tar-stream';
import { compress, deletingLayers, makeOciArchive, makeTar, motdTree, stagingLeft } from '../helpers/image.js';
import { makeRoot, vessel, type TestRoot } from '../helpers/vessel.js';
import { GNU_ONLY_TAR_OPTIONS, xattrOf } from '../helpers/bsdtar.js';
import { tarForms } from '../../src/image/tar-forms.js';

/**
 * Issue 13 findings 1-4 and item 2, issue 15's FreeBSD forms: the image data path of FreeBSD —
 * layer unpack (file flags and extattrs not applied), whiteouts, the layer copy of a flattened
 * root, export as a rootfs tar (zstd) and as .aci, ISO 9660, `image base`, a build's COPY/ADD
 * layers — run for real with bsdtar, FreeBSD's own tar (Debian's libarchive-tools is the same
 * program), through the vessel CLI with VESSEL_OS=freebsd (the test seam). Off FreeBSD the image
 * code names that program `bsdtar` (tar-forms.ts); a `bsdtar` first on PATH logs its argv and
 * execs the real one. Every tar the FreeBSD path runs is in that log; none may carry a GNU-only
 * option, and bsdtar itself refuses one ("Option --sort is not supported").
 */
let t: TestRoot;
let work: string;
let bin: string;
const tarLog = () => join(work, 'tar-argv.log');

function env(os: 'freebsd' | 'linux'): NodeJS.ProcessEnv {
  return os === 'freebsd' ? { VESSEL_OS: 'freebsd', PATH: `${bin}:${process.env.PATH ?? ''}`, TAR_LOG: tarLog() } : {};
}

/** The argv of every tar the FreeBSD runs issued, one per line (written by the shim). */
function tarCalls(): string[][] {
  if (!existsSync(tarLog())) return [];
  return readFileSync(tarLog(), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]);
}

function bsdList(file: string): string[] {
  return execFileSync('bsdtar', ['-tvf', file], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

/** A layer entry with xattrs (tar-stream's pax records), as buildah or bsdtar writes them. */
async function tarWithXattr(): Promise<Buffer> {
  const pack = tarStream.pack();
  const archive = buffer(pack);
  pack.entry({ name: 'etc', type: 'directory', mode: 0o755, mtime: new Date(0) });
  pack.entry({ name: 'etc/noted', mode: 0o644, mtime: new Date(0), pax: { 'SCHILY.xattr.user.note': 'kept' } }, 'x\n');
  pack.finalize();
  return archive;
}

beforeAll(async () => {
  t = makeRoot('freebsd-tar');
  work = mkdtempSync(join(tmpdir(), 'vessel-freebsd-tar-'));
  bin = join(work, 'bin');
  mkdirSync(bin);
  // The shim: one JSON line per call, then the real bsdtar with the same arguments.
  writeFileSync(join(bin, 'bsdtar'), `#!/bin/sh
node -e 'require("fs").appendFileSync(process.env.TAR_LOG, JSON.stringify(process.argv.slice(1)) + "\\n")' -- "$@"
exec /usr/bin/bsdtar "$@"
`);
  chmodSync(join(bin, 'bsdtar'), 0o755);

  const { base, top } = await deletingLayers();
  writeFileSync(join(work, 'layered.tar'), await makeOciArchive({ layers: [base, top, await tarWithXattr()], config: { Cmd: ['/bin/sh'] } }));
});

afterAll(() => {
  t.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe('FreeBSD image data path with real bsdtar', () => {
  it('imports a layered OCI image: layers unpacked by bsdtar, deletions kept as the record only (no overlay whiteouts)', async () => {
    const r = await vessel(t, ['image', 'import', join(work, 'layered.tar'), 'layered:1'], { env: env('freebsd') });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rec = JSON.parse((await vessel(t, ['image', 'inspect', 'layered:1'], { env: env('freebsd') })).stdout) as { layers: string[] };
    const dir = (i: number) => join(t.root, 'images', 'layers', rec.layers[i]!.replace('sha256:', ''));
    // no markers and no 0/0 character devices: FreeBSD's unionfs and ZFS read neither
    expect(readdirSync(join(dir(1), 'www'))).toEqual([]);
    expect(readdirSync(join(dir(1), 'etc'))).toEqual(['c']);
    expect(JSON.parse(readFileSync(`${dir(1)}.json`, 'utf8'))).toEqual({ whiteouts: ['www/index.html'], opaqueDirs: ['etc'] });
    expect(readlinkSync(join(dir(0), 'usr', 'bin', 'x'))).toBe('../../lib/x');
    // extattrs are not unpacked on FreeBSD (--no-xattrs: its system namespace holds ACL and MAC data)
    expect(readFileSync(join(dir(2), 'etc', 'noted'), 'utf8')).toBe('x\n');
    expect(await xattrOf(dir(2), 'etc/noted', 'user.note')).toBeUndefined();
    const extracts = tarCalls().filter((a) => a.includes('-x'));
    expect(extracts.length).toBeGreaterThanOrEqual(3); // its three layers (and the OCI layout itself, if unpacked by tar)
    for (const a of extracts) expect(a).toEqual(['-x', '-f', '-', '-C', expect.any(String), '--numeric-owner', '-p', '--same-owner', '--no-fflags', '--no-xattrs']);
  });

  it('unpacking: an archive\'s file flags and extattrs are not applied (bsdtar as root would)', async () => {
    const f = join(work, 'flags.tar');
    // Python's tarfile writing a pax archive with per-entry records (file flags, an extattr).
    execFileSync('python3', ['-c', "import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)\n" +
      "ti = tarfile.TarInfo('appendonly'); ti.size = 3; ti.pax_headers = {'SCHILY.fflags': 'sappnd', 'SCHILY.xattr.user.origin': 'archive'}\n" +
      "t.addfile(ti, io.BytesIO(b'hi\\n'))\nt.close()\n", f]);
    // The control: bsdtar as root, as FreeBSD runs it by default, sets the append-only flag.
    const plain = mkdtempSync(join(work, 'plain-'));
    execFileSync('/usr/bin/bsdtar', ['-x', '-f', f, '-C', plain]);
    try {
      expect(execFileSync('lsattr', [join(plain, 'appendonly')], { encoding: 'utf8' }).split(' ')[0]).toContain('a');
    } finally {
      spawnSync('chattr', ['-a', join(plain, 'appendonly')]);
    }
    const r = await vessel(t, ['image', 'import', f, 'flags:1'], { env: env('freebsd') });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rec = JSON.parse((await vessel(t, ['image', 'inspect', 'flags:1'])).stdout) as { os: string; layers: string[] };
    expect(rec.os).toBe('freebsd');
    const file = join(t.root, 'images', 'layers', rec.layers[0]!.replace('sha256:', ''), 'appendonly');
    expect(readFileSync(file, 'utf8')).toBe('hi\n');
    expect(execFileSync('lsattr', [file], { encoding: 'utf8' }).split(' ')[0]).not.toContain('a');
    expect(execFileSync('python3', ['-c', 'import os, sys; print(os.listxattr(sys.argv[1]))', file], { encoding: 'utf8' }).trim()).toBe('[]');
  });

  it('ISO 9660: turned into a tar stream and unpacked by bsdtar', async () => {
    const iso = join(work, 'x.iso');
    execFileSync('genisoimage', ['-quiet', '-R', '-o', iso, motdTree(join(work, 'isotree'), 'from an iso\n')]);
    const before = tarCalls().length;
    const r = await vessel(t, ['image', 'import', iso, 'iso:bsd'], { env: env('freebsd') });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // the two ends of one pipe start together: the shim logs them in whichever order they ran
    expect(tarCalls().slice(before).map((a) => a.slice(0, 3)).sort()).toEqual([['-c', '-f', '-'], ['-x', '-f', '-']]);
    const rec = JSON.parse((await vessel(t, ['image', 'inspect', 'iso:bsd'])).stdout) as { layers: string[] };
    const layer = join(t.root, 'images', 'layers', rec.layers[0]!.replace('sha256:', ''));
    expect(readFileSync(join(layer, 'etc', 'motd'), 'utf8')).toBe('from an iso\n');
    expect(lstatSync(join(layer, 'etc', 'issue')).isSymbolicLink()).toBe(true);
  });

  it('exports the merged root as a tar, plain and zstd: the layers applied by a bsdtar pipe onto the chain\'s flattened directory, once, deletions honoured', async () => {
    for (const file of ['flat.tar', 'flat.tar.zst']) {
      const out = join(work, file);
      const before = tarCalls().length;
      const r = await vessel(t, ['image', 'export', 'layered:1', out, '--format', 'tar'], { env: env('freebsd') });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const names = bsdList(out).map((l) => l.split(/\s+/).slice(8).join(' '));
      expect(names).toContain('./www/keep.html');
      expect(names).not.toContain('./www/index.html');
      expect(names.filter((n) => n.startsWith('./etc/') && n !== './etc/').sort()).toEqual(['./etc/c', './etc/noted']);
      expect(names).toContain('./usr/bin/x -> ../../lib/x');
      const calls = tarCalls().slice(before);
      // the copy of each layer: one bsdtar -c piped into one bsdtar -x, per layer, then the archive;
      // made once into the chain's flattened directory (image/flat.ts), which the next export reads
      expect(calls.filter((a) => a[0] === '-c' && a[2] === '-').length).toBe(file === 'flat.tar' ? 3 : 0);
      expect(calls.at(-1)!.at(-2)).toMatch(new RegExp(`^${t.root}/images/flat/[0-9a-f]{64}$`));
      // zstd by libarchive's own filter on every core
      if (file.endsWith('.zst')) expect(calls.at(-1)).toEqual(expect.arrayContaining(['--zstd', '--options', 'zstd:threads=0']));
    }
  });

  it('exports .aci: the manifest first, the root under rootfs/, symlink targets untouched (-s …,S)', async () => {
    for (const os of ['freebsd', 'linux'] as const) {
      const out = join(work, `app-${os}.aci`);
      const r = await vessel(t, ['image', 'export', 'layered:1', out, '--format', 'aci'], { env: env(os) });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const lines = bsdList(out);
      expect(lines[0]).toMatch(/ manifest$/);
      expect(lines.some((l) => l.endsWith(' rootfs/www/keep.html'))).toBe(true);
      // appc's prefix is for member names; a link's `../../lib/x` is relative to the link
      expect(lines.some((l) => l.endsWith(' rootfs/usr/bin/x -> ../../lib/x'))).toBe(true);
      expect(lines.some((l) => l.endsWith(' rootfs/dot -> ./usr'))).toBe(true);
    }
  });

  it('image base: the /rescue layer is written and unpacked by bsdtar', async () => {
    const fake = join(work, 'fakebsd');
    mkdirSync(join(fake, 'rescue'), { recursive: true });
    mkdirSync(join(fake, 'etc'));
    writeFileSync(join(fake, 'rescue', 'rescue'), 'crunched\n', { mode: 0o555 });
    for (const n of ['sh', 'cat']) linkSync(join(fake, 'rescue', 'rescue'), join(fake, 'rescue', n));
    writeFileSync(join(fake, 'etc', 'services'), 'http 80/tcp\n');
    const before = tarCalls().length;
    const r = await vessel(t, ['image', 'base', 'freebsd:latest', '--from', fake], { env: env('freebsd') });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const calls = tarCalls().slice(before);
    expect(calls.map((a) => a[0])).toEqual(['-cf', '-x']);
    const rec = JSON.parse((await vessel(t, ['image', 'inspect', 'freebsd:latest'])).stdout) as { os: string; layers: string[] };
    expect(rec.os).toBe('freebsd');
    const layer = join(t.root, 'images', 'layers', rec.layers[0]!.replace('sha256:', ''));
    expect(lstatSync(join(layer, 'rescue', 'sh')).ino).toBe(lstatSync(join(layer, 'rescue', 'rescue')).ino);
  });

  it('a build\'s COPY and ADD layers are written and unpacked by bsdtar', async () => {
    const ctx = join(work, 'ctx');
    mkdirSync(join(ctx, 'site'), { recursive: true });
    writeFileSync(join(ctx, 'site', 'index.html'), '<h1>hi</h1>\n');
    writeFileSync(join(ctx, 'extra.tar.gz'), compress(await makeTar([{ name: 'opt', type: 'directory' }, { name: 'opt/tool', content: 'tool\n' }]), 'gzip'));
    writeFileSync(join(ctx, 'Vesselfile'), 'FROM scratch\nCOPY site/ /www/\nADD extra.tar.gz /\nCMD ["/bin/sh"]\n');
    const before = tarCalls().length;
    const r = await vessel(t, ['build', '-q', '-t', 'site:1', ctx], { env: env('freebsd') });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const calls = tarCalls().slice(before);
    expect(calls.filter((a) => a[0] === '-c')).toHaveLength(2); // one tree layer per step
    const rec = JSON.parse((await vessel(t, ['image', 'inspect', 'site:1'])).stdout) as { layers: string[] };
    const top = join(t.root, 'images', 'layers', rec.layers[1]!.replace('sha256:', ''));
    expect(readFileSync(join(top, 'opt', 'tool'), 'utf8')).toBe('tool\n');
  });

  it('every FreeBSD form of tar-forms.ts runs with real bsdtar, each compression and the RUN-step streams included', () => {
    const f = tarForms('freebsd', 'freebsd');
    const tree = join(work, 'forms-tree');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc', 'x'), 'x\n');
    const bsd = (argv: string[], input?: Buffer) => execFileSync('bsdtar', argv.slice(1), { ...(input ? { input } : {}), maxBuffer: 1 << 26 });
    for (const c of ['none', 'gzip', 'xz', 'zstd'] as const) {
      const out = join(work, `forms-${c}.tar`);
      bsd(f.createRootfs(tree, out, c));
      expect(bsdList(out).some((l) => l.endsWith(' ./etc/x'))).toBe(true);
    }
    const layer = join(work, 'forms-layer.tar.gz');
    bsd(f.createTreeLayer(tree, layer));
    const stream = bsd(f.streamTree(tree));
    for (const [i, input] of [readFileSync(layer), stream].entries()) {
      const dest = mkdtempSync(join(work, `forms-x${i}-`));
      bsd(f.extract(dest, true), input);
      bsd(f.extract(mkdtempSync(join(work, `forms-u${i}-`)), false), input);
      expect(readFileSync(join(dest, 'etc', 'x'), 'utf8')).toBe('x\n');
    }
    // a RUN step's changes: the listed paths only, names NUL-separated, any byte but NUL and '/'
    const oddTree = join(work, 'forms-odd');
    mkdirSync(join(oddTree, 'etc', 'skipped'), { recursive: true });
    writeFileSync(Buffer.concat([Buffer.from(join(oddTree, 'etc')), Buffer.from('/sp ace\nnew\xffline', 'latin1')]), 'odd\n');
    const list = join(work, 'forms-paths');
    writeFileSync(list, Buffer.concat([Buffer.from('./etc\0'), Buffer.from('./etc/sp ace\nnew\xffline\0', 'latin1')]));
    const picked = mkdtempSync(join(work, 'forms-paths-'));
    bsd(f.extract(picked, true), bsd(f.streamPaths!(oddTree, list)));
    expect(readdirSync(join(picked, 'etc'), { encoding: 'buffer' }).map((b) => b.toString('latin1'))).toEqual(['sp ace\nnew\xffline']);
    const copy = mkdtempSync(join(work, 'forms-copy-'));
    bsd(f.copyIn(copy), bsd(f.copyOut(tree)));
    expect(readFileSync(join(copy, 'etc', 'x'), 'utf8')).toBe('x\n');
    const base = join(work, 'forms-base.tar');
    bsd(f.createBaseLayer(base, tree, ['etc'], tree, ['etc/x']));
    expect(bsdList(base).length).toBe(3);
  });

  it('a .tar.gz with bytes after its last gzip member imports alike on both paths (FreeBSD\'s gzip warns and exits non-zero, igzip says nothing); a broken member after a good one is refused on both', async () => {
    const gz = compress(await makeTar([{ name: 'etc', type: 'directory' }, { name: 'etc/motd', content: 'signed\n' }]), 'gzip');
    // A detached signature appended to the archive, as some release tarballs carry.
    const signed = join(work, 'signed.tar.gz');
    writeFileSync(signed, Buffer.concat([gz, Buffer.from('-----BEGIN SIGNATURE-----\nnot gzip at all\n')]));
    const broken = join(work, 'broken.tar.gz');
    writeFileSync(broken, Buffer.concat([gz, gz.subarray(0, 40)]));
    for (const os of ['freebsd', 'linux'] as const) {
      const ok = await vessel(t, ['image', 'import', signed, `signed:${os}`], { env: env(os) });
      expect([os, ok.code, ok.stderr]).toEqual([os, 0, '']);
      const bad = await vessel(t, ['image', 'import', broken, `broken:${os}`], { env: env(os) });
      expect([os, bad.code, bad.stderr]).toEqual([os, 125, expect.stringMatching(/^vessel: .*broken\.tar\.gz: truncated or corrupt: gzip: unexpected end of file/)]);
    }
  });

  it('no tar the FreeBSD path ran carried a GNU-only option, and nothing is left in the store\'s tmp/', () => {
    const all = tarCalls();
    expect(all.length).toBeGreaterThan(10);
    const gnu = all.flatMap((a) => a.filter((x) => GNU_ONLY_TAR_OPTIONS.some((o) => x === o || x.startsWith(`${o}=`))));
    expect(gnu).toEqual([]);
    expect(stagingLeft(join(t.root, 'images'))).toEqual([]);
  });
});
