import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tempNameFor, VesselError, hasErrno } from '../util/index.js';
import type { ChunkSink, ObjectStat, ReadOptions, Transport } from './transport.js';

/**
 * Bytes read at a time by pump(): one reused buffer per layer in flight (several at once), small
 * as the pull's other buffers are (issue 15: < 128 KiB); the reads come from the page cache.
 */
const PUMP_CHUNK = 64 * 1024;

/** A registry in a local directory (or any mounted filesystem: NFS, a zfs dataset's mountpoint). */
export class FileTransport implements Transport {
  readonly display: string;
  constructor(readonly root: string, display?: string) {
    this.display = display ?? `file://${root}`;
  }

  private path(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  async stat(key: string): Promise<ObjectStat | undefined> {
    try {
      const st = await stat(this.path(key));
      return st.isFile() ? { size: st.size } : undefined;
    } catch (e) {
      if (hasErrno(e, 'ENOENT') || hasErrno(e, 'ENOTDIR')) return undefined;
      throw e;
    }
  }

  async get(key: string, opts: ReadOptions = {}): Promise<Readable> {
    const p = this.path(key);
    if (!(await this.stat(key))) throw new VesselError('E_NOT_FOUND', `${this.display}: ${key}: no such object`);
    // Small reads: a pull holds a few of these per layer in flight, and memory must stay flat.
    return createReadStream(p, { start: opts.offset ?? 0, highWaterMark: 64 * 1024, ...(opts.signal ? { signal: opts.signal } : {}) });
  }

  /**
   * The object's bytes lent from one reused buffer, each read after the sink took the last: no
   * Buffer per chunk, so nothing for V8 to collect (a stream's 64 KiB Buffers, one per read,
   * piled up to ~16 MiB more of a pull's RSS before V8 freed them). The signal is looked at
   * before each read: a local read does not stall, and its end is never far.
   */
  async pump(key: string, sink: ChunkSink, opts: ReadOptions = {}): Promise<void> {
    if (!(await this.stat(key))) throw new VesselError('E_NOT_FOUND', `${this.display}: ${key}: no such object`);
    const fh = await open(this.path(key), 'r');
    try {
      const buf = Buffer.allocUnsafe(PUMP_CHUNK);
      for (let pos = opts.offset ?? 0; ;) {
        opts.signal?.throwIfAborted();
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) return;
        pos += bytesRead;
        await sink(buf.subarray(0, bytesRead));
      }
    } finally {
      await fh.close();
    }
  }

  async put(key: string, body: Readable, _size?: number): Promise<void> {
    const p = this.path(key);
    await mkdir(dirname(p), { recursive: true });
    const tmp = tempNameFor(p);
    try {
      await pipeline(body, createWriteStream(tmp, { mode: 0o644, highWaterMark: 1 << 20 }));
      await rename(tmp, p);
    } catch (e) {
      await rm(tmp, { force: true });
      if (hasErrno(e, 'EACCES') || hasErrno(e, 'EROFS')) throw new VesselError('E_REGISTRY', `${this.display}: ${key}: cannot write (${(e as NodeJS.ErrnoException).code})`);
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(this.path(rel), { withFileTypes: true });
      } catch (e) {
        if (hasErrno(e, 'ENOENT') || hasErrno(e, 'ENOTDIR')) return;
        throw e;
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue; // temporaries of puts in flight
        const k = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(k);
        else if (e.isFile()) out.push(k);
      }
    };
    await walk(prefix.replace(/\/+$/, ''));
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await unlink(this.path(key)).catch((e: unknown) => {
      if (!hasErrno(e, 'ENOENT')) throw e;
    });
  }

  async close(): Promise<void> {}
}
