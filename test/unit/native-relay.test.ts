import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * The relay of published ports (native/linux/relay.c, relay-tcp.c, relay-udp.c: what serves [::1]
 * on hosts with br_netfilter, docs/networking.md "IPv6 loopback"), built with the warnings the
 * real build uses and AddressSanitizer/UBSan, driven through native/test/relay-probe.c against
 * real sockets on ::1: both directions of a stream at once through its bounded buffers, half-close
 * each way, a reset each way, a target that refuses, a full connection table, UDP flows per client
 * with their idle end and their bound, the drain a reload asks for, and a second relay bound on
 * the same port (SO_REUSEPORT), which takes every new client from the moment it listens;
 * LeakSanitizer checks that the tables are freed when it ends. A missing compiler fails the test.
 * No root needed.
 */
const repo = join(__dirname, '..', '..');
const out = mkdtempSync(join(tmpdir(), 'vessel-native-relay-'));
const probe = join(out, 'relay-probe');
afterAll(() => rmSync(out, { recursive: true, force: true }));

beforeAll(() => {
  const srcs = [join(repo, 'native', 'test', 'relay-probe.c'), ...['relay', 'relay-tcp', 'relay-udp'].map((f) => join(repo, 'native', 'linux', `${f}.c`)), join(repo, 'native', 'common', 'selfpipe.c')];
  execFileSync('cc', ['-std=c11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', '-Wno-format-truncation', '-g',
    '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-o', probe, ...srcs], { stdio: 'pipe' });
});

interface Relay { child: ChildProcess; ports: number[]; output: () => string; exit: Promise<number | null> }
const relays: Relay[] = [];
const closers: Array<() => void> = [];
afterEach(() => {
  for (const r of relays.splice(0)) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  for (const c of closers.splice(0)) c();
});

async function startRelay(args: string[]): Promise<Relay> {
  // leaks are checked at the exits the tests wait for (SIGTERM, a finished drain): LSan's exit code is 23
  const child = spawn(probe, args, { env: { ASAN_OPTIONS: 'detect_leaks=1', PATH: process.env.PATH ?? '' } });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exit = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  const r: Relay = { child, ports: [], output: () => text, exit };
  relays.push(r);
  for (let i = 0; i < 400 && !/\n/.test(text); i++) await sleep(5);
  const m = /^listening((?: \d+)+)\n/.exec(text);
  if (m) r.ports = m[1]!.trim().split(' ').map(Number);
  return r;
}

function listenTcp(handler: (s: Socket) => void): Promise<number> {
  const server: Server = createServer({ allowHalfOpen: true }, handler);
  closers.push(() => server.close());
  return new Promise((res) => server.listen(0, '::1', () => res((server.address() as { port: number }).port)));
}

function dial(port: number): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = connect({ host: '::1', port, allowHalfOpen: true }, () => res(s));
    s.once('error', rej);
    closers.push(() => s.destroy());
  });
}

