/**
 * The SFTP protocol, version 3 (draft-ietf-secsh-filexfer-02, what OpenSSH's sftp-server speaks),
 * as a client over a byte stream — here OpenSSH's own `ssh -s sftp` (openssh.ts), which does the
 * encryption in C. Only what a registry needs: open, read, write, close, stat, mkdir, readdir,
 * remove and OpenSSH's posix-rename. A READ's answer is copied from the connection's receive
 * buffer straight into the buffer the caller gave for it: no Buffer per packet, and nothing else
 * of a download passes through JavaScript.
 */

const T = {
  INIT: 1, VERSION: 2, OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, OPENDIR: 11, READDIR: 12, REMOVE: 13, MKDIR: 14, STAT: 17,
  STATUS: 101, HANDLE: 102, DATA: 103, NAME: 104, ATTRS: 105, EXTENDED: 200,
} as const;

/** SSH_FX_* status codes. */
export const FX = { OK: 0, EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4 } as const;

const OPEN_FLAGS = { r: 0x01, w: 0x02 | 0x08 | 0x10 } as const;
const ATTR = { SIZE: 0x1, UIDGID: 0x2, PERMISSIONS: 0x4, ACMODTIME: 0x8, EXTENDED: 0x80000000 } as const;
const S_IFMT = 0o170000;

/** A failed request: `code` is the SSH_FX status, as ssh2's errors carried it. */
export class SftpError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export interface Attrs {
  size?: number;
  mode?: number;
  isFile(): boolean;
  isDirectory(): boolean;
}

export type Handle = Buffer;

/** Appends SFTP's wire types to one outgoing message. */
class Out {
  private readonly parts: Buffer[] = [];
  private n = 0;
  u8(v: number): this {
    return this.put(Buffer.from([v]));
  }
  u32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v >>> 0);
    return this.put(b);
  }
  u64(v: number): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(BigInt(v));
    return this.put(b);
  }
  str(v: string | Buffer): this {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    return this.u32(b.length).put(b);
  }
  put(b: Buffer): this {
    this.parts.push(b);
    this.n += b.length;
    return this;
  }
  /**
   * The message with its length prefix: one buffer (one write), except that a WRITE's data goes
   * as its own piece, not copied.
   */
  frame(): Buffer[] {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(this.n);
    const last = this.parts[this.parts.length - 1]!;
    if (last.length < 4096) return [Buffer.concat([len, ...this.parts], this.n + 4)];
    return [Buffer.concat([len, ...this.parts.slice(0, -1)], this.n + 4 - last.length), last];
  }
}

/** Reads SFTP's wire types from one incoming message body. */
class In {
  private p = 0;
  constructor(private readonly b: Buffer) {}
  u32(): number {
    if (this.p + 4 > this.b.length) throw new SftpError(FX.FAILURE, 'a truncated answer from the sftp server');
    const v = this.b.readUInt32BE(this.p);
    this.p += 4;
    return v;
  }
  u64(): number {
    if (this.p + 8 > this.b.length) throw new SftpError(FX.FAILURE, 'a truncated answer from the sftp server');
    const v = Number(this.b.readBigUInt64BE(this.p));
    this.p += 8;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (this.p + n > this.b.length) throw new SftpError(FX.FAILURE, 'a truncated answer from the sftp server');
    const v = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return v;
  }
  str(): string {
    return this.bytes().toString('utf8');
  }
  get remaining(): number {
    return this.b.length - this.p;
  }
  attrs(): Attrs {
    const flags = this.u32();
    const a: { size?: number; mode?: number } = {};
    if (flags & ATTR.SIZE) a.size = this.u64();
    if (flags & ATTR.UIDGID) this.p += 8;
    if (flags & ATTR.PERMISSIONS) a.mode = this.u32();
    if (flags & ATTR.ACMODTIME) this.p += 8;
    if (flags & ATTR.EXTENDED) for (let n = this.u32(); n > 0; n--) void (this.bytes(), this.bytes());
    return {
      ...a,
      isFile: () => a.mode !== undefined && (a.mode & S_IFMT) === 0o100000,
      isDirectory: () => a.mode !== undefined && (a.mode & S_IFMT) === 0o040000,
    };
  }
}

/** A request waiting for its answer; a READ's answer goes into `into` at `off`. */
interface Pending {
  resolve(r: { type: number; body: Buffer; n: number }): void;
  reject(e: unknown): void;
  into?: Buffer;
  off?: number;
  max?: number;
  /** The handle a READ reads (abandon() finds them by it). */
  handle?: Handle;
  /** Given up by its caller (abandon()): the answer, when it comes, is read past and dropped. */
  dropped?: boolean;
}

/**
 * One SFTP session over a byte stream. `send` writes bytes to the server; the owner feeds every
 * byte received to `receive` (a lent chunk, read at once) and calls `close` when the stream ends.
 */
