import { Readable } from 'node:stream';
import { VesselError, isVesselError } from '../util/index.js';
import { sha256, type Digest } from '../image/index.js';
import { PARALLEL_BLOBS, pumpStream, type ChunkSink, type FetchedManifest, type ReadOptions, type Registry, type Transport } from './transport.js';
import { readSmall, uploadStream } from './verify.js';

/**
 * The one registry layout for dumb stores:
 *
 *   blobs/sha256/<hex>          layers, configs and manifests, by digest
 *   refs/<name>/_/<tag>         {"digest","mediaType","size"} of the tag's manifest
 *   refs/<name>/_tags.json      tag list, only where the transport cannot list (http)
 *   sigs/sha256/<hex>           detached signature of a manifest digest
 *
 * Each tag is its own object, so two publishes of different tags never overwrite each other,
 * and a ref is written only after everything it names is in place. "_" cannot start an image
 * name component, so refs of "a" and "a/b" never collide.
 */
export const keys = {
  blob: (d: Digest) => `blobs/sha256/${d.slice(7)}`,
  refDir: (name: string) => `refs/${name}/_/`,
  ref: (name: string, tag: string) => `refs/${name}/_/${tag}`,
  tagIndex: (name: string) => `refs/${name}/_tags.json`,
  sig: (d: Digest) => `sigs/sha256/${d.slice(7)}`,
};

const MAX_SMALL = 4 * 1024 * 1024;

interface RefDoc {
  digest: Digest;
  mediaType: string;
  size: number;
}

export class DumbRegistry implements Registry {
  readonly display: string;
  readonly parallel: number;
  constructor(readonly transport: Transport) {
    this.display = transport.display;
    this.parallel = transport.parallel ?? PARALLEL_BLOBS;
  }

  async hasBlob(_name: string, digest: Digest, size: number): Promise<boolean> {
    const st = await this.transport.stat(keys.blob(digest));
    return st !== undefined && st.size === size;
  }

  getBlob(_name: string, digest: Digest, opts?: ReadOptions): Promise<Readable> {
    return this.transport.get(keys.blob(digest), opts);
  }

  async pumpBlob(_name: string, digest: Digest, sink: ChunkSink, opts?: ReadOptions): Promise<void> {
    const t = this.transport;
    if (t.pump) return t.pump(keys.blob(digest), sink, opts);
    return pumpStream(await t.get(keys.blob(digest), opts), sink, opts?.signal);
  }

  async putBlob(_name: string, digest: Digest, size: number, open: () => Readable, onBytes?: (n: number) => void): Promise<void> {
    await this.transport.put(keys.blob(digest), uploadStream(open(), digest, size, onBytes), size);
  }

  async getManifest(name: string, tagOrDigest: string, opts: { signal?: AbortSignal } = {}): Promise<FetchedManifest | undefined> {
    let ref: RefDoc;
    if (tagOrDigest.startsWith('sha256:')) {
      ref = { digest: tagOrDigest as Digest, mediaType: '', size: -1 };
    } else {
      const text = await this.readText(keys.ref(name, tagOrDigest), opts.signal);
      if (text === undefined) return undefined;
      try {
        ref = JSON.parse(text) as RefDoc;
      } catch {
        throw new VesselError('E_REGISTRY', `${this.display}: ref ${name}:${tagOrDigest} is not valid JSON`);
      }
      if (typeof ref.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(ref.digest)) {
        throw new VesselError('E_REGISTRY', `${this.display}: ref ${name}:${tagOrDigest} names no manifest digest`);
      }
    }
    const text = await this.readText(keys.blob(ref.digest), opts.signal);
    if (text === undefined) throw new VesselError('E_REGISTRY', `${this.display}: ${name}:${tagOrDigest}: manifest ${ref.digest} is missing`);
    const got = sha256(text);
    if (got !== ref.digest) {
      throw new VesselError('E_REGISTRY', `${this.display}: ${name}:${tagOrDigest}: manifest ${ref.digest} does not match its digest (content is ${got})`, {
        hint: 'the registry was altered or damaged; nothing was pulled',
      });
    }
    const mediaType = ref.mediaType || ((JSON.parse(text) as { mediaType?: string }).mediaType ?? '');
    return { text, digest: ref.digest, mediaType };
  }