/** Everything the socket sends until its end of stream, or the error that ended it. */
function readAll(s: Socket): Promise<Buffer | Error> {
  const chunks: Buffer[] = [];
  return new Promise((res) => {
    s.on('data', (d: Buffer) => chunks.push(d));
    s.once('end', () => res(Buffer.concat(chunks)));
    s.once('error', (e) => res(e));
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('the relay (native/linux/relay*.c) under ASan/UBSan, against real sockets', () => {
  it('TCP: 8 MiB each way at once through 16 KiB buffers, byte for byte', async () => {
    const target = await listenTcp((s) => s.pipe(s)); // an echo: what it reads it writes back
    const relay = await startRelay([`tcp:0:${target}`]);
    expect(relay.ports).toHaveLength(1);
    const c = await dial(relay.ports[0]!);
    const data = randomBytes(8 << 20);
    const back = readAll(c);
    c.end(data);
    const got = await back;
    expect(got).toBeInstanceOf(Buffer);
    expect((got as Buffer).length).toBe(data.length);
    expect(sha(got as Buffer)).toBe(sha(data));
  });

  it('TCP half-close, both ways: a client that closes its side still reads the whole answer; a server that closes its side still reads the client', async () => {
    const target = await listenTcp((s) => {
      let n = 0;
      s.on('data', (d: Buffer) => (n += d.length));
      s.write('hello\n');
      // the client's end of stream reaches the server only through the relay's shutdown()
      s.once('end', () => s.end(`got ${n}\n`));
    });
    const relay = await startRelay([`tcp:0:${target}`]);
    const c = await dial(relay.ports[0]!);
    const answer = readAll(c);
    c.end(randomBytes(1 << 20));
    expect(String(await answer)).toBe(`hello\ngot ${1 << 20}\n`);

    const early = await listenTcp((s) => {
      s.end('bye\n'); // its side closed first
      let n = 0;
      s.on('data', (d: Buffer) => (n += d.length));
      s.once('end', () => s.destroySoon?.());
      s.once('close', () => results.push(n));
    });
    const results: number[] = [];
    const r2 = await startRelay([`tcp:0:${early}`]);
    const c2 = await dial(r2.ports[0]!);
    const got = await readAll(c2);
    expect(String(got)).toBe('bye\n');
    c2.end(randomBytes(300_000)); // written after the server's end of stream arrived
    for (let i = 0; i < 400 && results.length === 0; i++) await sleep(10);
    expect(results).toEqual([300_000]);
  });

  it('TCP resets: a target that refuses, and a reset from either side, reset the other side', async () => {
    const dead = await listenTcp(() => undefined);
    const refused = await startRelay([`tcp:0:${dead}`]);
    closers.pop()!(); // the target goes away: nothing listens at its port now
    await sleep(50);
    // the kernel completes the handshake; the relay's reset may come before or after Node sees it
    const r = await dial(refused.ports[0]!).then(readAll, (e: Error) => e);
    expect(r instanceof Error ? (r as NodeJS.ErrnoException).code : `data: ${String(r)}`).toBe('ECONNRESET');

    const resetting = await listenTcp((s) => s.once('data', () => s.resetAndDestroy()));
    const relay = await startRelay([`tcp:0:${resetting}`]);
    const c2 = await dial(relay.ports[0]!);
    const r2 = readAll(c2);
    c2.write('x');
    const e2 = await r2;
    expect(e2 instanceof Error ? (e2 as NodeJS.ErrnoException).code : 'no reset').toBe('ECONNRESET');

    const seen: string[] = [];
    const quiet = await listenTcp((s) => s.on('error', (e: NodeJS.ErrnoException) => seen.push(e.code ?? '')).on('close', () => seen.push('closed')));
    const r3 = await startRelay([`tcp:0:${quiet}`]);
    const c3 = await dial(r3.ports[0]!);
    c3.write('x');
    await sleep(100);
    c3.resetAndDestroy();
    for (let i = 0; i < 400 && !seen.includes('closed'); i++) await sleep(10);
    expect(seen).toEqual(['ECONNRESET', 'closed']);
  });

  it('TCP table full: more clients wait in the backlog and are served as connections end', async () => {
    const target = await listenTcp((s) => s.on('data', (d: Buffer) => s.write(d)).on('end', () => s.end()));
    const relay = await startRelay(['--conns', '2', `tcp:0:${target}`]);
    const ask = async (s: Socket, text: string) => {
      const got = new Promise<string>((res) => s.once('data', (d: Buffer) => res(d.toString())));
      s.write(text);
      return got;
    };
    const a = await dial(relay.ports[0]!);
    const b = await dial(relay.ports[0]!);
    expect(await ask(a, 'a')).toBe('a');
    expect(await ask(b, 'b')).toBe('b');
    // the third is connected by the kernel (backlog) but not accepted: no answer while a and b live
    const c = await dial(relay.ports[0]!);
    let third = '';
    c.on('data', (d: Buffer) => (third += d.toString()));
    c.write('c');
    await sleep(300);
    expect(third).toBe('');
    a.end();
    for (let i = 0; i < 400 && third === ''; i++) await sleep(10);
    expect(third).toBe('c');
  });

  describe('UDP', () => {
    /** A target that answers "UPSTREAM_PORT_OF_THE_RELAY:payload", so each flow shows its socket. */
    async function udpTarget(): Promise<number> {
      const s = createSocket('udp6');
      closers.push(() => s.close());
      s.on('message', (m, rinfo) => s.send(m.length > 100 ? m : Buffer.from(`${rinfo.port}:${m.toString()}`), rinfo.port, rinfo.address));
      return new Promise((res) => s.bind(0, '::1', () => res(s.address().port)));
    }
    async function client(): Promise<{ s: UdpSocket; ask: (port: number, m: string | Buffer) => Promise<Buffer> }> {
      const s = createSocket('udp6');
      closers.push(() => s.close());
      await new Promise<void>((res) => s.bind(0, '::1', () => res()));
      const ask = (port: number, m: string | Buffer) =>
        new Promise<Buffer>((res, rej) => {
          const t = setTimeout(() => rej(new Error(`no answer to ${String(m).slice(0, 20)}`)), 5000);
          s.once('message', (d, rinfo) => {
            clearTimeout(t);
            // the answer comes from the port the client asked, not from the relay's upstream socket
            expect(rinfo.port).toBe(port);
            res(d);
          });
          s.send(m, port, '::1');
        });
      return { s, ask };
    }
    const flowOf = (b: Buffer) => b.toString().split(':')[0];

    it('one flow per client address, answered from the relayed port; a 60000-byte datagram whole', async () => {
      const target = await udpTarget();
      const relay = await startRelay([`udp:0:${target}`]);
      const port = relay.ports[0]!;
      const x = await client();
      const y = await client();
      const x1 = await x.ask(port, 'one');
      const x2 = await x.ask(port, 'two');
      const y1 = await y.ask(port, 'three');
      expect(x1.toString()).toMatch(/^\d+:one$/);
      expect(flowOf(x2)).toBe(flowOf(x1));
      expect(flowOf(y1)).not.toBe(flowOf(x1));
      const big = randomBytes(60000);
      expect(sha(await x.ask(port, big))).toBe(sha(big));
    });

    it('a flow idle for its time is closed (the next datagram makes a new one); a full table gives the quietest flow\'s place to a new client', async () => {
      const target = await udpTarget();
      const relay = await startRelay(['--idle-ms', '300', '--flows', '2', `udp:0:${target}`]);
      const port = relay.ports[0]!;
      const x = await client();
      const first = flowOf(await x.ask(port, 'a'));
      await sleep(700);
      const again = flowOf(await x.ask(port, 'b'));
      expect(again).not.toBe(first);

      const y = await client();
      const z = await client();
      const yFlow = flowOf(await y.ask(port, 'y'));
      expect(flowOf(await x.ask(port, 'x'))).toBe(again); // x is the most recent now; y the quietest
      await z.ask(port, 'z'); // a third client: y's flow goes
      expect(flowOf(await x.ask(port, 'x'))).toBe(again);
      expect(flowOf(await y.ask(port, 'y'))).not.toBe(yFlow);
    });
  });

  it('drain (SIGUSR1, a reload moved the ports): new clients are refused, the open connection goes on, then the relay ends by itself', async () => {
    const target = await listenTcp((s) => s.on('data', (d: Buffer) => s.write(d)).on('end', () => s.end()));
    const relay = await startRelay([`tcp:0:${target}`]);
    const port = relay.ports[0]!;
    const c = await dial(port);
    const echo = (text: string) => new Promise<string>((res) => { c.once('data', (d: Buffer) => res(d.toString())); c.write(text); });
    expect(await echo('before')).toBe('before');
    relay.child.kill('SIGUSR1');
    let refused = '';
    for (let i = 0; i < 400 && refused === ''; i++) {
      refused = await dial(port).then((s) => { s.destroy(); return ''; }, (e: NodeJS.ErrnoException) => e.code ?? 'error');
      if (refused === '') await sleep(10);
    }
    expect(refused).toBe('ECONNREFUSED');
    expect(await echo('after')).toBe('after');
    c.end();
    expect(await relay.exit).toBe(0);
  });

  it('SO_REUSEPORT: a second relay binds the same port beside the first and serves alone once the first is gone; a port held without it is one error line', async () => {
    const target = await listenTcp((s) => s.end('hi\n'));
    const first = await startRelay([`tcp:0:${target}`]);
    const port = first.ports[0]!;
    const second = await startRelay([`tcp:${port}:${target}`]);
    expect(second.ports).toEqual([port]);
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(1);
    for (let i = 0; i < 10; i++) expect(String(await readAll(await dial(port)))).toBe('hi\n');

    const held = createServer();
    closers.push(() => held.close());
    const heldPort = await new Promise<number>((res) => held.listen(0, '::1', () => res((held.address() as { port: number }).port)));
    const third = await startRelay([`tcp:0:${target}`, `udp:0:${target}`, `tcp:${heldPort}:${target}`]);
    expect(await third.exit).toBe(125);
    expect(third.output()).toBe(`error relay [::1]:${heldPort}/tcp: bind: Address already in use\n`);
  });

  it('a second relay on the port takes every new client from the moment it listens (the first one accepts nothing more, so its drain has nothing queued to reset)', async () => {
    const a = await listenTcp((s) => s.end('a\n'));
    const b = await listenTcp((s) => s.end('b\n'));
    const first = await startRelay([`tcp:0:${a}`]);
    const port = first.ports[0]!;
    // what a client gets, its connection then closed both ways (a relay drains once none is open)
    const answer = async () => {
      const s = await dial(port);
      const got = await Promise.race([readAll(s).then(String), sleep(2000).then(() => 'no answer')]);
      s.destroy();
      return got;
    };
    expect(await answer()).toBe('a\n');
    // The first relay stopped: a client the kernel queued on its socket would wait unanswered (and
    // be reset when the socket closes); by hash, about half of them would be.
    first.child.kill('SIGSTOP');
    const second = await startRelay([`tcp:${port}:${b}`]);
    expect(second.ports).toEqual([port]);
    const answers = await Promise.all(Array.from({ length: 24 }, answer));
    expect(answers).toEqual(Array.from({ length: 24 }, () => 'b\n'));
    first.child.kill('SIGCONT');
    first.child.kill('SIGUSR1');
    expect(await first.exit).toBe(0);
    expect(first.output()).toBe(`listening ${port}\n`);
    // alone again: its index is out of the program's range, and the kernel's hash picks it
    for (let i = 0; i < 5; i++) expect(await answer()).toBe('b\n');
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(1);
  });
});