export class SftpWire {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private version: Pending | undefined;
  private extensions = new Map<string, string>();
  private dead: Error | undefined;
  // The message being received: its 9-byte head (length, type, id), then its body.
  private readonly head = Buffer.alloc(9);
  private headBytes = 0;
  private left = 0;
  private type = 0;
  private id = 0;
  private current: Pending | undefined;
  private body: Buffer | undefined;
  private bodyBytes = 0;
  /**
   * DATA into a caller's buffer: -1 while its length prefix arrives, then that length; -2 an
   * answer whose body is kept whole; -3 an answer nobody waits for, read past.
   */
  private dataLen = -1;
  private lenBytes = Buffer.alloc(4);
  private lenHave = 0;
  private written = 0;

  constructor(private readonly send: (parts: Buffer[]) => void) {}

  /** SSH_FXP_INIT, and the server's VERSION (with its extensions). */
  async init(): Promise<void> {
    await new Promise<{ type: number; body: Buffer; n: number }>((resolve, reject) => {
      this.version = { resolve, reject };
      this.send(new Out().u8(T.INIT).u32(3).frame());
    }).then(({ body }) => {
      // The version was read as the "id"; the rest are extension pairs.
      for (const r = new In(body); r.remaining > 0;) this.extensions.set(r.str(), r.str());
    });
  }

  /** Every request fails with `e` from now on (the stream ended). */
  close(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.version?.reject(e);
    this.version = undefined;
  }

