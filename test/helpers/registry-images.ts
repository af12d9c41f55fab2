import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { makeTar } from './image.js';
import { busyboxTarball, vessel, type TestRoot } from './vessel.js';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * A two-layer OCI archive: busybox as the base, and a layer on top that adds /etc/motd and
 * /www/extra.html and deletes /www/index.html with a whiteout — so "shared layers are sent
 * once" and "layers applied in order" can be checked. `extra` changes the top layer's content.
 */
export async function layeredArchive(out: string, extra = 'layer two'): Promise<void> {
  const base = readFileSync(busyboxTarball('tar.gz'));
  const topTar = await makeTar([
    { name: 'etc/motd', content: `${extra}\n` },
    { name: 'www/extra.html', content: `<p>${extra}</p>\n` },
    { name: 'www/.wh.index.html', content: '' },
  ]);
  const top = gzipSync(topTar);
  const layers = [base, top];
  const config = JSON.stringify({
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin:/usr/bin:/sbin:/usr/sbin'] },
    rootfs: { type: 'layers', diff_ids: [sha(gunzipSync(base)), sha(topTar)] },
  });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: Buffer.byteLength(config) },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(l), size: l.length })),
  });
  const dir = mkdtempSync('/tmp/vessel-layered-');
  try {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    for (const b of [...layers, Buffer.from(config), Buffer.from(manifest)]) writeFileSync(join(dir, 'blobs', 'sha256', sha(b).slice(7)), b);
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: Buffer.byteLength(manifest), annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }));
    execFileSync('tar', ['-C', dir, '-cf', out, 'oci-layout', 'index.json', 'blobs']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Import busybox:latest and layered:latest (busybox + one layer) into a test root. */
export async function importTestImages(t: TestRoot): Promise<void> {
  const r1 = await vessel(t, ['image', 'import', busyboxTarball(), 'busybox:latest']);
  if (r1.code !== 0) throw new Error(`import busybox: ${r1.stderr}`);
  const arch = join(t.root, 'layered.tar');
  await layeredArchive(arch);
  const r2 = await vessel(t, ['image', 'import', arch, 'layered:latest']);
  if (r2.code !== 0) throw new Error(`import layered: ${r2.stderr}`);
}

/** A random-content image of about `mb` MB (incompressible), for faults that need a long transfer. */
export async function bigImage(t: TestRoot, name: string, mb: number): Promise<void> {
  const dir = mkdtempSync('/tmp/vessel-big-');
  try {
    mkdirSync(join(dir, 'rootfs', 'data'), { recursive: true });
    execFileSync('sh', ['-c', `head -c ${mb}M /dev/urandom > "$1/rootfs/data/blob"`, 'sh', dir]);
    execFileSync('tar', ['-C', join(dir, 'rootfs'), '-cf', join(dir, 'big.tar'), '.']);
    const r = await vessel(t, ['image', 'import', join(dir, 'big.tar'), name], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`import ${name}: ${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How manyLayerImage frames its layers: gzip (zlib unpacks it), or what the gate reads from the blob's file (plain tar, zstd). */
export type LayerFraming = 'gzip' | 'none' | 'zstd';
const LAYER_MEDIA: Record<LayerFraming, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  none: 'application/vnd.oci.image.layer.v1.tar',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

/**
 * An OCI archive of `n` layers of `mb` MB of random bytes each (incompressible; gzip-framed, or
 * each layer in turn framed as `framing` lists), imported as `name`: long enough transfers to
 * watch several layers move at once and to interrupt a pull between and inside layers.
 */
export async function manyLayerImage(t: TestRoot, name: string, n: number, mb: number, framing: LayerFraming[] = ['gzip']): Promise<void> {
  const dir = mkdtempSync('/tmp/vessel-many-');
  try {
    const tars = Array.from({ length: n }, (_, i) => {
      const d = join(dir, `layer${i}`);
      mkdirSync(join(d, 'data'), { recursive: true });
      writeFileSync(join(d, 'data', `layer${i}`), randomBytes(mb << 20));
      return execFileSync('tar', ['-C', d, '--owner=0', '--group=0', '-cf', '-', 'data'], { maxBuffer: (mb + 4) << 20 });
    });
    const kinds = tars.map((_, i) => framing[i % framing.length]!);
    const layers = tars.map((tar, i) =>
      kinds[i] === 'gzip' ? gzipSync(tar, { level: 0 }) : kinds[i] === 'zstd' ? execFileSync('zstd', ['-c', '-q', '-1'], { input: tar, maxBuffer: (mb + 4) << 20 }) : tar);
    const config = JSON.stringify({
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: tars.map((tar) => sha(tar)) },
    });
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: Buffer.byteLength(config) },
      layers: layers.map((l, i) => ({ mediaType: LAYER_MEDIA[kinds[i]!], digest: sha(l), size: l.length })),
    });
    mkdirSync(join(dir, 'oci', 'blobs', 'sha256'), { recursive: true });
    for (const b of [...layers, Buffer.from(config), Buffer.from(manifest)]) writeFileSync(join(dir, 'oci', 'blobs', 'sha256', sha(b).slice(7)), b);
    writeFileSync(join(dir, 'oci', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, 'oci', 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: Buffer.byteLength(manifest), annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }));
    const out = join(dir, 'many.tar');
    execFileSync('tar', ['-C', join(dir, 'oci'), '-cf', out, 'oci-layout', 'index.json', 'blobs']);
    const r = await vessel(t, ['image', 'import', out, name], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`import ${name}: ${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
