import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';
import { END, compress, hashTree, makeOciArchive, makeTar, pad, pax, ustar, type TarEntry } from '../helpers/image.js';

/**
 * The malicious-archive corpus: every archive must be refused with one E_ARCHIVE line naming
 * the entry (or blob) and the reason, write nothing outside, and leave the store byte for byte
 * as it was (the whole tree is hashed before and after).
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-image-corpus-'));
process.env.VESSEL_ROOT = root;
const files = join(root, 'files');
const outside = join(root, 'outside');
const images = join(root, 'images');
const repo = resolve(__dirname, '..', '..');
const ups = '../'.repeat(12) + outside.slice(1);

type Store = typeof import('../../src/image/index.js');
let store: Store;
let busyboxTar: Buffer;

beforeAll(async () => {
  mkdirSync(files, { recursive: true });
  mkdirSync(outside, { recursive: true });
  execFileSync('sh', [join(repo, 'test/fixtures/build-busybox.sh'), join(files, 'busybox.tar')]);
  busyboxTar = readFileSync(join(files, 'busybox.tar'));
  store = await import('../../src/image/index.js');
  await store.importRootfsTarball(join(files, 'busybox.tar'), 'bb:1');
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** One 512-byte ustar header for an empty file, repeated: a million entries cost no time to build. */
async function millionEntries(n: number): Promise<Buffer> {
  const one = (await makeTar([{ name: 'tiny', content: '' }])).subarray(0, 512);
  const buf = Buffer.alloc(512 * n + 1024);
  for (let i = 0; i < n; i++) one.copy(buf, i * 512);
  return buf;
}

const escapes: Array<[string, TarEntry[], RegExp]> = [
  ['path traversal', [{ name: 'ok', content: 'x' }, { name: `${ups}/evil`, content: 'pwned' }], /entry "[./]*.*evil": path goes outside the image \(".."\)/],
  ['absolute path', [{ name: `${outside}/evil`, content: 'pwned' }], /entry ".*outside\/evil": absolute path/],
  ['symlink escape', [{ name: 'esc', type: 'symlink', linkname: outside }, { name: 'esc/evil', content: 'pwned' }], /entry "esc\/evil": parent "esc" is a symlink/],
  ['hardlink escape', [{ name: 'h', type: 'link', linkname: `${ups}/etc/passwd` }], /entry "h": hardlink target ".*": path goes outside the image/],
];

