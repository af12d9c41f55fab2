import http from 'node:http';
import https from 'node:https';
import { Transform, pipeline as chain, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VesselError } from '../util/index.js';
import type { Auth } from './url.js';
import { TransientError } from './retry.js';
import type { ChunkSink, ObjectStat, ReadOptions, Transport } from './transport.js';
import { HttpClient, originOf, type Response } from './http1.js';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

/**
 * One HTTP request with a streamed body; the response body is left for the caller to read. An
 * abort of `signal`, until the response has been read, destroys the request and its socket (the
 * body stream fails): node's own `signal` option, which stays armed until the request closes.
 */
export function request(url: string, method: string, headers: Record<string, string>, body?: Readable | Buffer, signal?: AbortSignal): Promise<HttpResponse> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((res, rej) => {
    const req = mod.request(u, { method, headers, agent: u.protocol === 'https:' ? agents.https : agents.http, timeout: 60_000, ...(signal ? { signal } : {}) }, (r) => {
      res({ status: r.statusCode ?? 0, headers: r.headers, body: r });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', rej);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else pipeline(body, req).catch((e: unknown) => req.destroy(e as Error));
  });
}

export function basicAuth(auth: Auth): Record<string, string> {
  if (auth.user === undefined) return {};
  return { authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password ?? ''}`).toString('base64')}` };
}

export async function drain(r: HttpResponse): Promise<string> {
  let s = '';
  for await (const c of r.body as AsyncIterable<Buffer>) if (s.length < 4096) s += c.toString('utf8');
  return s;
}

/**
 * `src` without its first `n` bytes (a server that ignored our Range header). Chained, not piped:
 * a failure of `src` (a cut connection, an abort) fails the result too, where pipe() would leave
 * its reader waiting for an end that never comes.
 */
export function skipBytes(src: Readable, n: number): Readable {
  let left = n;
  return chain(src, new Transform({
    transform(c: Buffer, _e, cb) {
      if (left >= c.length) {
        left -= c.length;
        return cb();
      }
      const out = left > 0 ? c.subarray(left) : c;
      left = 0;
      cb(null, out);
    },
  }), () => undefined);
}

/** The status classes every HTTP-based transport handles alike. */
export function httpFailure(display: string, what: string, status: number, text = ''): Error {
  if (status === 401 || status === 403) {
    return new VesselError('E_REGISTRY', `${display}: ${what}: access denied (HTTP ${status})`, { hint: 'check the user and password (or token) for this registry' });
  }
  if (status >= 500 || status === 429 || status === 408) return new TransientError(`${display}: ${what}: HTTP ${status}`);
  return new VesselError('E_REGISTRY', `${display}: ${what}: HTTP ${status}${text ? ` ${text.trim().slice(0, 200)}` : ''}`);
}

/** A sink that drops the first `n` bytes it is lent (a server that ignored our Range header). */
function skipLent(n: number, sink: ChunkSink): ChunkSink {
  let left = n;
  return (c) => {
    if (left >= c.length) {
      left -= c.length;
      return undefined;
    }
    const rest = left > 0 ? c.subarray(left) : c;
    left = 0;
    return sink(rest);
  };
}

/**
 * A static web server as a registry: GET (with Range, so pulls resume) always; PUT where the
 * server accepts it (WebDAV, an upload endpoint). No listing: tags come from the tag index
 * the layout keeps beside the refs. Reads go through the small client of the pull path
 * (http1.ts); writes, which have bodies, through node:http.
 */
export class HttpTransport implements Transport {
  private readonly client = new HttpClient();

  constructor(readonly base: string, readonly auth: Auth, readonly display: string) {}

