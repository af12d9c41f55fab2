import { Readable } from 'node:stream';
import { VesselError } from '../util/index.js';
import { sha256, type Digest } from '../image/index.js';
import type { RegistryUrl } from './url.js';
import { PARALLEL_BLOBS, pumpStream, type ChunkSink, type FetchedManifest, type ReadOptions, type Registry } from './transport.js';
import { basicAuth, drain, httpFailure, request, skipBytes, type HttpResponse } from './http.js';
import { readSmall, uploadStream } from './verify.js';
import { MANIFEST_TYPES } from './pull.js';

type OciUrl = Extract<RegistryUrl, { scheme: 'oci' }>;

const ACCEPT = [MANIFEST_TYPES.ociManifest, MANIFEST_TYPES.ociIndex, MANIFEST_TYPES.dockerManifest, MANIFEST_TYPES.dockerList].join(', ');
const MAX_MANIFEST = 4 * 1024 * 1024;
/** Blobs above this go up in chunks (PATCH), below in one PUT: fewer round trips for small ones. */
const CHUNK = Number(process.env.VESSEL_OCI_CHUNK ?? 32 * 1024 * 1024);
const SIG_MEDIA = 'application/vnd.vessel.signature.v1+json';

/**
 * The OCI distribution API (docker-registry, distribution, zot, Harbor …): blobs by digest,
 * manifests by tag, pushed in the order the spec requires (blobs, then the manifest that
 * names them — which is also "ref last"). Authentication: basic, or bearer tokens fetched from
 * the realm a 401 names (with basic credentials when given), cached per scope.
 * Credentials from the URL or VESSEL_REGISTRY_USER / VESSEL_REGISTRY_PASSWORD.
 */
export class OciRegistry implements Registry {
  readonly display: string;
  readonly parallel = PARALLEL_BLOBS;
  private readonly origin: string;
  private readonly user: string | undefined;
  private readonly password: string | undefined;
  private tokens = new Map<string, string>();
  private basic = false;

  constructor(private readonly u: OciUrl) {
    this.display = u.display;
    this.origin = `${u.insecure ? 'http' : 'https'}://${u.host.includes(':') ? `[${u.host}]` : u.host}:${u.port}`;
    this.user = u.auth.user ?? process.env.VESSEL_REGISTRY_USER;
    this.password = u.auth.password ?? process.env.VESSEL_REGISTRY_PASSWORD;
  }

  repo(name: string): string {
    return this.u.repository ? `${this.u.repository}/${name}` : name;
  }

  private creds(): Record<string, string> {
    return this.user === undefined ? {} : basicAuth({ user: this.user, password: this.password ?? '' });
  }

  private authHeader(scope: string): Record<string, string> {
    const t = this.tokens.get(scope);
    if (t) return { authorization: `Bearer ${t}` };
    return this.basic ? this.creds() : {};
  }

  /** Answer a 401 challenge; false when it cannot be answered (no or wrong credentials). */
  private async authenticate(r: HttpResponse, scope: string, signal: AbortSignal | undefined): Promise<boolean> {
    const h = String(r.headers['www-authenticate'] ?? '');
    if (/^basic/i.test(h)) {
      if (this.basic || this.user === undefined) return false;
      this.basic = true;
      return true;
    }
    const m = /^bearer\s+(.*)$/i.exec(h);
    if (!m || this.tokens.has(scope)) return false;
    const params: Record<string, string> = {};
    for (const p of m[1]!.matchAll(/(\w+)="([^"]*)"/g)) params[p[1]!] = p[2]!;
    if (!params.realm) return false;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    // Our own scope, not only the challenge's: a HEAD before a push is challenged for "pull",
    // and a pull-only token would then fail the upload.
    url.searchParams.append('scope', scope);
    if (params.scope && params.scope !== scope) url.searchParams.append('scope', params.scope);
    const tr = await request(url.toString(), 'GET', this.creds(), undefined, signal);
    const text = await drain(tr);
    if (tr.status === 401 || tr.status === 403) return false;
    if (tr.status !== 200) throw httpFailure(this.display, 'token', tr.status, text);
    const body = JSON.parse(text) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new VesselError('E_REGISTRY', `${this.display}: token endpoint gave no token`);
    this.tokens.set(scope, token);
    return true;
  }

