import { posix } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { VesselError } from '../util/index.js';
import type { SshTarget } from './ssh.js';
import { openSftpChannel, type SshChannel } from './openssh.js';
import { FX, SftpError, SftpWire, type Handle } from './sftp-wire.js';
import { abortable, onAbort, type ChunkSink, type ObjectStat, type ReadOptions, type Transport } from './transport.js';

/**
 * Reads and writes keep DEPTH requests in flight, as OpenSSH's client does, each at most PIECE
 * bytes: the most OpenSSH's sftp-server answers in one packet (its SFTP_MAX_READ_LENGTH, 256 KiB
 * less the packet's own overhead; a server that answers less is asked again for the rest).
 * DEPTH × PIECE (2 MiB) is what ssh's channel window lets through at once; a download holds twice
 * that in memory (readPieces).
 */
const PIECE = 255 * 1024;
const DEPTH = 8;


/** One request's worth of a file: read into its own buffer (a short read asks again for the rest). */
interface Piece {
  pos: number;
  len: number;
  filled: number;
  buf: Buffer;
}

/**
 * A file's bytes from `start` to `size`, lent to a sink in order, with DEPTH read requests in
 * flight as long as there are free buffers. There are twice as many buffers as requests, so
 * while the sink pauses (tar, the disk) the requests keep going until DEPTH pieces wait for it,
 * and when it resumes it finds them ready while the next DEPTH are on their way: the transfer
 * never stops for a round trip. (Refilling only once the consumer had drained its buffer made a
 * 100 MB pull wait ~1 s in all.) A buffer is reused as soon as the sink returns: no allocation
 * per piece. An abort of `signal` ends it at once with the reason, without waiting for the reads
 * in flight (a dead peer never answers them): they are abandoned, the session goes on serving
 * the other files' reads.
 */
function readPieces(sftp: SftpWire, handle: Handle, start: number, size: number, sink: ChunkSink, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const free: Buffer[] = [];
    for (let i = 0; i < 2 * DEPTH && i * PIECE < size - start; i++) free.push(Buffer.allocUnsafe(PIECE));
    const ready = new Map<number, Piece>();
    let next = start;
    let delivered = start;
    let inflight = 0;
    let waiting = false;
    let done = false;
    let unwatch = (): void => undefined;
    const finish = (e?: unknown): void => {
      if (done) return;
      done = true;
      unwatch();
      // Reads still in flight are given up (their answers read past): the buffers they were
      // to fill are nobody's once this returns.
      if (e !== undefined) sftp.abandon(handle, e);
      // Not waited for: a read handle's close has nothing to report that the reads did not (and
      // a session that died rejects every request, this one and the reads in flight, at once).
      sftp.closeHandle(handle).catch(() => undefined);
      if (e !== undefined) reject(e);
      else resolve();
    };
    unwatch = onAbort(signal, finish);
    const ask = (p: Piece): void => {
      inflight++;
      sftp.read(handle, p.buf, p.filled, p.len - p.filled, p.pos + p.filled).then((n) => {
        inflight--;
        if (done) return;
        if (n === 0) return finish(Object.assign(new Error(`file ended at ${p.pos + p.filled} of ${size} bytes`), { code: 'ETRUNCATED' }));
        p.filled += n;
        if (p.filled < p.len) return ask(p);
        ready.set(p.pos, p);
        pump();
      }, (e: unknown) => {
        inflight--;
        finish(e);
      });
    };
    const pump = (): void => {
      while (!done && !waiting) {
        const p = ready.get(delivered);
        if (!p) break;
        ready.delete(delivered);
        let wait: Promise<void> | undefined;
        try {
          wait = sink(p.buf.subarray(0, p.len));
        } catch (e) {
          return finish(e);
        }
        delivered += p.len;
        free.push(p.buf);
        if (wait) {
          waiting = true;
          wait.then(() => {
            waiting = false;
            pump();
          }, finish);
        }
      }
      while (!done && inflight < DEPTH && free.length > 0 && next < size) {
        const len = Math.min(PIECE, size - next);
        ask({ pos: next, len, filled: 0, buf: free.pop()! });
        next += len;
      }
      if (!done && delivered >= size && !waiting) finish();
    };
    if (!done) pump();
  });
}