  private url(key: string): string {
    return `${this.base}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  private send(method: 'GET' | 'HEAD', key: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
    const u = new URL(this.url(key));
    return this.client.request(originOf(u), method, u.pathname, { ...basicAuth(this.auth), ...headers }, signal);
  }

  async stat(key: string): Promise<ObjectStat | undefined> {
    const r = await this.send('HEAD', key);
    r.discard();
    if (r.status === 404 || r.status === 410) return undefined;
    if (r.status !== 200) throw httpFailure(this.display, `HEAD ${key}`, r.status);
    const len = Number(r.headers['content-length']);
    return { size: Number.isFinite(len) ? len : -1 };
  }

  /** The object from `offset`: its answer, and how many leading bytes of it to drop. */
  private async open(key: string, offset: number, signal: AbortSignal | undefined): Promise<{ r: Response; skip: number }> {
    const r = await this.send('GET', key, offset > 0 ? { range: `bytes=${offset}-` } : {}, signal);
    if (r.status === 404 || r.status === 410) {
      r.discard();
      throw new VesselError('E_NOT_FOUND', `${this.display}: ${key}: no such object`);
    }
    if (r.status === 206) return { r, skip: 0 };
    if (r.status === 200) return { r, skip: offset };
    const text = (await r.read(4096).catch(() => Buffer.alloc(0))).toString('utf8');
    throw httpFailure(this.display, `GET ${key}`, r.status, text);
  }

  async get(key: string, opts: ReadOptions = {}): Promise<Readable> {
    const { r, skip } = await this.open(key, opts.offset ?? 0, opts.signal);
    return skip > 0 ? skipBytes(r.stream(), skip) : r.stream();
  }

  async pump(key: string, sink: ChunkSink, opts: ReadOptions = {}): Promise<void> {
    const { r, skip } = await this.open(key, opts.offset ?? 0, opts.signal);
    return r.pump(skip > 0 ? skipLent(skip, sink) : sink);
  }

  async put(key: string, body: Readable, size?: number): Promise<void> {
    const headers: Record<string, string> = { ...basicAuth(this.auth), 'content-type': 'application/octet-stream' };
    if (size !== undefined) headers['content-length'] = String(size);
    const r = await request(this.url(key), 'PUT', headers, body);
    const text = await drain(r);
    if (r.status >= 200 && r.status < 300) return;
    if (r.status === 405 || r.status === 501 || (r.status === 403 && this.auth.user === undefined)) {
      throw new VesselError('E_REGISTRY', `${this.display}: the server does not accept uploads (PUT ${key}: HTTP ${r.status})`, {
        hint: 'publish to a server that accepts PUT (WebDAV, an upload endpoint), or publish elsewhere and serve that directory over http',
      });
    }
    throw httpFailure(this.display, `PUT ${key}`, r.status, text);
  }

  async readVersioned(key: string): Promise<{ data: Buffer; version: string | undefined } | undefined> {
    const r = await request(this.url(key), 'GET', basicAuth(this.auth));
    if (r.status === 404 || r.status === 410) {
      r.body.resume();
      return undefined;
    }
    if (r.status !== 200) throw httpFailure(this.display, `GET ${key}`, r.status, await drain(r));
    const chunks: Buffer[] = [];
    for await (const c of r.body as AsyncIterable<Buffer>) chunks.push(c);
    const etag = r.headers.etag;
    // A weak ETag cannot be used with If-Match (RFC 9110 13.1.1): no version then.
    return { data: Buffer.concat(chunks), version: etag && !etag.startsWith('W/') ? etag : undefined };
  }

  async putIfVersion(key: string, data: Buffer, version: string | undefined): Promise<boolean> {
    const headers: Record<string, string> = {
      ...basicAuth(this.auth), 'content-type': 'application/octet-stream', 'content-length': String(data.length),
      ...(version === undefined ? { 'if-none-match': '*' } : { 'if-match': version }),
    };
    const r = await request(this.url(key), 'PUT', headers, data);
    const text = await drain(r);
    if (r.status === 412) return false;
    if (r.status >= 200 && r.status < 300) return true;
    if (r.status === 405 || r.status === 501 || (r.status === 403 && this.auth.user === undefined)) {
      throw new VesselError('E_REGISTRY', `${this.display}: the server does not accept uploads (PUT ${key}: HTTP ${r.status})`);
    }
    throw httpFailure(this.display, `PUT ${key}`, r.status, text);
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