  /** A request under `scope`, authenticating once on 401 and following redirects; `signal` stops it (http.ts request). */
  private async call(method: string, path: string, scope: string, headers: Record<string, string> = {}, body?: () => Readable | Buffer, signal?: AbortSignal): Promise<HttpResponse> {
    let url = path.startsWith('http') ? path : `${this.origin}${path}`;
    for (let hop = 0; hop < 6; hop++) {
      signal?.throwIfAborted();
      const sameOrigin = url.startsWith(this.origin);
      const r = await request(url, method, { ...headers, ...(sameOrigin ? this.authHeader(scope) : {}) }, body?.(), signal);
      if (r.status === 401 && sameOrigin) {
        await drain(r);
        if (await this.authenticate(r, scope, signal)) {
          continue;
        }
        throw new VesselError('E_REGISTRY', `${this.display}: ${method} ${path.replace(/\?.*/, '')}: access denied (HTTP 401)`, {
          hint: this.user === undefined ? 'this registry needs credentials: oci://USER:PASS@HOST/… or VESSEL_REGISTRY_USER/VESSEL_REGISTRY_PASSWORD' : 'check the user and password for this registry',
        });
      }
      if ((r.status === 307 || r.status === 302 || r.status === 301 || r.status === 303) && r.headers.location && (method === 'GET' || method === 'HEAD')) {
        await drain(r);
        url = new URL(r.headers.location, url).toString();
        continue;
      }
      return r;
    }
    throw new VesselError('E_REGISTRY', `${this.display}: ${method} ${path}: too many redirects`);
  }

  private scope(name: string, push = false): string {
    return `repository:${this.repo(name)}:${push ? 'pull,push' : 'pull'}`;
  }

  private blobPath(name: string, digest: Digest): string {
    return `/v2/${this.repo(name)}/blobs/${digest}`;
  }

  async hasBlob(name: string, digest: Digest, size: number): Promise<boolean> {
    const r = await this.call('HEAD', this.blobPath(name, digest), this.scope(name, true));
    r.body.resume();
    if (r.status === 404) return false;
    if (r.status !== 200) throw httpFailure(this.display, `HEAD blob ${digest}`, r.status);
    const len = Number(r.headers['content-length']);
    return !Number.isFinite(len) || len === size;
  }

  async getBlob(name: string, digest: Digest, opts: ReadOptions = {}): Promise<Readable> {
    const offset = opts.offset ?? 0;
    const r = await this.call('GET', this.blobPath(name, digest), this.scope(name), offset > 0 ? { range: `bytes=${offset}-` } : {}, undefined, opts.signal);
    if (r.status === 206) return r.body;
    if (r.status === 200) return offset > 0 ? skipBytes(r.body, offset) : r.body;
    const text = await drain(r);
    if (r.status === 404) throw new VesselError('E_REGISTRY', `${this.display}/${name}: blob ${digest} is missing`);
    throw httpFailure(this.display, `GET blob ${digest}`, r.status, text);
  }

  async pumpBlob(name: string, digest: Digest, sink: ChunkSink, opts: ReadOptions = {}): Promise<void> {
    return pumpStream(await this.getBlob(name, digest, opts), sink, opts.signal);
  }

  /** Start an upload session; returns its location. */
  private async startUpload(name: string): Promise<string> {
    const r = await this.call('POST', `/v2/${this.repo(name)}/blobs/uploads/`, this.scope(name, true), { 'content-length': '0' }, () => Buffer.alloc(0));
    const text = await drain(r);
    if (r.status !== 202 || !r.headers.location) throw httpFailure(this.display, 'start blob upload', r.status, text);
    return new URL(r.headers.location, this.origin).toString();
  }

  private withDigest(location: string, digest: Digest): string {
    const u = new URL(location);
    u.searchParams.set('digest', digest);
    return u.toString();
  }

  async putBlob(name: string, digest: Digest, size: number, open: () => Readable, onBytes?: (n: number) => void): Promise<void> {
    let location = await this.startUpload(name);
    const scope = this.scope(name, true);
    if (size <= CHUNK) {
      // Monolithic: one PUT with the whole blob.
      const body = uploadStream(open(), digest, size, onBytes);
      const r = await this.call('PUT', this.withDigest(location, digest), scope, { 'content-type': 'application/octet-stream', 'content-length': String(size) }, () => body);
      const text = await drain(r);
      if (r.status !== 201) throw this.uploadFailure(digest, r.status, text);
      return;
    }
    // Chunked: PATCH each chunk with its range (memory bounded by one chunk), then PUT to close.
    let offset = 0;
    for await (const chunk of chunks(uploadStream(open(), digest, size), CHUNK)) {
      const r = await this.call('PATCH', location, scope, {
        'content-type': 'application/octet-stream',
        'content-length': String(chunk.length),
        'content-range': `${offset}-${offset + chunk.length - 1}`,
      }, () => chunk);
      const text = await drain(r);
      if (r.status !== 202) throw this.uploadFailure(digest, r.status, text);
      if (r.headers.location) location = new URL(r.headers.location, this.origin).toString();
      offset += chunk.length;
      onBytes?.(chunk.length);
    }
    const r = await this.call('PUT', this.withDigest(location, digest), scope, { 'content-length': '0' }, () => Buffer.alloc(0));
    const text = await drain(r);
    if (r.status !== 201) throw this.uploadFailure(digest, r.status, text);
  }

