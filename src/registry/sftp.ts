import { posix } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import type { Client, SFTPWrapper } from 'ssh2';
import { VesselError } from '../util/index.js';
import { sshConnect, type SshTarget } from './ssh.js';
import type { ObjectStat, Transport } from './transport.js';

/**
 * ssh2's own streams keep one request in flight, so every SFTP round trip stalls the transfer.
 * These keep DEPTH requests in flight, as OpenSSH's client does, each at most PIECE bytes: the
 * most OpenSSH's sftp-server answers in one packet (its SFTP_MAX_READ_LENGTH, 256 KiB less the
 * packet's own overhead), and the most ssh2 sends in one request — a larger one ssh2 splits into
 * pieces it sends one after the other, waiting for each (measured here: 100 MB in 0.2 s with
 * 255 KiB requests, 0.6 s with 1 MiB ones). DEPTH × PIECE (2 MiB) is also the ssh channel window
 * ssh2 keeps open, and what a transfer holds in memory.
 */
const PIECE = 255 * 1024;
const DEPTH = 8;

type Handle = Buffer;

function openFile(sftp: SFTPWrapper, path: string, flags: 'r' | 'w', mode?: number): Promise<Handle> {
  return new Promise((res, rej) => sftp.open(path, flags, mode === undefined ? {} : { mode }, (e, h) => (e ? rej(e) : res(h))));
}

function closeFile(sftp: SFTPWrapper, h: Handle): Promise<void> {
  return new Promise((res, rej) => sftp.close(h, (e) => (e ? rej(e) : res())));
}

/** A file's bytes from `start` to `size`, read with several requests in flight, delivered in order. */
class ParallelReader extends Readable {
  private next: number;
  private pushed: number;
  private inflight = 0;
  private readonly ready = new Map<number, Buffer>();
  private failed = false;

  constructor(private readonly sftp: SFTPWrapper, private readonly handle: Handle, start: number, private readonly size: number) {
    super({ highWaterMark: PIECE * 4 });
    this.next = start;
    this.pushed = start;
  }

  override _read(): void {
    this.fill();
  }

  /**
   * Requests up to DEPTH pieces (counting those received out of order and not pushed yet), as
   * long as less than DEPTH pieces wait for the consumer: the transfer runs ahead of a consumer
   * that pauses now and then (tar, the disk), and memory stays bounded when it is slower.
   */
  private fill(): void {
    while (!this.failed && this.readableLength < DEPTH * PIECE && this.inflight + this.ready.size < DEPTH && this.next < this.size) {
      const pos = this.next;
      const len = Math.min(PIECE, this.size - pos);
      this.next += len;
      this.request(pos, len);
    }
    if (this.next >= this.size && this.inflight === 0 && this.pushed >= this.size) this.finish();
  }

  private request(pos: number, len: number): void {
    this.inflight++;
    this.sftp.read(this.handle, Buffer.allocUnsafe(len), 0, len, pos, (e, n, buf) => {
      this.inflight--;
      if (this.failed) return;
      if (e) return this.fail(e);
      if (n === 0) return this.fail(Object.assign(new Error(`file ended at ${pos} of ${this.size} bytes`), { code: 'ETRUNCATED' }));
      this.ready.set(pos, buf.subarray(0, n));
      // A short read: ask for the rest of this chunk, keyed where it continues.
      if (n < len) this.request(pos + n, len - n);
      this.flush();
    });
  }

  private flush(): void {
    for (let b = this.ready.get(this.pushed); b; b = this.ready.get(this.pushed)) {
      this.ready.delete(this.pushed);
      this.pushed += b.length;
      this.push(b);
    }
    if (this.pushed >= this.size && this.inflight === 0) this.finish();
    else this.fill();
  }

  private finish(): void {
    if (this.failed) return;
    this.failed = true; // no more requests
    closeFile(this.sftp, this.handle).then(() => this.push(null), (e: Error) => this.destroy(e));
  }

  private fail(e: Error): void {
    this.failed = true;
    this.sftp.close(this.handle, () => undefined);
    this.destroy(e);
  }
}

/** Writes chunks at their offsets, in pieces, several requests in flight; finishes when all are acknowledged. */
class ParallelWriter extends Writable {
  private pos = 0;
  private inflight = 0;
  private waiting: (() => void) | undefined;
  private error: Error | undefined;

