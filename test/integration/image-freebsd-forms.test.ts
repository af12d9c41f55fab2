import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeOciArchive, makeTar, motdTree } from '../helpers/image.js';

/**
 * The image steps of the FreeBSD path, run for real: VESSEL_OS=freebsd makes vessel use the
 * FreeBSD forms of tar-forms.ts, and off FreeBSD their "tar" is run as bsdtar (Debian's
 * libarchive-tools: the same program as FreeBSD's /usr/bin/tar). GNU tar would refuse them
 * (--no-fflags, -s), so every step below passing is also proof that bsdtar ran it.
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-freebsd-forms-'));
process.env.VESSEL_ROOT = root;
const files = join(root, 'files');
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

type Store = typeof import('../../src/image/index.js');
let store: Store;

beforeAll(async () => {
  mkdirSync(files, { recursive: true });
  store = await import('../../src/image/index.js');
});
afterEach(() => {
  delete process.env.VESSEL_OS;
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Python's tarfile writing a pax archive with per-entry records (file flags, extattrs). */
function paxArchive(out: string): void {
  const py = "import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)\n" +
    "ti = tarfile.TarInfo('appendonly'); ti.size = 3; ti.pax_headers = {'SCHILY.fflags': 'sappnd', 'SCHILY.xattr.user.origin': 'archive'}\n" +
    "t.addfile(ti, io.BytesIO(b'hi\\n'))\nt.close()\n";
  execFileSync('python3', ['-c', py, out]);
}

describe('FreeBSD forms with real bsdtar', () => {
  it('unpacking: an archive\'s file flags and extattrs are not applied (bsdtar as root would)', async () => {
    const f = join(files, 'flags.tar');
    paxArchive(f);
    // The control: bsdtar as root, as FreeBSD runs it by default, sets the append-only flag.
    const plain = join(root, 'plain');
    mkdirSync(plain);
    sh('bsdtar', ['-x', '-f', f, '-C', plain]);
    try {
      expect(sh('lsattr', [join(plain, 'appendonly')]).split(' ')[0]).toContain('a');
    } finally {
      spawnSync('chattr', ['-a', join(plain, 'appendonly')]);
    }
    process.env.VESSEL_OS = 'freebsd';
    const rec = await store.importRootfsTarball(f, 'flags:1');
    const layer = (await store.resolveImage(rec.id)).layerDirs[0]!;
    expect(rec.os).toBe('freebsd');
    expect(readFileSync(join(layer, 'appendonly'), 'utf8')).toBe('hi\n');
    expect(sh('lsattr', [join(layer, 'appendonly')]).split(' ')[0]).not.toContain('a');
    const xattrs = sh('python3', ['-c', 'import os, sys; print(os.listxattr(sys.argv[1]))', join(layer, 'appendonly')]).trim();
    expect(xattrs).toBe('[]');
  });

  it('OCI whiteouts: markers removed, deletions recorded; flattened and exported (tar, zstd, appc) by bsdtar', async () => {
    const base = await makeTar([
      { name: 'etc', type: 'directory' }, { name: 'etc/motd', content: 'base\n' }, { name: 'etc/gone', content: 'x\n' },
      { name: 'var', type: 'directory' }, { name: 'var/cache', type: 'directory' }, { name: 'var/cache/old', content: 'old\n' },
      { name: 'lib', type: 'symlink', linkname: '../usr/lib' },
    ]);
    const top = await makeTar([
      { name: 'etc', type: 'directory' }, { name: 'etc/.wh.gone' }, { name: 'var', type: 'directory' },
      { name: 'var/cache', type: 'directory' }, { name: 'var/cache/.wh..wh..opq' }, { name: 'var/cache/new', content: 'new\n' },
    ]);
    const f = join(files, 'wh.oci.tar');
    writeFileSync(f, await makeOciArchive({ layers: [base, top], annotations: { 'io.containerd.image.name': 'wh:bsd' } }));
    process.env.VESSEL_OS = 'freebsd';
    const rec = await store.importImage(f, undefined);
    const [, topDir] = (await store.resolveImage(rec.id)).layerDirs;
    // No overlay whiteouts (no 0/0 devices, no trusted xattrs on FreeBSD): only the recorded deletions.
    expect(readdirSync(join(topDir!, 'etc'))).toEqual([]);
    expect(readdirSync(join(topDir!, 'var', 'cache'))).toEqual(['new']);
    expect(JSON.parse(readFileSync(`${topDir}.json`, 'utf8'))).toEqual({ whiteouts: ['etc/gone'], opaqueDirs: ['var/cache'] });

    const out = join(files, 'wh.tar.zst');
    await store.exportImage('wh:bsd', out, { format: 'tar' });
    const names = sh('bsdtar', ['-tf', out]).split('\n').filter(Boolean).sort();
    expect(names).toEqual(['./', './etc/', './etc/motd', './lib', './var/', './var/cache/', './var/cache/new']);

    const aci = join(files, 'wh.aci');
    await store.exportImage('wh:bsd', aci, { format: 'aci' });
    const listing = sh('bsdtar', ['-tvf', aci]);
    expect(listing.split('\n')[0]).toMatch(/ manifest$/);
    expect(listing).toMatch(/rootfs\/lib -> \.\.\/usr\/lib/);
    expect(listing).toMatch(/rootfs\/var\/cache\/new/);
  });

  it('ISO 9660 through bsdtar', async () => {
    const tree = motdTree(join(root, 'isotree'), 'from an iso\n');
    const iso = join(files, 'x.iso');
    sh('genisoimage', ['-quiet', '-R', '-o', iso, tree]);
    process.env.VESSEL_OS = 'freebsd';
    const rec = await store.importImage(iso, 'iso:bsd');
    const layer = (await store.resolveImage(rec.id)).layerDirs[0]!;
    expect(readFileSync(join(layer, 'etc', 'motd'), 'utf8')).toBe('from an iso\n');
    expect(lstatSync(join(layer, 'etc', 'issue')).isSymbolicLink()).toBe(true);
  });

  it.each([['linux (GNU tar)', undefined], ['freebsd (bsdtar)', 'freebsd']])('appc export on %s: members renamed rootfs/, symlink targets untouched', async (_what, os) => {
    const f = join(files, 'links.tar');
    writeFileSync(f, await makeTar([
      { name: 'usr', type: 'directory' }, { name: 'usr/lib', type: 'directory' }, { name: 'usr/lib/x.so', content: 'x' },
      { name: 'lib', type: 'symlink', linkname: '../usr/lib' }, { name: 'dot', type: 'symlink', linkname: './usr' },
    ]));
    if (os) process.env.VESSEL_OS = os;
    await store.importRootfsTarball(f, `aci-links:${os ?? 'linux'}`);
    const aci = join(files, `links-${os ?? 'linux'}.aci`);
    await store.exportImage(`aci-links:${os ?? 'linux'}`, aci, { format: 'aci' });
    const listing = sh('bsdtar', ['-tvf', aci]);
    expect(listing).toMatch(/ rootfs\/lib -> \.\.\/usr\/lib\n/);
    expect(listing).toMatch(/ rootfs\/dot -> \.\/usr\n/);
    expect(listing).toMatch(/ rootfs\/usr\/lib\/x\.so\n/);
  });

  it('nothing is left in the store\'s tmp/', () => {
    expect(existsSync(join(root, 'images', 'tmp'))).toBe(false);
  });
});
