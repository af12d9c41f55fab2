import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FX, SftpError, SftpWire } from '../../src/registry/sftp-wire.js';

/**
 * The SFTP client of sftp:// (registry/sftp-wire.ts) against OpenSSH's own sftp-server (Debian's
 * openssh-sftp-server, what sshd runs for the subsystem), spoken to over its stdin and stdout —
 * the protocol without ssh around it — with the server's bytes handed to the client in pieces of
 * every awkward size; and the framing alone, against hand-made answers split at every byte.
 */
const SFTP_SERVER = '/usr/lib/openssh/sftp-server';
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A wire on a real sftp-server; what the server says reaches the client `split` bytes at a time. */
async function real(split: number): Promise<{ wire: SftpWire; dir: string }> {
  const dir = mkdtempSync('/tmp/vessel-sftp-wire-');
  dirs.push(dir);
  const child = spawn(SFTP_SERVER, ['-e', '-l', 'ERROR'], { stdio: ['pipe', 'pipe', 'inherit'], cwd: dir });
  children.push(child);
  const wire = new SftpWire((parts) => {
    for (const p of parts) child.stdin!.write(p);
  });
  child.stdout!.on('data', (d: Buffer) => {
    for (let i = 0; i < d.length; i += split) wire.receive(d.subarray(i, Math.min(d.length, i + split)));
  });
  child.once('exit', () => wire.close(Object.assign(new Error('sftp-server exited'), { code: 'ERR_SSH_CHANNEL_CLOSED' })));
  await wire.init();
  return { wire, dir };
}

