import { afterEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import http from 'node:http';
import tls from 'node:tls';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpClient, originOf, type Origin } from '../../src/registry/http1.js';

/**
 * The pull path's HTTP/1.1 client (registry/http1.ts) against servers on 127.0.0.1 that answer
 * in every framing HTTP/1.1 has, split at every awkward place, reuse and drop connections, and
 * cut bodies short. Bodies are checked byte for byte through the lent-chunk interface.
 */
const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** A raw TCP server: `answer` writes whatever bytes it likes for each request head it reads. */
async function rawServer(answer: (sock: net.Socket, head: string, n: number) => void): Promise<{ origin: Origin; connections: () => number }> {
  let conns = 0;
  let n = 0;
  const srv = net.createServer((sock) => {
    conns++;
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n\r\n'); i >= 0; i = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, i);
        buf = buf.slice(i + 4);
        answer(sock, head, n++);
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  closers.push(() => srv.close());
  return { origin: { secure: false, host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port }, connections: () => conns };
}

/** Write `data` in pieces of `size` bytes, one per tick: every boundary lands somewhere new. */
async function dribble(sock: net.Socket, data: Buffer, size: number): Promise<void> {
  for (let i = 0; i < data.length; i += size) {
    sock.write(data.subarray(i, i + size));
    await new Promise((r) => setImmediate(r));
  }
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Pump the body, copying what is lent, optionally pausing the transfer now and then. */
async function body(client: HttpClient, o: Origin, path = '/x', slow = false): Promise<{ status: number; data: Buffer }> {
  const r = await client.request(o, 'GET', path, {});
  const parts: Buffer[] = [];
  let i = 0;
  await r.pump((c) => {
    parts.push(Buffer.from(c));
    return slow && i++ % 3 === 0 ? new Promise((res) => setTimeout(res, 2)) : undefined;
  });
  return { status: r.status, data: Buffer.concat(parts) };
}

describe('framing', () => {
  const data = randomBytes(300_000);

  it('content-length, the head and the body split at every 7 bytes', async () => {
    const s = await rawServer((sock) => void dribble(sock, Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`), data.subarray(0, 5000)]), 7).then(() => sock.write(data.subarray(5000))));
    const c = new HttpClient();
    const got = await body(c, s.origin);
    expect(got.status).toBe(200);
    expect(sha(got.data)).toBe(sha(data));
    c.close();
  });

  it('chunked, with extensions and trailers, split at every 5 bytes', async () => {
    const chunks = [data.subarray(0, 1), data.subarray(1, 70_001), data.subarray(70_001)];
    const wire = Buffer.concat([
      Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
      ...chunks.flatMap((c, i) => [Buffer.from(`${c.length.toString(16)}${i === 1 ? ';name=v' : ''}\r\n`), c, Buffer.from('\r\n')]),
      Buffer.from('0\r\nX-Trailer: yes\r\n\r\n'),
    ]);
    const s = await rawServer((sock) => void dribble(sock, wire.subarray(0, 200), 5).then(() => dribble(sock, wire.subarray(200), 65536)));
    const c = new HttpClient();
    const got = await body(c, s.origin, '/x', true);
    expect(sha(got.data)).toBe(sha(data));
    // The connection is kept: the next request goes on it.
    await body(c, s.origin);
    expect(s.connections()).toBe(1);
    c.close();
  });

  it('a body that runs until the connection closes', async () => {
    const s = await rawServer((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n');
      void dribble(sock, data, 40_000).then(() => sock.end());
    });
    const c = new HttpClient();
    expect(sha((await body(c, s.origin, '/x', true)).data)).toBe(sha(data));
    // Not reused: the next request opens a new connection.
    await body(c, s.origin).catch(() => undefined);
    expect(s.connections()).toBe(2);
    c.close();
  });

  it('HEAD, 204 and 304 have no body; an interim 100 is skipped', async () => {
    const s = await rawServer((sock, head) => {
      if (head.startsWith('HEAD')) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n');
      else if (head.includes('/204')) sock.write('HTTP/1.1 204 No Content\r\n\r\n');
      else if (head.includes('/304')) sock.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n');
      else sock.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const c = new HttpClient();
    const h = await c.request(s.origin, 'HEAD', '/x', {});
    expect([h.status, h.headers['content-length']]).toEqual([200, '12345']);
    h.discard();
    expect((await body(c, s.origin, '/204')).data.length).toBe(0);
    expect((await body(c, s.origin, '/304')).data.length).toBe(0);
    expect((await body(c, s.origin, '/100')).data.toString()).toBe('ok');
    expect(s.connections()).toBe(1);
    c.close();
  });

  it('a short body nobody wants (an error page) is read and dropped: the connection is kept', async () => {
    const s = await rawServer((sock, head) => sock.write(head.includes('/missing') ? 'HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found' : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const c = new HttpClient();
    const r = await c.request(s.origin, 'GET', '/missing', {});
    expect(r.status).toBe(404);
    r.discard();
    expect((await body(c, s.origin)).data.toString()).toBe('ok');
    expect(s.connections()).toBe(1);
    c.close();
  });

  it('repeated headers are joined; names are lower case', async () => {
    const s = await rawServer((sock) => sock.write('HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 0\r\n\r\n'));
    const c = new HttpClient();
    const r = await c.request(s.origin, 'GET', '/', {});
    expect(r.headers['x-a']).toBe('1, 2');
    r.discard();
    c.close();
  });
});

describe('connections and failures', () => {
  it('a kept connection the server closed while idle: the request goes again on a new one', async () => {
    const s = await rawServer((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      // Closed right after answering, as a server's keep-alive timeout does.
      setTimeout(() => sock.destroy(), 20);
    });
    const c = new HttpClient();
    expect((await body(c, s.origin)).data.toString()).toBe('ok');
    await new Promise((r) => setTimeout(r, 60));
    expect((await body(c, s.origin)).data.toString()).toBe('ok');
    expect(s.connections()).toBe(2);
    c.close();
  });

  it('a body cut short rejects with a dropped-connection code (retried by the pull), after the bytes that came', async () => {
    const s = await rawServer((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
      sock.write(Buffer.alloc(30_000, 1), () => sock.destroy());
    });
    const c = new HttpClient();
    let got = 0;
    const r = await c.request(s.origin, 'GET', '/', {});
    await expect(r.pump((b) => { got += b.length; return undefined; })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(got).toBe(30_000);
    c.close();
  });

  it('a server that closes before answering: ECONNRESET', async () => {
    const s = await rawServer((sock) => sock.destroy());
    const c = new HttpClient();
    await expect(c.request(s.origin, 'GET', '/', {})).rejects.toMatchObject({ code: 'ECONNRESET' });
    c.close();
  });

  it('what is not HTTP/1.x, an oversized head, a bad length: EPROTO, one line', async () => {
    const answers = ['SSH-2.0-OpenSSH_9.2\r\n\r\n', `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}\r\n\r\n`, 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'];
    const s = await rawServer((sock, _h, n) => sock.write(answers[n]!));
    for (const want of [/not an HTTP\/1\.x response/, /head larger than/, /bad content-length/, /unsupported transfer-encoding/]) {
      const c = new HttpClient();
      await expect(c.request(s.origin, 'GET', '/', {})).rejects.toThrow(want);
      c.close();
    }
  });

  it('a sink that refuses stops the transfer with its reason, and the connection is not reused', async () => {
    const s = await rawServer((sock) => sock.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n'), Buffer.alloc(200_000)])));
    const c = new HttpClient();
    const r = await c.request(s.origin, 'GET', '/', {});
    await expect(r.pump(() => { throw new Error('no room'); })).rejects.toThrow('no room');
    const r2 = await c.request(s.origin, 'GET', '/', {});
    r2.discard();
    expect(s.connections()).toBe(2);
    c.close();
  });

  it('read() refuses more than it was told; stream() gives owned chunks and stops the transfer when destroyed', async () => {
    const data = randomBytes(1 << 20);
    const srv = http.createServer((_q, res) => res.end(data));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    closers.push(() => srv.close());
    const o = originOf(new URL(`http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/`));
    const c = new HttpClient();
    await expect((await c.request(o, 'GET', '/', {})).read(1000)).rejects.toThrow(/larger than 1000 bytes/);
    const kept: Buffer[] = [];
    for await (const b of (await c.request(o, 'GET', '/', {})).stream()) kept.push(b as Buffer);
    expect(sha(Buffer.concat(kept))).toBe(sha(data));
    const st = (await c.request(o, 'GET', '/', {})).stream();
    await new Promise((r) => st.once('readable', r));
    st.destroy();
    expect((await (await c.request(o, 'GET', '/', {})).read(2 << 20)).length).toBe(data.length);
    c.close();
  });
});

describe('an abort', () => {
  it('cuts a stalled exchange at once — waiting for the head, or mid-body — with the signal\'s reason; the server sees its connection closed', async () => {
    let closed = 0;
    const s = await rawServer((sock, _h, n) => {
      sock.on('close', () => closed++);
      if (n === 0) return; // never answers
      // a head and part of the body, then nothing: a hung server
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
      sock.write(Buffer.alloc(10_000, 1));
    });
    const c = new HttpClient();
    const a1 = new AbortController();
    const head = c.request(s.origin, 'GET', '/', {}, a1.signal);
    setTimeout(() => a1.abort(new Error('gone before the head')), 50);
    await expect(head).rejects.toThrow('gone before the head');

    const a2 = new AbortController();
    const r = await c.request(s.origin, 'GET', '/', {}, a2.signal);
    let got = 0;
    const body = r.pump((b) => { got += b.length; return undefined; });
    while (got < 10_000) await new Promise((res) => setTimeout(res, 5));
    const reason = new Error('gone mid-body');
    a2.abort(reason);
    await expect(body).rejects.toBe(reason);
    while (closed < 2) await new Promise((res) => setTimeout(res, 5));

    // already aborted: nothing is sent, no connection made
    await expect(c.request(s.origin, 'GET', '/', {}, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(s.connections()).toBe(2);
    c.close();
  });

  it('a stream() of an aborted exchange is destroyed with the reason; a finished exchange\'s connection no longer listens', async () => {
    const s = await rawServer((sock, _h, n) => {
      if (n === 0) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nxx');
    });
    const c = new HttpClient();
    const a = new AbortController();
    expect((await (await c.request(s.origin, 'GET', '/', {}, a.signal)).read(10)).toString()).toBe('ok');
    // the first exchange is over: aborting its signal now leaves the kept connection alone
    a.abort(new Error('late'));
    const b = new AbortController();
    const st = (await c.request(s.origin, 'GET', '/', {}, b.signal)).stream();
    const failed = new Promise((res) => st.once('error', res));
    st.resume();
    const reason = new Error('gone');
    b.abort(reason);
    expect(await failed).toBe(reason);
    expect(s.connections()).toBe(1);
    c.close();
  });
});

describe('TLS', () => {
  it('body pieces a paused TLS socket still delivers while the sink waits on the first ones are all handed on, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vessel-http1-tls-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', join(dir, 'key'), '-out', join(dir, 'cert')]);
    expect(gen.status, String(gen.stderr)).toBe(0);
    const data = randomBytes(2 << 20);
    // Records written at once, asked for at once: the head comes with more decrypted behind it,
    // which the paused socket still delivers while the first early pieces wait on the sink.
    const srv = tls.createServer({ key: readFileSync(join(dir, 'key')), cert: readFileSync(join(dir, 'cert')) }, (sock) => {
      sock.once('data', () => {
        sock.cork();
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`);
        for (let i = 0; i < data.length; i += 16384) sock.write(data.subarray(i, i + 16384));
        sock.uncork();
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    closers.push(() => srv.close());
    // Trust is not what this tests (the pull's CA handling is registry-roundtrip's https case).
    const was = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    closers.push(() => {
      if (was === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = was;
    });
    const c = new HttpClient();
    const r = await c.request({ secure: true, host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port }, 'GET', '/', {});
    const parts: Buffer[] = [];
    await r.pump((chunk) => {
      parts.push(Buffer.from(chunk));
      return new Promise((res) => setTimeout(res, 1));
    });
    expect(sha(Buffer.concat(parts))).toBe(sha(data));
    c.close();
  });
});
