import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tarForms } from '../../src/image/tar-forms.js';
import { makeRoot, vessel, type TestRoot } from '../helpers/vessel.js';

// `vessel image base`: a FreeBSD image built offline from a FreeBSD base system, here a fake
// FreeBSD-like tree (no FreeBSD runs on this machine): /rescue as one file hard-linked under many
// names, /etc with a master.passwd whose hash must never reach the image. The layer is written by
// real tar; the same argv is run with real bsdtar (FreeBSD's tar) below.
let t: TestRoot;
let base: string;
const SECRET = '$6$rounds=5000$notinimage$abcdefghijklmnopqrstuvwxyz';

beforeAll(() => {
  t = makeRoot('image-base');
  base = mkdtempSync('/tmp/vessel-test-fakebsd-');
  mkdirSync(join(base, 'rescue'));
  mkdirSync(join(base, 'etc'));
  writeFileSync(join(base, 'rescue', 'rescue'), '\x7fELF crunched rescue(8) binary\n', { mode: 0o555 });
  for (const n of ['sh', 'cat', 'nc', 'sleep', 'date', 'hostname', 'mkdir']) linkSync(join(base, 'rescue', 'rescue'), join(base, 'rescue', n));
  writeFileSync(join(base, 'etc', 'services'), 'http\t\t 80/tcp\t   www\n');
  writeFileSync(join(base, 'etc', 'protocols'), 'tcp\t6\tTCP\n');
  writeFileSync(join(base, 'etc', 'master.passwd'), `root:${SECRET}:0:0::0:0:Charlie &:/root:/bin/sh\n`, { mode: 0o600 });
  writeFileSync(join(base, 'etc', 'spwd.db'), SECRET);
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
  t.dispose();
});

describe('vessel image base', () => {
  it('builds a FreeBSD image from /rescue and fresh account files', async () => {
    const r = await vessel(t, ['image', 'base', 'freebsd:latest', '--from', base]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rec = JSON.parse((await vessel(t, ['image', 'inspect', 'freebsd:latest'])).stdout) as { os: string; layers: string[]; config: { env: string[]; cmd: string[] } };
    expect(rec.os).toBe('freebsd');
    expect(rec.config.env).toEqual(['PATH=/rescue:/bin:/sbin:/usr/bin:/usr/sbin']);
    expect(rec.config.cmd).toEqual(['/bin/sh']);
    expect(rec.layers).toHaveLength(1);
    const layer = join(t.root, 'images', 'layers', rec.layers[0]!.replace('sha256:', ''));
    // one copy of the crunched binary: every name is a hard link of it
    const ino = statSync(join(layer, 'rescue', 'rescue')).ino;
    for (const n of ['sh', 'cat', 'nc', 'sleep']) expect(statSync(join(layer, 'rescue', n)).ino).toBe(ino);
    expect(readlinkSync(join(layer, 'bin'))).toBe('rescue');
    expect(readlinkSync(join(layer, 'usr', 'bin'))).toBe('../rescue');
    expect(readFileSync(join(layer, 'etc', 'services'), 'utf8')).toContain('http');
    // never the host's password hashes
    const master = readFileSync(join(layer, 'etc', 'master.passwd'), 'utf8');
    expect(master).not.toContain(SECRET);
    expect(master.split('\n')[0]).toBe('root:*:0:0::0:0:Charlie &:/root:/bin/sh');
    expect(lstatSync(join(layer, 'etc', 'master.passwd')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(layer, 'etc', 'spwd.db'))).toBe(false);
    expect(readFileSync(join(layer, 'etc', 'passwd'), 'utf8')).toContain('www:*:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin');
    expect(lstatSync(join(layer, 'tmp')).mode & 0o7777).toBe(0o1777);
  });

  it('a tree without /rescue: one clear line, no image', async () => {
    const empty = mkdtempSync('/tmp/vessel-test-nobsd-');
    try {
      const r = await vessel(t, ['image', 'base', 'nothing:latest', '--from', empty]);
      expect(r.code).toBe(125);
      expect(r.stderr.split('\n')[0]).toBe(`vessel: image base --from ${empty}: ${empty}/rescue/sh does not exist`);
      expect((await vessel(t, ['image', 'inspect', 'nothing:latest'])).code).not.toBe(0);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('the layer argv works with real bsdtar too, and stores /rescue as hard links', () => {
    const out = join(t.root, 'bsdtar-layer.tar');
    const stage = join(t.root, 'bsdtar-stage');
    mkdirSync(join(stage, 'etc'), { recursive: true });
    writeFileSync(join(stage, 'etc', 'group'), 'wheel:*:0:\n');
    // The FreeBSD form as run off FreeBSD: its program is bsdtar (tar-forms.ts).
    const argv = tarForms('freebsd', 'linux').createBaseLayer(out, stage, ['etc'], base, ['rescue']);
    expect(argv[0]).toBe('bsdtar');
    execFileSync(argv[0]!, argv.slice(1));
    const listing = execFileSync('bsdtar', ['-tvf', out], { encoding: 'utf8' });
    expect(listing).toMatch(/etc\/group/);
    expect(listing.split('\n').filter((l) => / link to rescue\/(rescue|sh|cat|nc|sleep|date|hostname|mkdir)$/.test(l))).toHaveLength(7);
  });

  it('a FreeBSD image is refused on Linux before anything is created', async () => {
    const before = existsSync(join(t.root, 'containers')) ? readdirSync(join(t.root, 'containers')) : [];
    const r = await vessel(t, ['run', '--rm', '--name', 'bsd', 'freebsd:latest', 'sh', '-c', 'true']);
    expect(r.code).toBe(125);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe('vessel: bsd: [container] image: image freebsd:latest is a freebsd image (os: freebsd); this host runs linux containers');
    expect(lines[1]).toMatch(/^ {2}hint: FreeBSD images run on FreeBSD hosts only/);
    const after = existsSync(join(t.root, 'containers')) ? readdirSync(join(t.root, 'containers')) : [];
    expect(after).toEqual(before);
  });
});
