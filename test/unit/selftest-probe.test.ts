import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * vessel-probe (native/probe), the program `vessel selftest` runs in each case's container and on
 * the host, built here with the build's warnings and AddressSanitizer/UBSan and run step by step
 * against this Linux kernel (the cases run it in containers: test/integration/linux-contract,
 * selftest). The model FreeBSD answers the same steps (test/helpers/freebsd-probe.ts): each step's
 * report line here is the form that model writes. A missing compiler fails the test.
 */
const repo = join(__dirname, '..', '..');
const out = mkdtempSync(join(tmpdir(), 'vessel-probe-'));
chmodSync(out, 0o755);
afterAll(() => rmSync(out, { recursive: true, force: true }));
const bin = join(out, 'vessel-probe');
const sources = readdirSync(join(repo, 'native', 'probe')).filter((f) => f.endsWith('.c')).map((f) => join(repo, 'native', 'probe', f));
execFileSync('cc', ['-std=c11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', '-Wno-format-truncation', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-o', bin, ...sources], { stdio: 'pipe' });

const ENV = { ASAN_OPTIONS: 'detect_leaks=0', PATH: '/usr/bin:/bin', A: 'one' };

function probe(args: string[], env: Record<string, string> = ENV) {
  const r = spawnSync(bin, args, { encoding: 'utf8', env, cwd: out });
  return { code: r.status, signal: r.signal, lines: r.stdout.split('\n').filter(Boolean), stderr: r.stderr };
}

function start(args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): ChildProcess & { lines: () => string[] } {
  const child = spawn(bin, args, { env: ENV, cwd: out, stdio: [stdin, 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  return Object.assign(child, { lines: () => text.split('\n').filter(Boolean) });
}

async function until(fn: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (fn()) return;
    await sleep(10);
  }
  throw new Error(`${what}: not within 5 s`);
}

const ended = (c: ChildProcess) => new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => c.once('exit', (code, signal) => res({ code, signal })));

describe('vessel-probe under ASan/UBSan', () => {
  it('exit N, raise SIG: the exit code and the signal come back as they are', () => {
    expect(probe(['exit', '7'])).toMatchObject({ code: 7, lines: [] });
    expect(probe(['raise', 'TERM'])).toMatchObject({ code: null, signal: 'SIGTERM' });
  });

  it('identity: ids, groups, directory, hostname, and exactly the environment, in order', () => {
    const r = probe(['identity']);
    expect(r.code).toBe(0);
    expect(r.lines.slice(0, 4)).toEqual([`uid ${process.getuid!()}`, `gid ${process.getgid!()}`, expect.stringMatching(/^groups \d+(,\d+)*$/), `cwd ${out}`]);
    expect(r.lines[4]).toMatch(/^hostname \S+$/);
    expect(r.lines.slice(5)).toEqual(['env ASAN_OPTIONS=detect_leaks=0', 'env PATH=/usr/bin:/bin', 'env A=one']);
  });

  it('read and write: the content, or the errno by name; steps run in order', () => {
    mkdirSync(join(out, 'd'), { recursive: true });
    const f = join(out, 'd', 'f');
    const r = probe(['write', f, 'two\nlines', '--', 'read', f, '--', 'read', join(out, 'nope'), '--', 'write', join(out, 'nope', 'x'), 'y']);
    expect(r.lines).toEqual([`write ${f} ok`, `read ${f} two\\nlines`, `read ${join(out, 'nope')} error ENOENT`, `write ${join(out, 'nope', 'x')} error ENOENT`]);
    expect(readFileSync(f, 'utf8')).toBe('two\nlines');
  });

  it('fork, alloc, pidfile, signal0, addrs', () => {
    const pidfile = join(out, 'pid');
    const r = probe(['fork', '3', '--', 'alloc', '2', '--', 'pidfile', pidfile, '--', 'signal0', '1', '--', 'signal0', '2147483647', '--', 'addrs']);
    expect(r.code).toBe(0);
    const pid = readFileSync(pidfile, 'utf8').trim();
    expect(r.lines.slice(0, 7)).toEqual(['fork 3 of 3', 'allocating 2 MiB', 'alloc 2 MiB', `pidfile ${pidfile} ${pid}`, 'signal0 1 ok', 'signal0 2147483647 error ESRCH', 'addr lo 127.0.0.1/8']);
  });

  it('catch: the signal is caught, reported, and the given code is the exit', async () => {
    const c = start(['catch', 'HUP', '3']);
    await until(() => c.lines().includes('catching HUP'), 'catching');
    c.kill('SIGHUP');
    expect(await ended(c)).toEqual({ code: 3, signal: null });
    expect(c.lines()).toEqual(['catching HUP', 'caught HUP']);
  });

  it('ignore: the signal changes nothing; SIGKILL ends it', async () => {
    const c = start(['ignore', 'TERM']);
    await until(() => c.lines().includes('ignoring TERM'), 'ignoring');
    c.kill('SIGTERM');
    await sleep(100);
    expect(c.exitCode).toBe(null);
    c.kill('SIGKILL');
    expect(await ended(c)).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('orphan: the child says "orphaned" once its parent is gone, and "released" at SIGUSR2', async () => {
    const c = start(['orphan', '--', 'exit', '7']);
    expect((await ended(c)).code).toBe(7);
    const child = Number(/^forked (\d+)$/.exec(c.lines()[0] ?? '')?.[1]);
    await until(() => c.lines().includes('orphaned'), 'orphaned');
    process.kill(child, 'SIGUSR2');
    await until(() => c.lines().includes('released'), 'released');
    expect(c.lines()).toEqual([`forked ${child}`, 'orphaned', 'released']);
  });

  it('listen, connect, serve: one line each way, the peer and the server\'s hostname reported', async () => {
    const report = join(out, 'listen.txt');
    const l = start(['-o', report, 'listen', '127.0.0.1', '0']);
    await until(() => existsSync(report) && readFileSync(report, 'utf8').startsWith('listening '), 'listening');
    const port = readFileSync(report, 'utf8').split('\n')[0]!.split(' ')[1]!;
    const host = probe(['identity']).lines.find((x) => x.startsWith('hostname '))!.slice(9);
    expect(probe(['connect', '127.0.0.1', port]).lines).toEqual([`connect 127.0.0.1 ${port} ok hello from the host`]);
    expect(await ended(l)).toEqual({ code: 0, signal: null });
    expect(readFileSync(report, 'utf8')).toBe(`listening ${port}\naccepted 127.0.0.1 hello from ${host}\n`);

    const s = start(['serve', '0']);
    await until(() => s.lines().some((x) => x.startsWith('serving ')), 'serving');
    const sport = s.lines()[0]!.split(' ')[1]!;
    expect(probe(['connect', '127.0.0.1', sport]).lines).toEqual([`connect 127.0.0.1 ${sport} ok selftest ${host} hello from ${host}`]);
    s.kill('SIGTERM');
    await ended(s);
    expect(probe(['connect', '127.0.0.1', sport]).lines).toEqual([`connect 127.0.0.1 ${sport} error ECONNREFUSED`]);
  });

  it('listen gives up when the pipe on its stdin loses its writer (a SIGKILLed selftest leaves no listener)', async () => {
    const l = start(['listen', '127.0.0.1', '0'], 'pipe');
    await until(() => l.lines().some((x) => x.startsWith('listening ')), 'listening');
    l.stdin!.end();
    expect(await ended(l)).toEqual({ code: 1, signal: null });
    expect(l.lines()[1]).toBe('listen ended: the caller is gone');
  });

  it('a step it does not know, or wrong arguments: exit 125 with one line naming the step', () => {
    expect(probe(['nonsense'])).toMatchObject({ code: 125, stderr: expect.stringMatching(/^vessel-probe: step nonsense: unknown, or wrong arguments\n/) });
    expect(probe(['exit', 'x'])).toMatchObject({ code: 125, stderr: expect.stringMatching(/^vessel-probe: step exit: unknown/) });
    expect(probe(['exit', '0', '--'])).toMatchObject({ code: 0 });
    expect(probe([])).toMatchObject({ code: 125, stderr: expect.stringMatching(/^vessel-probe: no step/) });
  });

  it('the build installs it statically linked, so it runs in any image', () => {
    const built = join(repo, 'build', 'probe', 'vessel-probe');
    expect(execFileSync('file', ['-L', built], { encoding: 'utf8' })).toMatch(/statically linked/);
  });
});