const cases: Array<[string, () => Promise<{ name: string; data: Buffer }>, RegExp]> = [
  ...escapes.map(([what, entries, re]) => [`rootfs tarball: ${what}`, async () => ({ name: 'evil.tar.gz', data: compress(await makeTar(entries), 'gzip') }), re] as [string, () => Promise<{ name: string; data: Buffer }>, RegExp]),
  ...escapes.map(([what, entries, re]) => [
    `OCI layer: ${what}`,
    async () => ({ name: 'evil.oci.tar', data: await makeOciArchive({ layers: [busyboxTar, await makeTar(entries)], annotations: { 'io.containerd.image.name': 'evil:1' } }) }),
    new RegExp(`layer sha256:[0-9a-f]{64}: ${re.source}`),
  ] as [string, () => Promise<{ name: string; data: Buffer }>, RegExp]),
  ...escapes.map(([what, entries, re]) => [
    `appc image: ${what}`,
    async () => ({
      name: 'evil.aci',
      data: compress(await makeTar([{ name: 'manifest', content: JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'evil' }) }, { name: 'rootfs', type: 'directory' }, ...entries.map((e) => ({ ...e, name: e.name.startsWith('/') ? e.name : `rootfs/${e.name}`, ...(e.type === 'link' ? { linkname: `rootfs/${e.linkname}` } : {}) }))]), 'gzip'),
    }),
    re,
  ] as [string, () => Promise<{ name: string; data: Buffer }>, RegExp]),
  ['a million tiny entries', async () => ({ name: 'many.tar.zst', data: compress(await millionEntries(1_000_000), 'zstd') }), /entry "tiny": more than 500000 entries \(limit VESSEL_IMAGE_MAX_ENTRIES\)/],
  ['truncated gzip', async () => ({ name: 'trunc.tar.gz', data: compress(busyboxTar, 'gzip').subarray(0, 400_000) }), /trunc\.tar\.gz: truncated or corrupt: gzip: unexpected end of file \(after entry ".*"\)/],
  ['truncated zstd', async () => ({ name: 'trunc.tar.zst', data: compress(busyboxTar, 'zstd').subarray(0, 400_000) }), /trunc\.tar\.zst: truncated or corrupt: zstd: .*\(after entry ".*"\)/],
  ['truncated layer inside an OCI archive', async () => ({
    name: 'trunc-layer.oci.tar',
    data: await makeOciArchive({ layers: [busyboxTar], annotations: { 'io.containerd.image.name': 'evil:1' }, tamper: { layerBlob: compress(busyboxTar, 'gzip').subarray(0, 400_000) } }),
  }), /layer sha256:[0-9a-f]{64}: truncated or corrupt: gzip: unexpected end of file/],
  ['bad manifest JSON', async () => ({
    name: 'badjson.oci.tar',
    data: await makeOciArchive({ layers: [busyboxTar], annotations: { 'io.containerd.image.name': 'evil:1' }, tamper: { manifestText: '{"schemaVersion": 2, "config": ' } }),
  }), /badjson\.oci\.tar: manifest sha256:[0-9a-f]{64}: not valid JSON/],
  ['layer whose digest does not match', async () => ({
    name: 'mismatch.oci.tar',
    data: await makeOciArchive({ layers: [busyboxTar], annotations: { 'io.containerd.image.name': 'evil:1' }, tamper: { layerBlob: gzipSync(busyboxTar, { level: 1 }) } }),
  }), /mismatch\.oci\.tar: layer sha256:[0-9a-f]{64}: digest mismatch \(content is sha256:[0-9a-f]{64}\)/],
  ['layer whose diff id does not match the config', async () => ({
    name: 'diffid.oci.tar',
    data: await makeOciArchive({ layers: [busyboxTar], annotations: { 'io.containerd.image.name': 'evil:1' }, tamper: { diffId: `sha256:${'0'.repeat(64)}` } }),
  }), /uncompressed digest sha256:[0-9a-f]{64} is not the config's diff id sha256:0{64}/],
  ['bad appc manifest JSON', async () => ({
    name: 'badjson.aci',
    data: compress(await makeTar([{ name: 'manifest', content: '{"acKind": "ImageManifest",' }, { name: 'rootfs', type: 'directory' }]), 'gzip'),
  }), /badjson\.aci: manifest: not valid JSON/],
  ['garbage', async () => ({ name: 'garbage.tar', data: Buffer.from('not an archive\n'.repeat(200)) }), /garbage\.tar: not a valid tar stream/],
  // GNU tar and bsdtar read no data after a symlink: the "data" below is a header they would
  // unpack (a symlink out of the image, then a file through it) without it ever being judged.
  ['a header hidden in a symlink\'s data', async () => ({
    name: 'hidden.tar',
    data: Buffer.concat([ustar({ name: 'sl', type: '2', linkname: 'x', size: 1024 }), ustar({ name: 'esc', type: '2', linkname: ups }), ustar({ name: 'esc/evil', size: 0 }), ustar({ name: 'ok' }), END]),
  }), /hidden\.tar: not a valid tar stream: entry "sl": a symlink with 1024 bytes of data \(tar programs disagree on what follows it\)/],
  // GNU tar reads each region of a sparse file padded to a block, bsdtar back to back.
  ['a sparse map tar programs frame differently', async () => ({
    name: 'sparse.tar.zst',
    data: compress(Buffer.concat([pax([['GNU.sparse.size', '10000'], ['GNU.sparse.map', '0,100,4096,412'], ['GNU.sparse.name', 'sp']]), ustar({ name: 'GNUSparseFile.0/sp', size: 512 }), pad(Buffer.alloc(512, 0x41)), END]), 'zstd'),
  }), /sparse\.tar\.zst: entry "sp": sparse map: a region with data follows one that does not fill whole blocks/],
];

describe('malicious-archive corpus', () => {
  it.each(cases)('%s', async (_what, make, pattern) => {
    const { name, data } = await make();
    const f = join(files, name);
    writeFileSync(f, data);
    const before = hashTree(images);
    const err = await store.importImage(f, name.endsWith('.oci.tar') ? undefined : 'evil:1').then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_ARCHIVE', message: expect.stringMatching(pattern) });
    expect((err as Error).message).not.toContain('\n');
    expect((err as Error).message.startsWith(f)).toBe(true);
    expect(hashTree(images)).toBe(before);
    expect(readdirSync(outside)).toEqual([]);
    rmSync(f);
  }, 180_000);
});
