import { PassThrough, type Readable } from 'node:stream';
import { basename } from 'node:path';
import { host, stderrOf, VesselError } from '../util/index.js';
import { detectCompression, decompressor, readHead } from './compression.js';
import { commitLayers, fileSize, stageLayerStream, type Progress } from './layer.js';
import { dropStaging, makeStaging, readIndex, withStoreLock } from './store.js';
import { findEquivalent, registerImage, setTag } from './commit.js';
import { hostArchitecture, hostOs, type OciImageConfig } from './oci-config.js';
import { formatImageRef, parseImageRef } from './ref.js';
import { toImageRecord } from './list.js';
import { importRootfsTarball } from './import-rootfs.js';
import { importOciArchive } from './oci-import.js';
import { importAci } from './aci.js';
import { retar } from './retar.js';
import { tarForms } from './tar-forms.js';
import { printableText } from './tar-headers.js';
import type { ImageRecord } from './types.js';
import type { ExtractLimits } from './validate.js';

export type ImportFormat = 'rootfs' | 'oci' | 'aci' | 'iso';

export interface ImageImportOptions {
  /** Skip detection. */
  format?: ImportFormat;
  onProgress?: (p: Progress) => void;
  limits?: Partial<ExtractLimits>;
  /** Stops the import (its caller went away): nothing reaches the store. */
  signal?: AbortSignal;
}

/** ISO 9660's primary volume descriptor: "CD001" at byte 32769. */
function isIso(head: Buffer): boolean {
  return head.length >= 32774 && head.subarray(32769, 32774).toString('latin1') === 'CD001';
}

