import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tempNameFor, VesselError, hasErrno } from '../util/index.js';
import type { ObjectStat, Transport } from './transport.js';

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

  async get(key: string, opts: { offset?: number } = {}): Promise<Readable> {
    const p = this.path(key);
    if (!(await this.stat(key))) throw new VesselError('E_NOT_FOUND', `${this.display}: ${key}: no such object`);
    // Small reads: a pull holds a few of these per layer in flight, and memory must stay flat.
    return createReadStream(p, { start: opts.offset ?? 0, highWaterMark: 64 * 1024 });
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
