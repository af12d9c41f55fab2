import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import type { Client, SFTPWrapper } from 'ssh2';
import { VesselError } from '../util/errors.js';
import { sshConnect, type SshTarget } from './ssh.js';
import type { ObjectStat, Transport } from './transport.js';

/** ssh2 streams crawl with Node's 16 KiB default; 1 MiB windows on both sides run at line speed. */
const HWM = 1 << 20;
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
    if (!(await this.stat(key))) throw new VesselError('E_NOT_FOUND', `${this.display}: ${key}: no such object`);
    const { sftp } = await this.session();
    return sftp.createReadStream(this.path(key), { start: opts.offset ?? 0, highWaterMark: HWM });
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
      await pipeline(body, sftp.createWriteStream(tmp, { highWaterMark: HWM, mode: 0o644 }));
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