/** Names of the first few members of a (compressed) tar, read from its first bytes only. */
async function firstMemberNames(file: string): Promise<string[]> {
  const dec = decompressor(detectCompression(await readHead(file, 8)));
  const head = await readHead(file, 256 * 1024);
  dec.input.on('error', () => undefined);
  dec.input.end(head);
  const chunks: Buffer[] = [];
  let got = 0;
  await new Promise<void>((res) => {
    dec.output.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= 64 * 1024) res();
    });
    dec.output.on('end', () => res());
    dec.output.on('error', () => res());
  });
  dec.abort();
  const buf = Buffer.concat(chunks);
  const names: string[] = [];
  let off = 0;
  while (names.length < 4 && off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8) || 0;
    const type = String.fromCharCode(h[156] ?? 48);
    if (type !== 'x' && type !== 'g' && type !== 'L') names.push(name.replace(/^\.\//, ''));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

/** What an archive's first member names say it is, when not a root filesystem. */
function formatByName(name: string): 'oci' | 'aci' | undefined {
  if (name === 'oci-layout' || name === 'index.json' || name.startsWith('blobs/')) return 'oci';
  if (name === 'manifest' || name === 'rootfs' || name.startsWith('rootfs/')) return 'aci';
  return undefined;
}

/** How many of an archive's first members say what it is. */
const NAMES_SNIFFED = 4;

/** The format a file's suffix or first bytes say, without reading its members (undefined: a tar of some kind). */
async function formatByHead(file: string): Promise<ImportFormat | undefined> {
  await fileSize(file);
  if (/\.aci$/i.test(file)) return 'aci';
  if (/\.iso$/i.test(file) || isIso(await readHead(file, 32774))) return 'iso';
  return undefined;
}

export async function detectFormat(file: string): Promise<ImportFormat> {
  const byHead = await formatByHead(file);
  if (byHead) return byHead;
  const names = await firstMemberNames(file);
  return names.map(formatByName).find((f) => f !== undefined) ?? 'rootfs';
}

/** A tar that turned out, at one of its first members, to be an OCI or appc archive. */
class OtherFormat extends Error {
  constructor(readonly format: 'oci' | 'aci') {
    super(`an ${format} archive`);
  }
}

/**
 * `vessel image import FILE [NAME[:TAG]]`: any supported format, recognised by content (and by
 * the .aci/.iso suffixes). NAME may be omitted when the archive names its image (OCI, appc).
 */
export async function importImage(file: string, ref: string | undefined, opts: ImageImportOptions = {}): Promise<ImageRecord> {
  const common = { ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), ...(opts.limits ? { limits: opts.limits } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
  let format = opts.format ?? (await formatByHead(file));
  if (format === undefined && ref !== undefined) {
    // Most likely a root filesystem: imported as one straight away, its first member names
    // watched on the way (no decompression just to look); an OCI or appc archive stops it there,
    // before tar saw anything of it, and is imported as what it is.
    let seen = 0;
    const stopAt = (name: string): Error | undefined => {
      if (seen++ >= NAMES_SNIFFED) return undefined;
      const other = formatByName(name.replace(/^\.\//, ''));
      return other ? new OtherFormat(other) : undefined;
    };
    try {
      return await importRootfsTarball(file, ref, { ...common, stopAt });
    } catch (e) {
      if (!(e instanceof OtherFormat)) throw e;
      format = e.format;
    }
  }
  format ??= await detectFormat(file);
  switch (format) {
    case 'oci':
      return importOciArchive(file, ref, common);
    case 'aci':
      return importAci(file, ref, common);
    case 'iso':
      return importIso(file, requireRef(ref, file), common);
    default:
      return importRootfsTarball(file, requireRef(ref, file), common);
  }
}

function requireRef(ref: string | undefined, file: string): string {
  if (ref === undefined) throw new VesselError('E_USAGE', `${file}: give the image a name: vessel image import FILE NAME[:TAG]`);
  return ref;
}

/**
 * ISO 9660 (with Rock Ridge, as FreeBSD's release images and genisoimage -R write them): Linux
 * here cannot mount ISO 9660, so libarchive's bsdtar turns it into a tar stream, which is then
 * unpacked like any layer.
 */
export async function importIso(file: string, ref: string, opts: { onProgress?: (p: Progress) => void; limits?: Partial<ExtractLimits>; signal?: AbortSignal } = {}): Promise<ImageRecord> {
  const imageRef = parseImageRef(ref);
  const total = await fileSize(file);
  const staging = await makeStaging('iso');
  try {
    const child = host().spawn(tarForms().isoToTar(file), { stdio: ['ignore', 'pipe', 'pipe'] });
    const stderr = stderrOf(child);
    const upstream = child.exited.then(async ({ code }) => {
      if (code !== 0) {
        await stderr.done();
        throw new VesselError('E_ARCHIVE', `bsdtar: ${printableText(stderr.last(1)) || `exit ${code}`}`);
      }
      return fixed.done;
    });
    upstream.catch(() => undefined);
    // bsdtar's output is larger than the ISO only by tar headers: close enough for a progress bar.
    let seen = 0;
    const counted = new PassThrough({ highWaterMark: 1 << 20 });
    counted.on('data', (c: Buffer) => { seen += c.length; opts.onProgress?.({ done: Math.min(seen, total), total }); });
    // genisoimage stores Rock Ridge device numbers as the kernel's MKDEV (major << 20 | minor),
    // which libarchive reads back as minor only: split them again.
    const fixed = retar(child.pipes[1] as Readable, (h) => {
      if ((h.type === 'character-device' || h.type === 'block-device') && !h.devmajor && (h.devminor ?? 0) >= 1 << 20) {
        return { ...h, devmajor: (h.devminor ?? 0) >>> 20, devminor: (h.devminor ?? 0) & 0xfffff };
      }
      return h;
    });
    fixed.output.pipe(counted);
    let layer;
    try {
      layer = await stageLayerStream(counted, staging, { source: file, upstream, ...(opts.limits ? { limits: opts.limits } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    } finally {
      child.kill('SIGKILL');
      await child.exited.catch(() => undefined);
    }
    await commitLayers([layer]);
    const created = new Date().toISOString();
    const config: OciImageConfig = {
      created, architecture: hostArchitecture(), os: hostOs(), config: {},
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created, created_by: `vessel image import ${basename(file)} (ISO 9660)` }],
    };
    const same = await findEquivalent([layer.diffId], config);
    if (same) {
      await withStoreLock(async () => setTag(await readIndex(), same, formatImageRef(imageRef)));
      return toImageRecord(same, imageRef);
    }
    return toImageRecord(await registerImage({ config, layerBlobs: [layer.blob], layerSizes: [layer.size] }, imageRef), imageRef);
  } finally {
    await dropStaging(staging);
  }
}
