import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, existsSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { buffer } from 'node:stream/consumers';
import tarStream from 'tar-stream';

/**
 * A digest of a whole directory tree: every path, its type, mode, owner, size, content, link
 * target and xattrs. Two equal digests mean "byte-for-byte unchanged" for the store tests.
 */
export function hashTree(dir: string): string {
  const h = createHash('sha256');
  if (!existsSync(dir)) return 'absent';
  const walk = (rel: string) => {
    const p = join(dir, rel);
    const st = lstatSync(p);
    h.update(`${rel}\0${st.mode}\0${st.uid}:${st.gid}\0${st.size}\0${st.rdev}\0`);
    if (st.isSymbolicLink()) h.update(readlinkSync(p));
    else if (st.isFile()) h.update(readFileSync(p));
    else if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  walk('');
  return h.digest('hex');
}

/**
 * What is left in a store's staging directory (images/tmp/): none when nothing was left behind.
 * tmp/ itself is part of the store, kept empty between stagings (image/store.ts stagingRoot).
 */
export function stagingLeft(images: string): string[] {
  const tmp = join(images, 'tmp');
  return existsSync(tmp) ? readdirSync(tmp) : [];
}

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  linkname?: string;
  content?: string;
  mode?: number;
}

/** A tar archive in memory, written with tar-stream (test archives are small). */
export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const archive = buffer(pack);
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), mtime: new Date(0), uid: 0, gid: 0 } as tarStream.Header;
    if (e.linkname !== undefined) header.linkname = e.linkname;
    if (type === 'file') pack.entry(header, e.content ?? '');
    else pack.entry(header);
  }
  pack.finalize();
  return archive;
}

/**
 * A ustar header block with a valid checksum (fields the tests vary; the rest zero): for archives
 * no tar program writes, which the tar gate must stop.
 */
export function ustar(h: { name: string; type?: string; size?: number; linkname?: string; prefix?: string; magic?: 'ustar' | 'gnu' }): Buffer {
  const b = Buffer.alloc(512);
  b.write(h.name, 0, 100, 'latin1');
  b.write('0000644\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write(`${(h.size ?? 0).toString(8).padStart(11, '0')}\0`, 124);
  b.write('00000000000\0', 136);
  b.write(h.type ?? '0', 156, 'latin1');
  if (h.linkname) b.write(h.linkname, 157, 100, 'latin1');
  if (h.magic === 'gnu') b.write('ustar  \0', 257, 'latin1');
  else b.write('ustar\x0000', 257, 'latin1');
  if (h.prefix) b.write(h.prefix, 345, 155, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

export const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
export const END = Buffer.alloc(1024);

/** A pax 'x' (or 'g') header and its records. */
export function pax(records: Array<[string, string]>, type = 'x'): Buffer {
  const body = Buffer.concat(records.map(([k, v]) => {
    const rest = ` ${k}=${v}\n`;
    let len = rest.length + 1;
    while (String(len).length + rest.length !== len) len++;
    return Buffer.from(`${len}${rest}`, 'latin1');
  }));
  return Buffer.concat([ustar({ name: 'PaxHeader', type, size: body.length }), pad(body)]);
}

/** Compress with the system tools, as users' archives are made. */
export function compress(data: Buffer, kind: 'gzip' | 'xz' | 'zstd' | 'bzip2'): Buffer {
  const argv: Record<string, string[]> = { gzip: ['gzip', '-c'], xz: ['xz', '-c'], zstd: ['zstd', '-c', '-q'], bzip2: ['bzip2', '-c'] };
  const [cmd, ...args] = argv[kind]!;
  return execFileSync(cmd!, args, { input: data, maxBuffer: 1 << 30 });
}

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

export interface OciArchiveSpec {
  /** Uncompressed layer tars, base first. */
  layers: Buffer[];
  /** The OCI config's "config" object (Cmd, Env …). */
  config?: Record<string, unknown>;
  /** index.json annotations of the one manifest. */
  annotations?: Record<string, string>;
  /** The config's os (default linux). */
  os?: string;
  /** Damage on purpose (corpus tests). */
  tamper?: { manifestText?: string; layerBlob?: Buffer; diffId?: string };
}

/** An OCI image layout in one tar, built by hand (gzip layers), as another tool would write it. */
export async function makeOciArchive(spec: OciArchiveSpec): Promise<Buffer> {
  const blobs = new Map<string, Buffer>();
  const put = (b: Buffer) => {
    const d = sha(b);
    blobs.set(d, b);
    return d;
  };
  const layerDescs = spec.layers.map((tar, i) => {
    const gz = i === spec.layers.length - 1 && spec.tamper?.layerBlob ? spec.tamper.layerBlob : compress(tar, 'gzip');
    const digest = i === spec.layers.length - 1 && spec.tamper?.layerBlob ? sha(compress(tar, 'gzip')) : sha(gz);
    blobs.set(digest, gz);
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: gz.length };
  });
  const config = Buffer.from(JSON.stringify({
    created: '2024-01-01T00:00:00Z', architecture: 'amd64', os: spec.os ?? 'linux', config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: spec.layers.map((t, i) => (i === 0 && spec.tamper?.diffId) || sha(t)) },
  }));
  const configDigest = put(config);
  const manifest = Buffer.from(spec.tamper?.manifestText ?? JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layerDescs,
  }));
  const manifestDigest = put(manifest);
  const index = JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, ...(spec.annotations ? { annotations: spec.annotations } : {}) }],
  });
  const pack = tarStream.pack();
  const archive = buffer(pack);
  pack.entry({ name: 'oci-layout' }, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  pack.entry({ name: 'index.json' }, index);
  for (const [d, b] of blobs) pack.entry({ name: `blobs/sha256/${d.slice(7)}` }, b);
  pack.finalize();
  return archive;
}

/** A small tree as files are found in images: etc/motd (`text`) and etc/issue, a relative symlink to it. */
export function motdTree(dir: string, text: string): string {
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(join(dir, 'etc', 'motd'), text);
  symlinkSync('motd', join(dir, 'etc', 'issue'));
  return dir;
}

/**
 * A base layer and an upper layer that deletes: www/index.html by a whiteout, etc/ by an opaque
 * marker (etc/c replaces etc/a and etc/b). The base has relative symlinks (usr/bin/x → ../../lib/x,
 * dot → ./usr) that a deletion or a copy must never follow out of the tree.
 */
export async function deletingLayers(): Promise<{ base: Buffer; top: Buffer }> {
  const base = await makeTar([
    { name: 'etc', type: 'directory' },
    { name: 'etc/a', content: 'a\n' },
    { name: 'etc/b', content: 'b\n' },
    { name: 'www', type: 'directory' },
    { name: 'www/index.html', content: 'old\n' },
    { name: 'www/keep.html', content: 'keep\n' },
    { name: 'lib', type: 'directory' },
    { name: 'lib/x', content: 'lib\n' },
    { name: 'usr', type: 'directory' },
    { name: 'usr/bin', type: 'directory' },
    { name: 'usr/bin/x', type: 'symlink', linkname: '../../lib/x' },
    { name: 'dot', type: 'symlink', linkname: './usr' },
  ]);
  const top = await makeTar([
    { name: 'www', type: 'directory' },
    { name: 'www/.wh.index.html' },
    { name: 'etc', type: 'directory' },
    { name: 'etc/.wh..wh..opq' },
    { name: 'etc/c', content: 'c\n' },
  ]);
  return { base, top };
}
