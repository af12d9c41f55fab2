import { PassThrough, type Readable } from 'node:stream';
import { posix } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { Client } from 'basic-ftp';
import { VesselError } from '../util/index.js';
import type { RegistryUrl } from './url.js';
import { TransientError } from './retry.js';
import { abortable, onAbort, type ObjectStat, type ReadOptions, type Transport } from './transport.js';

type FtpUrl = Extract<RegistryUrl, { scheme: 'ftp' | 'ftps' }>;

function ftpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

/**
 * A registry in a directory of an FTP server: plain, explicit TLS (AUTH TLS, ftps://) or
 * implicit TLS (ftps://…?tls=implicit). The password comes from the URL or, better (it then
 * stays out of shell history), VESSEL_FTP_PASSWORD. FTP runs one command at a time, so this
 * transport is used sequentially; a dropped control connection is reopened by the next call.
 */
export class FtpTransport implements Transport {
  readonly display: string;
  /** One control connection, one transfer at a time (see turn()). */
  readonly parallel = 1;
  private client: Client | undefined;
  /** The end of the queue of calls waiting for the control connection (turn()). */
  private tail: Promise<void> = Promise.resolve();
  private connecting: Promise<Client> | undefined;
  /**
   * The client logging in now: close() cuts it too. A login the caller gave up on (an aborted
   * pull waits for it no more) would otherwise go on against a stalled server until the
   * library's own timeout, and then be kept as the session of a registry already closed.
   */
  private loggingIn: Client | undefined;

  constructor(readonly u: FtpUrl) {
    this.display = u.display;
  }