  private uploadFailure(digest: Digest, status: number, text: string): Error {
    if (status === 400 && /DIGEST_INVALID|BLOB_UPLOAD_INVALID/.test(text)) {
      return new VesselError('E_REGISTRY', `${this.display}: blob ${digest}: the registry refused it (${text.trim().slice(0, 160)})`);
    }
    return httpFailure(this.display, `upload blob ${digest}`, status, text);
  }

  async getManifest(name: string, ref: string, opts: { signal?: AbortSignal } = {}): Promise<FetchedManifest | undefined> {
    const r = await this.call('GET', `/v2/${this.repo(name)}/manifests/${ref}`, this.scope(name), { accept: ACCEPT }, undefined, opts.signal);
    if (r.status === 404) {
      await drain(r);
      return undefined;
    }
    if (r.status !== 200) throw httpFailure(this.display, `GET manifest ${name}:${ref}`, r.status, await drain(r));
    const buf = await readSmall(r.body, MAX_MANIFEST);
    const digest = sha256(buf);
    if (ref.startsWith('sha256:') && digest !== ref) {
      throw new VesselError('E_REGISTRY', `${this.display}/${name}: manifest ${ref} does not match its digest (content is ${digest})`);
    }
    const text = buf.toString('utf8');
    const mediaType = String(r.headers['content-type'] ?? '').split(';')[0]!.trim() || ((JSON.parse(text) as { mediaType?: string }).mediaType ?? '');
    return { text, digest, mediaType };
  }

  async putManifest(name: string, tag: string, m: FetchedManifest): Promise<void> {
    const body = Buffer.from(m.text);
    const type = m.mediaType || (JSON.parse(m.text) as { mediaType?: string }).mediaType || MANIFEST_TYPES.ociManifest;
    const r = await this.call('PUT', `/v2/${this.repo(name)}/manifests/${tag}`, this.scope(name, true), { 'content-type': type, 'content-length': String(body.length) }, () => body);
    const text = await drain(r);
    if (r.status !== 201 && r.status !== 200) throw httpFailure(this.display, `PUT manifest ${name}:${tag}`, r.status, text);
  }

  async tags(name: string): Promise<string[]> {
    const r = await this.call('GET', `/v2/${this.repo(name)}/tags/list`, this.scope(name));
    const text = await drain(r);
    if (r.status === 404) return [];
    if (r.status !== 200) throw httpFailure(this.display, `tags of ${name}`, r.status, text);
    const v = JSON.parse(text) as { tags?: string[] | null };
    return (v.tags ?? []).filter((t) => !/^sha256-[0-9a-f]{64}\.sig$/.test(t)).sort();
  }

  /**
   * Signatures live beside the image as a small manifest tagged `sha256-<hex>.sig` (the
   * convention cosign made common), whose one layer is vessel's signature document.
   */
  async putSignature(name: string, digest: Digest, doc: string): Promise<void> {
    const cfg = Buffer.from('{}');
    const sig = Buffer.from(doc);
    const cfgDigest = sha256(cfg);
    const sigDigest = sha256(sig);
    for (const [d, b] of [[cfgDigest, cfg], [sigDigest, sig]] as const) {
      if (!(await this.hasBlob(name, d, b.length))) await this.putBlob(name, d, b.length, () => Readable.from([b]));
    }
    const text = JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPES.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfgDigest, size: cfg.length },
      layers: [{ mediaType: SIG_MEDIA, digest: sigDigest, size: sig.length }],
    });
    await this.putManifest(name, sigTag(digest), { text, digest: sha256(text), mediaType: MANIFEST_TYPES.ociManifest });
  }

  async getSignature(name: string, digest: Digest, opts: { signal?: AbortSignal } = {}): Promise<string | undefined> {
    const m = await this.getManifest(name, sigTag(digest), opts);
    if (!m) return undefined;
    const layer = (JSON.parse(m.text) as { layers?: Array<{ mediaType: string; digest: Digest; size: number }> }).layers?.find((l) => l.mediaType === SIG_MEDIA);
    if (!layer) return undefined;
    const buf = await readSmall(await this.getBlob(name, layer.digest, opts), 64 * 1024);
    if (sha256(buf) !== layer.digest) throw new VesselError('E_REGISTRY', `${this.display}/${name}: signature blob ${layer.digest} does not match its digest`);
    return buf.toString('utf8');
  }

  async close(): Promise<void> {}
}

function sigTag(d: Digest): string {
  return `sha256-${d.slice(7)}.sig`;
}

/** Cut a stream into buffers of `size` bytes (the last one shorter). */
async function* chunks(src: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const c of src as AsyncIterable<Buffer>) {
    let buf = c;
    while (n + buf.length >= size) {
      const take = size - n;
      parts.push(buf.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      n = 0;
      buf = buf.subarray(take);
    }
    if (buf.length) {
      parts.push(buf);
      n += buf.length;
    }
  }
  if (n > 0) yield Buffer.concat(parts);
}
