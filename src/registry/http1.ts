import net from 'node:net';
import tls from 'node:tls';
import { Readable } from 'node:stream';
import { onAbort, type ChunkSink } from './transport.js';

/**
 * A small HTTP/1.1 client for the pull path (S3 and plain http(s) registries): GET and HEAD on
 * kept-alive connections, each response's body lent to the caller chunk by chunk straight out of
 * the connection's one receive buffer (net's `onread`). Node's http client costs twice the CPU
 * for the same bytes here (its parser, an IncomingMessage stream, and a fresh Buffer — fresh
 * pages — for every read: measured 105 against 216 ms for 100 MB from s3rver), and its fresh
 * buffers are what made a pull's memory grow. Only what registries need: no request bodies (uploads
 * stay on node:http and the AWS SDK), no pipelining, no proxies (neither has the AWS SDK).
 */
export interface Origin {
  secure: boolean;
  host: string;
  port: number;
}

export function originOf(u: URL): Origin {
  const secure = u.protocol === 'https:';
  return { secure, host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : secure ? 443 : 80 };
}


export interface ResponseHead {
  status: number;
  /** Names in lower case; a repeated header's values joined with ", ". */
  headers: Record<string, string>;
}

/** A response whose head has arrived; its body must be taken once, by one of the methods. */
export interface Response extends ResponseHead {
  /** Lend the body to `sink` (from the connection's receive buffer); resolves at its end. */
  pump(sink: ChunkSink): Promise<void>;
  /** The whole body; more than `max` bytes is an error (the connection is dropped). */
  read(max: number): Promise<Buffer>;
  /** The body as a stream of owned chunks, for callers that need a Readable. */
  stream(): Readable;
  /** Not interested in the body: the connection is dropped unless it has none left. */
  discard(): void;
}

/** How long a connection may stay silent while a response is awaited or read. */
const TIMEOUT_MS = 60_000;
/** One read's worth: large, so 100 MB is a few hundred callbacks, small enough to stay in cache. */
const READ_BUFFER = 256 * 1024;
/** A response head larger than this is not an HTTP server we want to talk to. */
const MAX_HEAD = 64 * 1024;
/** Idle connections kept per origin (a pull reads at most PARALLEL_BLOBS blobs at once). */
const MAX_IDLE = 8;

function wireError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