  private async session(): Promise<Client> {
    if (this.client && !this.client.closed) return this.client;
    this.connecting ??= (async () => {
      const { Client } = await import('basic-ftp');
      const c = new Client(60_000);
      this.loggingIn = c;
      try {
        await c.access({
          host: this.u.host,
          port: this.u.port,
          user: this.u.auth.user ?? process.env.VESSEL_FTP_USER ?? 'anonymous',
          password: this.u.auth.password ?? process.env.VESSEL_FTP_PASSWORD ?? 'anonymous@',
          secure: this.u.tls === 'implicit' ? 'implicit' : this.u.tls === 'explicit',
          // SNI carries host names only (an IP there is deprecated, DEP0123).
          secureOptions: { ...(isIP(this.u.host) ? {} : { servername: this.u.host }), ...(this.u.params.insecure === '1' ? { rejectUnauthorized: false } : {}) },
        });
      } catch (e) {
        c.close();
        const code = ftpCode(e);
        if (code === 530) throw new VesselError('E_REGISTRY', `${this.display}: login refused (FTP 530)`, { hint: 'check the user and password (VESSEL_FTP_PASSWORD)' });
        if (code !== undefined && code >= 500) throw new VesselError('E_REGISTRY', `${this.display}: ${(e as Error).message}`);
        throw e;
      } finally {
        this.loggingIn = undefined;
      }
      this.client = c;
      return c;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private path(key: string): string {
    return posix.join(this.u.path, key);
  }

  /** FTP reply codes: 4xx transient (and a dead connection), 5xx final. */
  private fail(what: string, e: unknown): unknown {
    const code = ftpCode(e);
    if (code !== undefined && code >= 400 && code < 500) return new TransientError(`${this.display}: ${what}: ${(e as Error).message}`);
    if (code === 530) return new VesselError('E_REGISTRY', `${this.display}: ${what}: not logged in (FTP 530)`);
    if (code !== undefined && code >= 500) return new VesselError('E_REGISTRY', `${this.display}: ${what}: ${(e as Error).message}`);
    return e;
  }

  /**
   * `fn` alone on the session: FTP runs one command at a time on a connection, and basic-ftp
   * closes a client asked for a second while one runs ("User launched a task while another one
   * is still running") — a pull reads its config while its first layer starts. The next call's
   * turn comes once `fn` has settled and, for a download, once the transfer it started (`held`)
   * has ended. A caller whose signal aborts stops waiting for its turn; the queue keeps its order.
   */
  private async turn<T>(signal: AbortSignal | undefined, fn: (c: Client) => Promise<{ value: T; held?: Promise<unknown> }>): Promise<T> {
    const before = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => { release = r; });
    let held: Promise<unknown> | undefined;
    try {
      await abortable(before, signal);
      const r = await fn(await abortable(this.session(), signal));
      held = r.held;
      return r.value;
    } finally {
      // Never before the call ahead of this one has had its turn, aborted or not.
      void before.then(() => held).then(release, release);
    }
  }

  async stat(key: string): Promise<ObjectStat | undefined> {
    return this.turn(undefined, async (c) => ({ value: await this.size(c, key) }));
  }

  private async size(c: Client, key: string): Promise<ObjectStat | undefined> {
    try {
      return { size: await c.size(this.path(key)) };
    } catch (e) {
      if (ftpCode(e) === 550) return undefined;
      throw this.fail(`SIZE ${key}`, e);
    }
  }

  /**
   * `step`, a command on `c`, given up when `signal` aborts: FTP cannot cancel a command (or a
   * transfer, short of ABOR, whose answers a stalled server may never send) and go on in step,
   * so the control connection is closed — the data connection with it — and the next call opens
   * a fresh one (session()).
   */
  private guarded<T>(c: Client, step: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const off = onAbort(signal, () => this.drop(c));
    return abortable(step, signal).finally(off);
  }

  private drop(c: Client): void {
    c.close();
    if (this.client === c) this.client = undefined;
  }

  async get(key: string, opts: ReadOptions = {}): Promise<Readable> {
    const signal = opts.signal;
    return this.turn(signal, async (c) => {
      if (!(await this.guarded(c, this.size(c, key), signal))) throw new VesselError('E_NOT_FOUND', `${this.display}: ${key}: no such object`);
      const out = new PassThrough({ highWaterMark: 1 << 20 });
      const off = onAbort(signal, (reason) => {
        this.drop(c);
        out.destroy(reason as Error);
      });
      const held = c.downloadTo(out, this.path(key), opts.offset ?? 0).catch((e: unknown) => out.destroy(this.fail(`RETR ${key}`, e) as Error)).finally(off);
      return { value: out, held };
    });
  }

  async put(key: string, body: Readable, _size?: number): Promise<void> {
    return this.turn(undefined, async (c) => ({ value: await this.upload(c, key, body) }));
  }

  private async upload(c: Client, key: string, body: Readable): Promise<void> {
    const target = this.path(key);
    const tmp = posix.join(posix.dirname(target), `.${posix.basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await c.ensureDir(posix.dirname(target));
      await c.cd('/');
      await c.uploadFrom(body, tmp);
      // RNTO onto an existing name replaces it on pure-ftpd and vsftpd (rename(2) underneath).
      await c.rename(tmp, target);
    } catch (e) {
      if (!c.closed) await c.remove(tmp, true).catch(() => undefined);
      throw this.fail(`STOR ${key}`, e);
    }
  }

  async list(prefix: string): Promise<string[]> {
    return this.turn(undefined, async (c) => ({ value: await this.walk(c, prefix) }));
  }

  private async walk(c: Client, prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      let entries;
      try {
        entries = await c.list(this.path(rel));
      } catch (e) {
        if (ftpCode(e) === 550) return;
        throw this.fail(`LIST ${rel}`, e);
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const k = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory) await walk(k);
        else if (e.isFile) out.push(k);
      }
    };
    await walk(prefix.replace(/\/+$/, ''));
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    return this.turn(undefined, async (c) => ({ value: await c.remove(this.path(key), true).then(() => undefined) }));
  }

  async close(): Promise<void> {
    this.loggingIn?.close();
    this.client?.close();
    this.client = undefined;
  }
}