  constructor(private readonly sftp: SFTPWrapper, private readonly handle: Handle) {
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
        this.sftp.write(this.handle, chunk, off, len, this.pos, this.acknowledged);
        this.pos += len;
        off += len;
      }
      if (off === chunk.length && this.inflight < DEPTH) return cb();
      this.waiting = send;
    };
    send();
  }

  private readonly acknowledged = (e: Error | null | undefined): void => {
    this.inflight--;
    if (e && !this.error) this.error = e;
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
const NO_SUCH_FILE = 2;

function sftpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

/**
 * A registry in a directory on an ssh server. One connection, opened on first use and reopened
 * after it drops (so retries reconnect). Puts go to a hidden temporary and are renamed with
 * OpenSSH's posix-rename, which replaces atomically (plain SFTP rename refuses to overwrite).
 */
export class SftpTransport implements Transport {
  readonly display: string;
  private conn: Promise<{ client: Client; sftp: SFTPWrapper }> | undefined;

  constructor(readonly target: SshTarget, readonly root: string) {
    this.display = target.display;
  }

  private session(): Promise<{ client: Client; sftp: SFTPWrapper }> {
    this.conn ??= (async () => {
      const client = await sshConnect(this.target);
      const sftp = await new Promise<SFTPWrapper>((res, rej) => client.sftp((e, s) => (e ? rej(e) : res(s))));
      client.once('close', () => {
        this.conn = undefined;
      });
      return { client, sftp };
    })();
    this.conn.catch(() => {
      this.conn = undefined;
    });
    return this.conn;
  }

  private path(key: string): string {
    return posix.join(this.root, key);
  }

  async stat(key: string): Promise<ObjectStat | undefined> {
    const { sftp } = await this.session();
    return new Promise((res, rej) =>
      sftp.stat(this.path(key), (e, st) => {
        if (e) return sftpCode(e) === NO_SUCH_FILE ? res(undefined) : rej(e);
        res(st.isFile() ? { size: st.size } : undefined);
      }),
    );
  }

  async get(key: string, opts: { offset?: number } = {}): Promise<Readable> {
    const st = await this.stat(key);
    if (!st) throw new VesselError('E_NOT_FOUND', `${this.display}: ${key}: no such object`);
    const { sftp } = await this.session();
    const h = await openFile(sftp, this.path(key), 'r');
    return new ParallelReader(sftp, h, opts.offset ?? 0, st.size);
  }

  private async mkdirs(dir: string, sftp: SFTPWrapper): Promise<void> {
    const parts = dir.split('/').filter(Boolean);
    let cur = dir.startsWith('/') ? '' : '.';
    for (const p of parts) {
      cur = `${cur}/${p}`;
      await new Promise<void>((res, rej) =>
        sftp.mkdir(cur, (e) => {
          if (!e) return res();
          // Exists already (SFTP reports it as a generic failure): check it is a directory.
          sftp.stat(cur, (e2, st) => (!e2 && st.isDirectory() ? res() : rej(e)));
        }),
      );
    }
  }

  async put(key: string, body: Readable, _size?: number): Promise<void> {
    const { sftp } = await this.session();
    const target = this.path(key);
    await this.mkdirs(posix.dirname(target), sftp);
    const tmp = posix.join(posix.dirname(target), `.${posix.basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const h = await openFile(sftp, tmp, 'w', 0o644);
      try {
        await pipeline(body, new ParallelWriter(sftp, h));
      } finally {
        await closeFile(sftp, h).catch(() => undefined);
      }
      await new Promise<void>((res, rej) => sftp.ext_openssh_rename(tmp, target, (e) => (e ? rej(e) : res())));
    } catch (e) {
      await new Promise<void>((res) => sftp.unlink(tmp, () => res())).catch(() => undefined);
      const code = sftpCode(e);
      if (code === 3) throw new VesselError('E_REGISTRY', `${this.display}: ${key}: permission denied`);
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const { sftp } = await this.session();
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      const entries = await new Promise<Array<{ filename: string; attrs: { isDirectory(): boolean; isFile(): boolean } }>>((res, rej) =>
        sftp.readdir(this.path(rel), (e, list) => {
          if (e) return sftpCode(e) === NO_SUCH_FILE ? res([]) : rej(e);
          res(list as never);
        }),
      );
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
    const { sftp } = await this.session();
    await new Promise<void>((res, rej) => sftp.unlink(this.path(key), (e) => (e && sftpCode(e) !== NO_SUCH_FILE ? rej(e) : res())));
  }

  async close(): Promise<void> {
    if (!this.conn) return;
    const c = await this.conn.catch(() => undefined);
    this.conn = undefined;
    c?.client.end();
  }
}
