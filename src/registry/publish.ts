import { readFileSync } from 'node:fs';
import { VesselError, errorMessage } from '../util/index.js';
import { blobPath, localImage, openBlob, type Descriptor, parseImageRef, type ImageRef } from '../image/index.js';
import type { FetchedManifest, Registry } from './transport.js';
import { withRetry } from './retry.js';
import { silentReporter, type Reporter } from './progress.js';
import { loadPrivateKey, signDigest } from './sign.js';

export interface PublishOptions {
  /** Publish under another NAME[:TAG] than the local one. */
  as?: string;
  /** PEM Ed25519 private key: sign the manifest digest. */
  signKey?: string;
  reporter?: Reporter;
}

export interface PublishResult {
  ref: ImageRef;
  digest: string;
  uploaded: number;
  skipped: number;
  bytes: number;
}

/** The registry name for a local image name: a leading registry host is not part of it. */
export function remoteName(name: string): string {
  const parts = name.split('/');
  const first = parts[0] ?? '';
  return parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost') ? parts.slice(1).join('/') : name;
}

/**
 * `vessel publish IMAGE URL`: config and layers first, each only when the registry lacks it
 * (shared layers are not sent twice); then the signature; the ref last, so a publish that dies
 * at any point before leaves no visible image, only blobs a later publish reuses.
 */
export async function publish(image: string, reg: Registry, opts: PublishOptions = {}): Promise<PublishResult> {
  const rep = opts.reporter ?? silentReporter;
  const started = Date.now();
  const key = opts.signKey ? loadPrivateKey(opts.signKey) : undefined;
  const { stored, ref: localRef } = await localImage(image);
  const target = opts.as ? parseImageRef(opts.as) : localRef ? { name: remoteName(localRef.name), tag: localRef.tag } : undefined;
  if (!target) throw new VesselError('E_USAGE', `${image}: an untagged image needs a name to publish under`, { hint: 'vessel publish --as NAME:TAG IMAGE URL' });
  const manifestText = readFileSync(blobPath(stored.manifest.digest), 'utf8');
  const manifest: FetchedManifest = { text: manifestText, digest: stored.manifest.digest, mediaType: stored.manifest.mediaType };
  const parsed = JSON.parse(manifestText) as { config: Descriptor; layers: Descriptor[] };
  const blobs: Descriptor[] = [...parsed.layers, parsed.config];
  const total = blobs.reduce((a, b) => a + b.size, 0);
  const label = `${target.name}:${target.tag}`;
  rep.emit({ event: 'start', op: 'publish', image: label, registry: reg.display, total, blobs: blobs.length });
  let uploaded = 0;
  let skipped = 0;
  let bytes = 0;
  const seen = new Set<string>();
  for (const b of blobs) {
    if (seen.has(b.digest)) continue;
    seen.add(b.digest);
    const what = `blob ${b.digest}`;
    const retry = { what: `upload ${what}`, where: reg.display, onRetry: (attempt: number, e: unknown) => rep.emit({ event: 'retry', what: `upload ${what}`, attempt, reason: errorMessage(e) }) };
    if (await withRetry(() => reg.hasBlob(target.name, b.digest, b.size), { ...retry, what: `check ${what}` })) {
      skipped++;
      rep.bytes(b.size);
      rep.emit({ event: 'blob', digest: b.digest, size: b.size, action: 'skip' });
      continue;
    }
    rep.emit({ event: 'blob', digest: b.digest, size: b.size, action: 'upload' });
    let sent = 0;
    await withRetry(async () => {
      // A retry starts the blob over: take back what the failed attempt counted.
      if (sent) rep.bytes(-sent);
      sent = 0;
      await reg.putBlob(target.name, b.digest, b.size, () => openBlob(b.digest), (n) => {
        sent += n;
        rep.bytes(n);
      });
    }, retry);
    uploaded++;
    bytes += b.size;
    rep.emit({ event: 'blob', digest: b.digest, size: b.size, action: 'done' });
  }
  if (key) {
    const doc = signDigest(manifest.digest, key);
    await withRetry(() => reg.putSignature(target.name, manifest.digest, doc), { what: 'upload signature', where: reg.display });
  }
  await withRetry(() => reg.putManifest(target.name, target.tag, manifest), { what: `write ${label}`, where: reg.display });
  rep.emit({ event: 'done', op: 'publish', image: label, digest: manifest.digest, transferred: bytes, skipped, seconds: (Date.now() - started) / 1000 });
  rep.finish();
  return { ref: target, digest: manifest.digest, uploaded, skipped, bytes };
}