/** Writes chunks at their offsets, in pieces, several requests in flight; finishes when all are acknowledged. */
class ParallelWriter extends Writable {
  private pos = 0;
  private inflight = 0;
  private waiting: (() => void) | undefined;
  private error: Error | undefined;

  constructor(private readonly sftp: SftpWire, private readonly handle: Handle) {
    super({ highWaterMark: PIECE });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    let off = 0;
    // DEPTH is checked before each piece: a chunk larger than one piece (a 1 MiB read) would
    // otherwise put all its pieces in flight at once, past DEPTH.
    const send = () => {
      if (this.error) return cb(this.error);
      while (off < chunk.length && this.inflight < DEPTH) {
        const len = Math.min(PIECE, chunk.length - off);
        this.inflight++;
        this.sftp.write(this.handle, chunk.subarray(off, off + len), this.pos).then(() => this.acknowledged(undefined), this.acknowledged);
        this.pos += len;
        off += len;
      }
      if (off === chunk.length && this.inflight < DEPTH) return cb();
      this.waiting = send;
    };
    send();
  }

  private readonly acknowledged = (e: unknown): void => {
    this.inflight--;
    if (e && !this.error) this.error = e as Error;
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  };

  override _final(cb: (e?: Error | null) => void): void {
    const check = () => {
      if (this.error) return cb(this.error);
      if (this.inflight === 0) return cb();
      this.waiting = check;
    };
    check();
  }
}
function sftpCode(e: unknown): number | undefined {
  return e instanceof SftpError ? e.code : undefined;
}

/**
 * A registry in a directory on an ssh server. One session (OpenSSH's client, openssh.ts), opened
 * on first use and again after it drops (so retries reconnect). Puts go to a hidden temporary and
 * are renamed with OpenSSH's posix-rename, which replaces atomically (plain SFTP rename refuses to
 * overwrite).
 */
export class SftpTransport implements Transport {
  readonly display: string;
  private conn: Promise<{ wire: SftpWire; channel: SshChannel }> | undefined;

  constructor(readonly target: SshTarget, readonly root: string) {
    this.display = target.display;
  }

  private session(): Promise<{ wire: SftpWire; channel: SshChannel }> {
    if (this.conn) return this.conn;
    let channel: SshChannel | undefined;
    const wire = new SftpWire((parts) => channel?.send(parts));
    const conn: Promise<{ wire: SftpWire; channel: SshChannel }> = (async () => {
      channel = await openSftpChannel(this.target, (b) => wire.receive(b), (e) => {
        wire.close(e);
        if (this.conn === conn) this.conn = undefined;
      });
      await wire.init();
      return { wire, channel };
    })();
    this.conn = conn;
    conn.catch(() => {
      if (this.conn === conn) this.conn = undefined;
      channel?.close();
    });
    return conn;
  }

  private path(key: string): string {
    return posix.join(this.root, key);
  }

  async stat(key: string): Promise<ObjectStat | undefined> {
    const { wire } = await this.session();
    try {
      const st = await wire.stat(this.path(key));
      return st.isFile() ? { size: st.size ?? 0 } : undefined;
    } catch (e) {
      if (sftpCode(e) === FX.NO_SUCH_FILE) return undefined;
      throw e;
    }
  }