  private request(type: number, build: (o: Out) => Out, into?: { buf: Buffer; off: number; max: number; handle: Handle }): Promise<{ type: number; body: Buffer; n: number }> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...(into ? { into: into.buf, off: into.off, max: into.max, handle: into.handle } : {}) });
      this.send(build(new Out().u8(type).u32(id)).frame());
    });
  }

  private static status(r: { type: number; body: Buffer }, what: string): void {
    if (r.type !== T.STATUS) throw new SftpError(FX.FAILURE, `${what}: unexpected answer ${r.type}`);
    const i = new In(r.body);
    const code = i.u32();
    if (code === FX.OK) return;
    let msg = '';
    try {
      msg = i.str();
    } catch {
      /* no message */
    }
    throw new SftpError(code, `${what}: ${msg || `status ${code}`}`);
  }

  async stat(path: string): Promise<Attrs> {
    const r = await this.request(T.STAT, (o) => o.str(path));
    if (r.type === T.ATTRS) return new In(r.body).attrs();
    SftpWire.status(r, `stat ${path}`);
    throw new SftpError(FX.FAILURE, `stat ${path}: no attributes`);
  }

  async open(path: string, flags: 'r' | 'w', mode?: number): Promise<Handle> {
    const r = await this.request(T.OPEN, (o) => {
      o.str(path).u32(OPEN_FLAGS[flags]);
      return mode === undefined ? o.u32(0) : o.u32(ATTR.PERMISSIONS).u32(mode);
    });
    if (r.type === T.HANDLE) return Buffer.from(new In(r.body).bytes());
    SftpWire.status(r, `open ${path}`);
    throw new SftpError(FX.FAILURE, `open ${path}: no handle`);
  }

  async closeHandle(h: Handle): Promise<void> {
    SftpWire.status(await this.request(T.CLOSE, (o) => o.str(h)), 'close');
  }

  /** Up to `len` bytes at `pos` into `buf` at `off`; how many came (0: the end of the file). */
  async read(h: Handle, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
    const r = await this.request(T.READ, (o) => o.str(h).u64(pos).u32(len), { buf, off, max: len, handle: h });
    if (r.type === T.DATA) return r.n;
    try {
      SftpWire.status(r, 'read');
    } catch (e) {
      if (e instanceof SftpError && e.code === FX.EOF) return 0;
      throw e;
    }
    return 0;
  }

  /**
   * The READs of `h` still waiting for their answers fail now with `reason`, and their buffers
   * are the caller's again: the answers, when they come, are read past and dropped. SFTP cannot
   * cancel a request, and the session is shared (other files' reads go on on it): it stays
   * usable, in step with the server, whether those answers ever come or not.
   */
  abandon(h: Handle, reason: unknown): void {
    for (const p of this.pending.values()) {
      if (p.handle !== h || p.dropped) continue;
      p.dropped = true;
      p.into = undefined;
      p.reject(reason);
    }
  }

  async write(h: Handle, data: Buffer, pos: number): Promise<void> {
    SftpWire.status(await this.request(T.WRITE, (o) => o.str(h).u64(pos).u32(data.length).put(data)), 'write');
  }

  async mkdir(path: string): Promise<void> {
    SftpWire.status(await this.request(T.MKDIR, (o) => o.str(path).u32(0)), `mkdir ${path}`);
  }

  async remove(path: string): Promise<void> {
    SftpWire.status(await this.request(T.REMOVE, (o) => o.str(path)), `remove ${path}`);
  }

  /** Rename that replaces the target atomically (OpenSSH's extension; plain RENAME refuses to overwrite). */
  async posixRename(from: string, to: string): Promise<void> {
    if (!this.extensions.has('posix-rename@openssh.com')) throw new SftpError(8, 'the sftp server has no posix-rename@openssh.com');
    SftpWire.status(await this.request(T.EXTENDED, (o) => o.str('posix-rename@openssh.com').str(from).str(to)), `rename ${from}`);
  }

  async readdir(path: string): Promise<Array<{ filename: string; attrs: Attrs }>> {
    const o = await this.request(T.OPENDIR, (x) => x.str(path));
    if (o.type !== T.HANDLE) {
      SftpWire.status(o, `opendir ${path}`);
      throw new SftpError(FX.FAILURE, `opendir ${path}: no handle`);
    }
    const h = Buffer.from(new In(o.body).bytes());
    const out: Array<{ filename: string; attrs: Attrs }> = [];
    try {
      for (;;) {
        const r = await this.request(T.READDIR, (x) => x.str(h));
        if (r.type !== T.NAME) {
          try {
            SftpWire.status(r, `readdir ${path}`);
          } catch (e) {
            if (e instanceof SftpError && e.code === FX.EOF) break;
            throw e;
          }
          break;
        }
        const i = new In(r.body);
        for (let n = i.u32(); n > 0; n--) {
          const filename = i.str();
          i.bytes(); // longname
          out.push({ filename, attrs: i.attrs() });
        }
      }
    } finally {
      await this.closeHandle(h).catch(() => undefined);
    }
    return out;
  }

  /** Bytes from the server, in order (lent: copied or consumed before this returns). */
  receive(b: Buffer): void {
    let i = 0;
    while (i < b.length && !this.dead) {
      if (this.headBytes < 9) {
        // VERSION has no id: its "id" is the version number, which is all the same to us here.
        const n = Math.min(9 - this.headBytes, b.length - i);
        b.copy(this.head, this.headBytes, i, i + n);
        this.headBytes += n;
        i += n;
        if (this.headBytes < 9) return;
        const len = this.head.readUInt32BE(0);
        if (len < 5 || len > 1 << 20) return this.close(new SftpError(FX.FAILURE, `the sftp server sent a message of ${len} bytes`));
        this.type = this.head[4]!;
        this.id = this.head.readUInt32BE(5);
        this.left = len - 5;
        this.current = this.type === T.VERSION ? this.version : this.pending.get(this.id);
        // Nobody waits for this answer (abandoned, or an id we never sent): skipped (-3), not copied.
        const wanted = this.current !== undefined && !this.current.dropped;
        this.dataLen = !wanted ? -3 : this.type === T.DATA && this.current?.into ? -1 : -2;
        this.lenHave = 0;
        this.written = 0;
        this.bodyBytes = 0;
        this.body = this.dataLen === -2 ? Buffer.allocUnsafe(this.left) : undefined;
        if (this.left === 0) this.done();
        continue;
      }
      if (this.dataLen === -3) {
        const n = Math.min(this.left, b.length - i);
        i += n;
        this.left -= n;
        if (this.left === 0) this.done();
        continue;
      }
      if (this.dataLen !== -2) {
        // Abandoned while its answer was arriving: the rest is skipped, the buffer not touched.
        if (this.current!.dropped) {
          this.dataLen = -3;
          continue;
        }
        // DATA for a READ: the length prefix, then the bytes straight into the caller's buffer.
        if (this.dataLen === -1) {
          const n = Math.min(4 - this.lenHave, b.length - i, this.left);
          b.copy(this.lenBytes, this.lenHave, i, i + n);
          this.lenHave += n;
          i += n;
          this.left -= n;
          if (this.lenHave < 4) continue;
          this.dataLen = this.lenBytes.readUInt32BE(0);
          const p = this.current!;
          if (this.dataLen > p.max! || this.dataLen !== this.left) return this.close(new SftpError(FX.FAILURE, `the sftp server sent ${this.dataLen} bytes for a read of ${p.max}`));
        }
        const n = Math.min(this.left, b.length - i);
        b.copy(this.current!.into!, this.current!.off! + this.written, i, i + n);
        this.written += n;
        i += n;
        this.left -= n;
        if (this.left === 0) this.done();
        continue;
      }
      const n = Math.min(this.left, b.length - i);
      b.copy(this.body!, this.bodyBytes, i, i + n);
      this.bodyBytes += n;
      i += n;
      this.left -= n;
      if (this.left === 0) this.done();
    }
  }

  private done(): void {
    const p = this.current;
    const type = this.type;
    if (type === T.VERSION) this.version = undefined;
    else this.pending.delete(this.id);
    this.headBytes = 0;
    this.current = undefined;
    // The VERSION body starts after the version number, which the head already took as "id".
    p?.resolve({ type, body: this.body ?? Buffer.alloc(0), n: this.written });
    this.body = undefined;
  }
}