type BodyMode = { kind: 'none' } | { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' };

/** The chunked transfer coding, decoded as bytes arrive in arbitrary pieces (RFC 9112 §7.1). */
class Dechunker {
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size';
  private line = '';
  private left = 0;
  done = false;

  /** Feeds `b`; calls `out` with each piece of data; returns how many bytes of `b` it used. */
  feed(b: Buffer, out: (piece: Buffer) => void): number {
    let i = 0;
    while (i < b.length && !this.done) {
      if (this.state === 'data') {
        const n = Math.min(this.left, b.length - i);
        out(b.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = 'data-crlf';
        continue;
      }
      const nl = b.indexOf(10, i);
      const end = nl < 0 ? b.length : nl;
      this.line += b.toString('latin1', i, end);
      if (this.line.length > 4096) throw wireError('chunked body: a size or trailer line longer than 4 KiB', 'EPROTO');
      if (nl < 0) return b.length;
      i = nl + 1;
      const line = this.line.replace(/\r$/, '');
      this.line = '';
      if (this.state === 'data-crlf') {
        if (line !== '') throw wireError('chunked body: no line end after a chunk', 'EPROTO');
        this.state = 'size';
      } else if (this.state === 'size') {
        const m = /^([0-9a-fA-F]{1,15})[ \t]*(;.*)?$/.exec(line);
        if (!m) throw wireError(`chunked body: bad chunk size "${line.slice(0, 40)}"`, 'EPROTO');
        this.left = parseInt(m[1]!, 16);
        this.state = this.left === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.done = true;
      }
    }
    return i;
  }
}

/**
 * One connection. Bytes arrive in `onRead`, into `buf`; the parser hands the head to the waiting
 * request and body bytes to the current sink, in the same call.
 */
class Conn {
  readonly socket: net.Socket;
  private readonly buf = Buffer.allocUnsafe(READ_BUFFER);
  private head: Buffer[] = [];
  private headBytes = 0;
  private mode: BodyMode | undefined;
  private dechunker: Dechunker | undefined;
  private sink: ChunkSink | undefined;
  /** Body bytes that came with the head, before anyone asked for the body: kept until then. */
  private early: Buffer[] = [];
  private onHead: ((h: ResponseHead) => void) | undefined;
  private onEnd: (() => void) | undefined;
  private onFail: ((e: unknown) => void) | undefined;
  /** The current exchange failed (and how: an Error, or an abort signal's reason). */
  private failure: { reason: unknown } | undefined;
  /** Stops listening to the current exchange's abort signal. */
  private unwatch: (() => void) | undefined;
  /** The socket is gone or its stream is no longer in step: never used again. */
  private dead = false;
  private keepAlive = true;
  private method = 'GET';
  /** The whole body of the current response has arrived. */
  private ended = false;
  /** Any byte of a response seen on this exchange (a reused connection that failed before: retry). */
  gotBytes = false;
  /** The connection has carried an exchange before the current one. */
  reused = false;

  constructor(readonly origin: Origin, private readonly release: (c: Conn) => void) {
    const onread: net.OnReadOpts = { buffer: this.buf, callback: (n: number) => this.onRead(n) };
    // tls.connect takes `onread` as net.connect does (Node's tls docs); @types/node omits it.
    const tlsOpts: tls.ConnectionOptions & { onread: net.OnReadOpts } = { host: origin.host, port: origin.port, onread };
    if (!net.isIP(origin.host)) tlsOpts.servername = origin.host;
    this.socket = origin.secure ? tls.connect(tlsOpts) : net.connect({ host: origin.host, port: origin.port, onread });
    this.socket.setNoDelay(true);
    this.socket.on('end', () => this.eof());
    this.socket.on('error', (e) => this.lost(e));
    this.socket.on('close', () => this.lost(wireError('the server closed the connection', 'ECONNRESET')));
    this.socket.on('timeout', () => this.socket.destroy(wireError(`no answer from ${origin.host}:${origin.port} for ${TIMEOUT_MS / 1000} s`, 'ETIMEDOUT')));
  }

  get usable(): boolean {
    return !this.dead && !this.socket.destroyed && this.keepAlive;
  }

  /**
   * Send one request; resolves with the head, rejects when the connection fails first. Until the
   * exchange is over (its body taken or dropped), an abort of `signal` closes the connection at
   * once and fails the exchange with the signal's reason: a server that has stopped sending is
   * not waited for (TIMEOUT_MS is for servers, not for a caller that has gone).
   */
  send(method: string, path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<ResponseHead> {
    this.method = method;
    this.head = [];
    this.headBytes = 0;
    this.mode = undefined;
    this.dechunker = undefined;
    this.sink = undefined;
    this.early = [];
    this.failure = undefined;
    this.gotBytes = false;
    this.ended = false;
    let text = `${method} ${path} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) {
      if (/[\r\n]/.test(k + v)) throw new Error(`header ${k} holds a line break`);
      text += `${k}: ${v}\r\n`;
    }
    text += '\r\n';
    return new Promise((res, rej) => {
      if (this.dead || this.socket.destroyed) return rej(wireError('the connection is closed', 'ECONNRESET'));
      this.onHead = res;
      this.onFail = rej;
      this.socket.ref();
      this.socket.setTimeout(TIMEOUT_MS);
      this.socket.write(text);
      this.unwatch = onAbort(signal, (reason) => this.abort(reason));
    });
  }

  /** Lend the body to `sink`, beginning with what arrived with the head. */
  pump(sink: ChunkSink): Promise<void> {
    return new Promise((res, rej) => {
      if (this.failure) return rej(this.failure.reason);
      this.onEnd = res;
      this.onFail = rej;
      const go = (): void => {
        if (this.failure) return;
        this.sink = sink;
        if (this.ended) return this.finish();
        this.socket.setTimeout(TIMEOUT_MS);
        this.socket.resume();
      };
      if (this.early.length === 0) return go();
      // Owned copies, handed in order, honouring the sink's back-pressure. A paused TLS socket
      // still delivers what it had decrypted: those pieces join the same list while the sink
      // waits and are handed on in turn (they were lost when the list was taken whole). The
      // sink is set in the same microtask as the list is found empty: no read comes between.
      (async () => {
        for (let b = this.early.shift(); b; b = this.early.shift()) await sink(b);
      })().then(go, (e: unknown) => this.abort(e));
    });
  }

  /**
   * The exchange is over without its body wanted. A short rest (an error page) is read and
   * dropped so that the connection can be kept; a long or unknown one closes it.
   */
  discardBody(): void {
    if (this.ended) return this.finish();
    if (this.mode?.kind === 'length' && this.mode.left <= 65536) {
      this.pump(() => undefined).catch(() => undefined);
      return;
    }
    this.keepAlive = false;
    this.finish();
  }

  /** Stop the exchange (the sink refused, the reader or the caller went away): the connection goes with it. */
  abort(e: unknown): void {
    this.dead = true;
    this.reject(e);
    this.socket.destroy();
  }

  /** False pauses the socket (net's onread contract). */
  private onRead(n: number): boolean {
    if (this.dead) return false;
    this.gotBytes = true;
    let b: Buffer = this.buf.subarray(0, n);
    try {
      if (this.mode === undefined) {
        const rest = this.takeHead(b);
        if (rest === undefined) return true;
        b = rest;
      }
      return this.body(b);
    } catch (e) {
      this.abort(e);
      return false;
    }
  }

  /** Collects the head; once whole, parses it and returns the bytes after it (undefined: more needed). */
  private takeHead(b: Buffer): Buffer | undefined {
    // The head is copied (it is small): the lent buffer is overwritten by the next read.
    const prev = this.headBytes;
    this.head.push(Buffer.from(b));
    this.headBytes += b.length;
    const all = this.head.length === 1 ? this.head[0]! : Buffer.concat(this.head);
    const end = all.indexOf('\r\n\r\n', Math.max(0, prev - 3));
    if (end > MAX_HEAD || (end < 0 && this.headBytes > MAX_HEAD)) throw wireError(`response head larger than ${MAX_HEAD} bytes`, 'EPROTO');
    if (end < 0) {
      this.head = [all];
      return undefined;
    }
    const head = this.parseHead(all.toString('latin1', 0, end));
    const after = b.subarray(b.length - (all.length - (end + 4)));
    this.head = [];
    this.headBytes = 0;
    if (head.status >= 100 && head.status < 200) {
      // An interim answer (100 Continue, 103 Early Hints): the real one follows.
      this.mode = undefined;
      return after.length > 0 ? this.takeHead(after) : undefined;
    }
    const cb = this.onHead;
    this.onHead = undefined;
    this.onFail = undefined;
    // Nobody reads the body until the caller asks for it: stop reading until then (no timeout
    // either: the caller decides what happens next).
    if (!this.ended) {
      this.socket.setTimeout(0);
      this.socket.pause();
    }
    cb?.(head);
    return after;
  }

  private parseHead(text: string): ResponseHead {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (!m) throw wireError(`not an HTTP/1.x response: "${(lines[0] ?? '').slice(0, 60)}"`, 'EPROTO');
    const status = Number(m[2]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      if (c <= 0 || /^[ \t]/.test(l)) throw wireError(`malformed header line "${l.slice(0, 60)}"`, 'EPROTO');
      const k = l.slice(0, c).trim().toLowerCase();
      const v = l.slice(c + 1).trim();
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    }
    const conn = (headers.connection ?? '').toLowerCase();
    this.keepAlive = m[1] === '1' ? !/\bclose\b/.test(conn) : /\bkeep-alive\b/.test(conn);
    const te = headers['transfer-encoding'];
    const len = headers['content-length'];
    if (this.method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      this.mode = { kind: 'none' };
    } else if (te !== undefined) {
      if (!/(^|,)\s*chunked\s*$/i.test(te)) throw wireError(`unsupported transfer-encoding "${te}"`, 'EPROTO');
      this.mode = { kind: 'chunked' };
      this.dechunker = new Dechunker();
    } else if (len !== undefined) {
      if (!/^\d{1,15}$/.test(len)) throw wireError(`bad content-length "${len}"`, 'EPROTO');
      this.mode = { kind: 'length', left: Number(len) };
    } else {
      this.mode = { kind: 'close' };
      this.keepAlive = false;
    }
    this.ended = this.mode.kind === 'none' || (this.mode.kind === 'length' && this.mode.left === 0);
    return { status, headers };
  }

  /** Body bytes: lent to the sink when there is one, else kept (copied) until there is. */
  private body(b: Buffer): boolean {
    const mode = this.mode!;
    let pending: Promise<void> | undefined;
    const give = (piece: Buffer): void => {
      if (piece.length === 0) return;
      if (!this.sink) {
        this.early.push(Buffer.from(piece));
        return;
      }
      const p = this.sink(piece);
      if (p) pending = pending ? pending.then(() => p) : p;
    };
    let used = b.length;
    if (mode.kind === 'length') {
      used = Math.min(b.length, mode.left);
      give(b.subarray(0, used));
      mode.left -= used;
      if (mode.left === 0) this.ended = true;
    } else if (mode.kind === 'chunked') {
      used = this.dechunker!.feed(b, give);
      if (this.dechunker!.done) this.ended = true;
    } else if (mode.kind === 'close') {
      give(b);
    } else {
      used = 0;
    }
    // Bytes beyond this response's end: the server is out of step with us.
    if (used < b.length) this.keepAlive = false;
    if (this.ended) {
      if (!this.sink) return false;
      if (pending) pending.then(() => this.finish(), (e: unknown) => this.abort(e));
      else this.finish();
      return true;
    }
    if (!pending) return true;
    // The sink wants a pause: stop reading (and the clock) until it has caught up.
    this.socket.setTimeout(0);
    pending.then(() => {
      if (this.failure || this.dead) return;
      this.socket.setTimeout(TIMEOUT_MS);
      this.socket.resume();
    }, (e: unknown) => this.abort(e));
    return false;
  }

  /** The exchange is complete: the connection goes back to the pool, or is closed. */
  private finish(): void {
    const done = this.onEnd;
    this.onEnd = undefined;
    this.onFail = undefined;
    this.sink = undefined;
    this.unwatch?.();
    this.unwatch = undefined;
    this.socket.setTimeout(0);
    if (this.keepAlive && !this.dead) {
      this.reused = true;
      this.socket.unref();
      this.socket.resume();
      this.release(this);
    } else {
      this.dead = true;
      this.socket.destroy();
    }
    done?.();
  }

  /** The server ended the stream: the end of a body that runs to the close, else a loss. */
  private eof(): void {
    if (this.mode?.kind === 'close' && !this.ended && !this.failure) {
      this.dead = true;
      this.ended = true;
      if (this.sink) this.finish();
      return;
    }
    this.lost(wireError('the server closed the connection', 'ECONNRESET'));
  }

  private lost(e: Error): void {
    this.dead = true;
    // A finished exchange (or a kept idle connection) loses nothing.
    if (this.ended || this.failure) return;
    this.reject(e);
    if (!this.socket.destroyed) this.socket.destroy();
  }

  private reject(e: unknown): void {
    if (this.failure) return;
    this.failure = { reason: e };
    this.unwatch?.();
    this.unwatch = undefined;
    const f = this.onFail;
    this.onFail = undefined;
    this.onHead = undefined;
    this.onEnd = undefined;
    this.sink = undefined;
    f?.(e);
  }
}

/** Kept-alive connections per origin, and the requests made on them. */
export class HttpClient {
  private readonly idle = new Map<string, Conn[]>();

  private key(o: Origin): string {
    return `${o.secure ? 's' : ''}${o.host}:${o.port}`;
  }

  private take(o: Origin): Conn {
    const list = this.idle.get(this.key(o));
    for (let c = list?.pop(); c; c = list?.pop()) if (c.usable) return c;
    return new Conn(o, (c) => this.put(c));
  }

  private put(c: Conn): void {
    const k = this.key(c.origin);
    const list = this.idle.get(k) ?? [];
    if (list.length >= MAX_IDLE) return void c.socket.destroy();
    list.push(c);
    this.idle.set(k, list);
    // A kept connection the server closes meanwhile leaves the list (and is never handed out).
    c.socket.once('close', () => {
      const l = this.idle.get(k);
      const i = l?.indexOf(c) ?? -1;
      if (i >= 0) l!.splice(i, 1);
    });
  }

  /**
   * One request. A kept-alive connection the server had already closed fails before any byte of
   * an answer: GET and HEAD are safe to send again, once, on a new connection. `signal` stops the
   * exchange, its body included (Conn.send).
   */
  async request(origin: Origin, method: 'GET' | 'HEAD', path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const c = this.take(origin);
      const reused = c.reused;
      try {
        const head = await c.send(method, path, { host: hostHeader(origin), ...headers }, signal);
        return response(c, head);
      } catch (e) {
        if (reused && !c.gotBytes && attempt === 0 && !signal?.aborted) continue;
        throw e;
      }
    }
  }

  close(): void {
    for (const list of this.idle.values()) for (const c of list) c.socket.destroy();
    this.idle.clear();
  }
}

function hostHeader(o: Origin): string {
  // A colon is in every IPv6 literal and in no host name (net.isIPv6's first call costs ~5 ms here).
  const h = o.host.includes(':') ? `[${o.host}]` : o.host;
  return o.port === (o.secure ? 443 : 80) ? h : `${h}:${o.port}`;
}

function response(c: Conn, head: ResponseHead): Response {
  let taken = false;
  const once = (): void => {
    if (taken) throw new Error('the response body was already taken');
    taken = true;
  };
  return {
    ...head,
    pump(sink) {
      once();
      return c.pump(sink);
    },
    async read(max) {
      once();
      const parts: Buffer[] = [];
      let n = 0;
      await c.pump((chunk) => {
        n += chunk.length;
        if (n > max) throw Object.assign(new Error(`body larger than ${max} bytes`), { code: 'ETOOBIG' });
        parts.push(Buffer.from(chunk));
        return undefined;
      });
      return Buffer.concat(parts, n);
    },
    stream() {
      once();
      let resume: (() => void) | undefined;
      const out = new Readable({
        highWaterMark: READ_BUFFER,
        read() {
          const r = resume;
          resume = undefined;
          r?.();
        },
        destroy(e, cb) {
          if (!ended) c.abort(e ?? wireError('the reader stopped', 'ERR_STREAM_PREMATURE_CLOSE'));
          cb(e);
        },
      });
      let ended = false;
      c.pump((chunk) => {
        if (out.push(Buffer.from(chunk))) return undefined;
        return new Promise<void>((r) => { resume = r; });
      }).then(() => {
        ended = true;
        out.push(null);
      }, (e: unknown) => {
        ended = true;
        out.destroy(e as Error);
      });
      return out;
    },
    discard() {
      once();
      c.discardBody();
    },
  };
}