  async putManifest(name: string, tag: string, m: FetchedManifest): Promise<void> {
    const bytes = Buffer.from(m.text);
    if (!(await this.hasBlob(name, m.digest, bytes.length))) await this.transport.put(keys.blob(m.digest), Readable.from([bytes]), bytes.length);
    const ref: RefDoc = { digest: m.digest, mediaType: m.mediaType, size: bytes.length };
    await this.putText(keys.ref(name, tag), JSON.stringify(ref) + '\n');
    if (!this.transport.list) await this.addToTagIndex(name, tag);
  }

  /**
   * No listing on this medium (http): keep a tag list beside the refs. The refs stay the truth;
   * this only serves `vessel tags`. Two publishes of different tags both read-merge-write it, so
   * the write is a compare-and-swap where the server supports it (ETag + If-Match/If-None-Match):
   * a lost race re-reads and merges again. A server without ETags gets write, re-read and check,
   * which narrows the window but cannot close it (docs/registries.md).
   */
  private async addToTagIndex(name: string, tag: string): Promise<void> {
    const key = keys.tagIndex(name);
    const t = this.transport;
    for (let attempt = 1; attempt <= 10; attempt++) {
      const cur = t.readVersioned ? await t.readVersioned(key) : undefined;
      const tags = new Set(cur ? this.parseTags(cur.data.toString('utf8')) : await this.tags(name));
      if (tags.has(tag)) return;
      tags.add(tag);
      const body = Buffer.from(JSON.stringify([...tags].sort()) + '\n');
      const cas = t.putIfVersion && (cur === undefined || cur.version !== undefined);
      if (cas) {
        if (await t.putIfVersion!(key, body, cur?.version)) return;
      } else {
        await t.put(key, Readable.from([body]), body.length);
        // Let a concurrent writer land, then check ours survived it.
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 200));
        if ((await this.tags(name)).includes(tag)) return;
      }
      await new Promise((r) => setTimeout(r, Math.random() * 50 * attempt));
    }
    throw new VesselError('E_REGISTRY', `${this.display}: ${key}: could not add tag "${tag}" (kept changing under concurrent publishes)`, {
      hint: `the image is published (refs/${name}/_/${tag}); rerun the publish to list it`,
    });
  }

  private parseTags(text: string): string[] {
    try {
      const v = JSON.parse(text) as unknown;
      return Array.isArray(v) ? v.filter((t): t is string => typeof t === 'string') : [];
    } catch {
      return [];
    }
  }

  async tags(name: string): Promise<string[]> {
    if (this.transport.list) {
      const prefix = keys.refDir(name);
      const all = await this.transport.list(prefix);
      return all.map((k) => k.slice(prefix.length)).filter((t) => t && !t.includes('/') && !t.startsWith('.')).sort();
    }
    const text = await this.readText(keys.tagIndex(name));
    if (text === undefined) return [];
    try {
      const v = JSON.parse(text) as unknown;
      return Array.isArray(v) ? v.filter((t): t is string => typeof t === 'string').sort() : [];
    } catch {
      throw new VesselError('E_REGISTRY', `${this.display}: ${keys.tagIndex(name)} is not valid JSON`);
    }
  }

  async putSignature(_name: string, digest: Digest, doc: string): Promise<void> {
    await this.putText(keys.sig(digest), doc);
  }

  getSignature(_name: string, digest: Digest, opts: { signal?: AbortSignal } = {}): Promise<string | undefined> {
    return this.readText(keys.sig(digest), opts.signal);
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  /**
   * A small object whole, or undefined when it is absent: one GET (a HEAD first would cost every
   * pull three more round trips before its first layer byte); readSmall refuses what is too large.
   */
  private async readText(key: string, signal?: AbortSignal): Promise<string | undefined> {
    let body: Readable;
    try {
      body = await this.transport.get(key, signal ? { signal } : {});
    } catch (e) {
      if (isVesselError(e) && e.code === 'E_NOT_FOUND') return undefined;
      throw e;
    }
    return (await readSmall(body, MAX_SMALL, `${this.display}: ${key}`)).toString('utf8');
  }

  private putText(key: string, text: string): Promise<void> {
    const b = Buffer.from(text);
    return this.transport.put(key, Readable.from([b]), b.length);
  }
}