  /**
   * The object opened for reading, with its size. Each step waits for the server, so each gives
   * way to an abort of `signal` (the step's late answer is dropped; a handle opened after all is
   * closed again).
   */
  private async openRead(key: string, signal: AbortSignal | undefined): Promise<{ wire: SftpWire; h: Handle; size: number }> {
    const st = await abortable(this.stat(key), signal);
    if (!st) throw new VesselError('E_NOT_FOUND', `${this.display}: ${key}: no such object`);
    const { wire } = await abortable(this.session(), signal);
    const opening = wire.open(this.path(key), 'r');
    try {
      return { wire, h: await abortable(opening, signal), size: st.size };
    } catch (e) {
      if (signal?.aborted) opening.then((h) => wire.closeHandle(h)).catch(() => undefined);
      throw e;
    }
  }

  async pump(key: string, sink: ChunkSink, opts: ReadOptions = {}): Promise<void> {
    const { wire, h, size } = await this.openRead(key, opts.signal);
    return readPieces(wire, h, opts.offset ?? 0, size, sink, opts.signal);
  }

  async get(key: string, opts: ReadOptions = {}): Promise<Readable> {
    const { wire, h, size } = await this.openRead(key, opts.signal);
    let resume: (() => void) | undefined;
    const wake = (): void => {
      const r = resume;
      resume = undefined;
      r?.();
    };
    const out = new Readable({
      highWaterMark: PIECE * 4,
      read: wake,
      destroy(e, cb) {
        wake(); // the reader went away: the next piece stops the transfer (and closes the file)
        cb(e);
      },
    });
    readPieces(wire, h, opts.offset ?? 0, size, (c) => {
      if (out.destroyed) throw new Error('the reader went away');
      // The stream's reader keeps what it is given: its own copy of the lent piece.
      if (out.push(Buffer.from(c))) return undefined;
      return new Promise<void>((r) => { resume = r; });
    }, opts.signal).then(() => out.push(null), (e: unknown) => out.destroy(e as Error));
    return out;
  }

  private async mkdirs(dir: string, wire: SftpWire): Promise<void> {
    const parts = dir.split('/').filter(Boolean);
    let cur = dir.startsWith('/') ? '' : '.';
    for (const p of parts) {
      cur = `${cur}/${p}`;
      try {
        await wire.mkdir(cur);
      } catch (e) {
        // Exists already (SFTP reports it as a generic failure): check it is a directory.
        const st = await wire.stat(cur).catch(() => undefined);
        if (!st?.isDirectory()) throw e;
      }
    }
  }

  async put(key: string, body: Readable, _size?: number): Promise<void> {
    const { wire } = await this.session();
    const target = this.path(key);
    await this.mkdirs(posix.dirname(target), wire);
    const tmp = posix.join(posix.dirname(target), `.${posix.basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const h = await wire.open(tmp, 'w', 0o644);
      try {
        await pipeline(body, new ParallelWriter(wire, h));
      } finally {
        await wire.closeHandle(h).catch(() => undefined);
      }
      await wire.posixRename(tmp, target);
    } catch (e) {
      await wire.remove(tmp).catch(() => undefined);
      if (sftpCode(e) === FX.PERMISSION_DENIED) throw new VesselError('E_REGISTRY', `${this.display}: ${key}: permission denied`);
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const { wire } = await this.session();
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      let entries: Awaited<ReturnType<SftpWire['readdir']>>;
      try {
        entries = await wire.readdir(this.path(rel));
      } catch (e) {
        if (sftpCode(e) === FX.NO_SUCH_FILE) return;
        throw e;
      }
      for (const e of entries) {
        if (e.filename.startsWith('.')) continue;
        const k = rel ? `${rel}/${e.filename}` : e.filename;
        if (e.attrs.isDirectory()) await walk(k);
        else if (e.attrs.isFile()) out.push(k);
      }
    };
    await walk(prefix.replace(/\/+$/, ''));
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    const { wire } = await this.session();
    await wire.remove(this.path(key)).catch((e: unknown) => {
      if (sftpCode(e) !== FX.NO_SUCH_FILE) throw e;
    });
  }

  async close(): Promise<void> {
    if (!this.conn) return;
    const c = await this.conn.catch(() => undefined);
    this.conn = undefined;
    c?.channel.close();
  }
}