describe('against OpenSSH\'s sftp-server', () => {
  it.each([1, 7, 4096, 1 << 20])('every operation a registry uses, its answers split every %i bytes', async (split) => {
    const { wire, dir } = await real(split);
    await wire.mkdir(join(dir, 'a'));
    await expect(wire.mkdir(join(dir, 'a'))).rejects.toBeInstanceOf(SftpError);
    expect((await wire.stat(join(dir, 'a'))).isDirectory()).toBe(true);
    await expect(wire.stat(join(dir, 'nope'))).rejects.toMatchObject({ code: FX.NO_SUCH_FILE });

    // A write in pieces, renamed over an existing file atomically.
    const data = randomBytes(700_000);
    writeFileSync(join(dir, 'a', 'blob'), 'old');
    const h = await wire.open(join(dir, 'a', '.tmp'), 'w', 0o640);
    await Promise.all([0, 1, 2].map((i) => wire.write(h, data.subarray(i * 261_120, (i + 1) * 261_120), i * 261_120)));
    await wire.closeHandle(h);
    await wire.posixRename(join(dir, 'a', '.tmp'), join(dir, 'a', 'blob'));
    expect(createHash('sha256').update(readFileSync(join(dir, 'a', 'blob'))).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(statSync(join(dir, 'a', 'blob')).mode & 0o777).toBe(0o640);
    const st = await wire.stat(join(dir, 'a', 'blob'));
    expect([st.isFile(), st.size]).toEqual([true, data.length]);

    // Reads into the caller's buffers, several in flight; the end of the file reads as 0.
    const r = await wire.open(join(dir, 'a', 'blob'), 'r');
    const into = Buffer.alloc(data.length);
    const got = await Promise.all([0, 1, 2].map((i) => wire.read(r, into, i * 261_120, 261_120, i * 261_120)));
    expect(got.reduce((a, n) => a + n, 0)).toBe(data.length);
    expect(into.equals(data)).toBe(true);
    expect(await wire.read(r, Buffer.alloc(10), 0, 10, data.length)).toBe(0);
    await wire.closeHandle(r);

    // A directory of more entries than one answer holds (OpenSSH sends 100 per NAME).
    for (let i = 0; i < 150; i++) writeFileSync(join(dir, 'a', `f${i}`), '');
    mkdirSync(join(dir, 'a', 'sub'));
    const names = await wire.readdir(join(dir, 'a'));
    expect(names.filter((n) => n.attrs.isFile()).length).toBe(151);
    expect(names.find((n) => n.filename === 'sub')?.attrs.isDirectory()).toBe(true);
    await wire.remove(join(dir, 'a', 'f0'));
    await expect(wire.remove(join(dir, 'a', 'f0'))).rejects.toMatchObject({ code: FX.NO_SUCH_FILE });
  });

  it('a server that goes away fails every request in flight, and every later one, with the reason', async () => {
    const { wire, dir } = await real(65536);
    writeFileSync(join(dir, 'f'), randomBytes(1 << 20));
    const h = await wire.open(join(dir, 'f'), 'r');
    const reads = [0, 1, 2, 3].map((i) => wire.read(h, Buffer.alloc(261_120), 0, 261_120, i * 261_120));
    children[0]!.kill('SIGKILL');
    const settled = await Promise.allSettled(reads);
    // Some may have been answered before the kill; the rest fail as a dropped connection.
    for (const s of settled) if (s.status === 'rejected') expect(s.reason).toMatchObject({ code: 'ERR_SSH_CHANNEL_CLOSED' });
    await expect(wire.stat(dir)).rejects.toMatchObject({ code: 'ERR_SSH_CHANNEL_CLOSED' });
  });
});

describe('framing', () => {
  /** One server message: length, type, id, body. */
  const msg = (type: number, id: number, body: Buffer) => {
    const h = Buffer.alloc(9);
    h.writeUInt32BE(body.length + 5);
    h[4] = type;
    h.writeUInt32BE(id, 5);
    return Buffer.concat([h, body]);
  };
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  const str = (s: string | Buffer) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
  /** A wire past its INIT (VERSION 3, no extensions), and the request ids it sends, in order. */
  async function started(): Promise<{ wire: SftpWire; sent: number[] }> {
    const sent: number[] = [];
    const wire = new SftpWire((parts) => sent.push(Buffer.concat(parts).readUInt32BE(5)));
    const init = wire.init();
    wire.receive(msg(2, 3, Buffer.alloc(0)));
    await init;
    return { wire, sent };
  }

  it('answers out of order and split at every byte reach their requests; a READ\'s data lands in its buffer', async () => {
    const sent: number[] = [];
    const wire = new SftpWire((parts) => sent.push(Buffer.concat(parts).readUInt32BE(5)));
    const init = wire.init();
    // VERSION 3 with one extension; its "id" is the version.
    const version = msg(2, 3, Buffer.concat([str('posix-rename@openssh.com'), str('1')]));
    for (const b of version) wire.receive(Buffer.from([b]));
    await init;
    const a = Buffer.alloc(5);
    const b = Buffer.alloc(5);
    const ra = wire.read(Buffer.from('h'), a, 0, 5, 0);
    const rb = wire.read(Buffer.from('h'), b, 0, 5, 5);
    const stat = wire.stat('/x');
    const [ida, idb, ids] = sent.slice(1);
    const answers = Buffer.concat([
      msg(105, ids!, Buffer.concat([u32(0x5), Buffer.from([0, 0, 0, 0, 0, 0, 0, 42]), u32(0o100644)])),
      msg(103, idb!, str('world')),
      msg(101, ida!, Buffer.concat([u32(FX.EOF), str('end'), str('')])),
    ]);
    for (const byte of answers) wire.receive(Buffer.from([byte]));
    expect(await rb).toBe(5);
    expect(b.toString()).toBe('world');
    expect(await ra).toBe(0);
    const st = await stat;
    expect([st.size, st.isFile(), st.isDirectory()]).toEqual([42, true, false]);
  });

  it('abandoned READs fail at once with the reason; their answers, when they come (one split mid-way), are read past: buffers untouched, the session in step', async () => {
    const { wire, sent } = await started();
    const h = Buffer.from('h');
    const [a, b, c] = [Buffer.alloc(5), Buffer.alloc(5), Buffer.alloc(5)];
    const ra = wire.read(h, a, 0, 5, 0);
    const rb = wire.read(h, b, 0, 5, 5);
    const rc = wire.read(Buffer.from('g'), c, 0, 5, 0);
    const [ida, idb, idc] = sent.slice(1);
    // b's answer is arriving (into its length prefix) when the reads of h are given up
    const answerB = msg(103, idb!, str('world'));
    wire.receive(answerB.subarray(0, 11));
    const reason = new Error('the caller went away');
    wire.abandon(h, reason);
    await expect(ra).rejects.toBe(reason);
    await expect(rb).rejects.toBe(reason);
    for (const byte of Buffer.concat([answerB.subarray(11), msg(103, ida!, str('hello')), msg(103, idc!, str('other'))])) wire.receive(Buffer.from([byte]));
    expect(await rc).toBe(5);
    expect(c.toString()).toBe('other');
    expect([a, b].map((x) => x.equals(Buffer.alloc(5)))).toEqual([true, true]);
    const stat = wire.stat('/x');
    wire.receive(msg(105, sent[sent.length - 1]!, Buffer.concat([u32(0x5), Buffer.from([0, 0, 0, 0, 0, 0, 0, 7]), u32(0o100644)])));
    expect((await stat).size).toBe(7);
  });

  it('a DATA answer longer than the read asked for ends the session (never written past the buffer)', async () => {
    const { wire, sent } = await started();
    const into = Buffer.alloc(4);
    const r = wire.read(Buffer.from('h'), into, 0, 4, 0);
    wire.receive(msg(103, sent[1]!, str('too long')));
    await expect(r).rejects.toThrow(/sent 8 bytes for a read of 4/);
    expect(into.equals(Buffer.alloc(4))).toBe(true);
  });
});
