import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, leftovers, pidAlive, rootWithBusybox, until, vessel, containerState, type TestRoot } from '../helpers/vessel.js';

/**
 * The native monitor itself (native/common, native/linux):
 * - the real containers of the run tests, with the monitor built under AddressSanitizer/UBSan;
 * - as an Emperor vassal facing a service that misbehaves (garbage, silence, absence) and an
 *   Emperor socket it must answer (spawned, heartbeat, reload, stop), with a stand-in service.
 */
let t: TestRoot;
const asanDir = mkdtempSync(join(tmpdir(), 'vessel-asan-'));
const ASAN = 'detect_leaks=0:abort_on_error=0:exitcode=99:log_path=' + join(asanDir, 'asan');

beforeAll(async () => {
  t = await rootWithBusybox('monitor');
  const sources = ['common', 'linux'].flatMap((d) => {
    const dir = join(REPO, 'native', d);
    return execFileSync('sh', ['-c', `ls ${dir}/*.c`], { encoding: 'utf8' }).trim().split('\n');
  });
  execFileSync('cc', ['-std=c11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', '-Wno-format-truncation', '-g', '-O1',
    '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer', '-o', join(asanDir, 'vessel-init'), ...sources], { stdio: 'pipe' });
}, 180_000);

afterAll(async () => {
  await vessel(t, ['gc']);
  expect(leftovers(t)).toEqual([]);
  t.dispose();
  rmSync(asanDir, { recursive: true, force: true });
});

const asanEnv = () => ({ VESSEL_LIBEXEC: asanDir, ASAN_OPTIONS: ASAN, UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1:exitcode=98:log_path=' + join(asanDir, 'ubsan') });
const sanitizerReports = (): string[] =>
  execFileSync('sh', ['-c', `cat ${asanDir}/asan.* ${asanDir}/ubsan.* 2>/dev/null || true`], { encoding: 'utf8' }).split('\n').filter((l) => /ERROR|runtime error/.test(l));

describe('the monitor built with AddressSanitizer and UBSan runs real containers', () => {
  it('foreground: exit codes, not found, OOM, a terminal-less pipe, volumes', async () => {
    const env = asanEnv();
    expect((await vessel(t, ['run', '--rm', 'busybox', 'sh', '-c', 'echo hi; exit 3'], { env })).code).toBe(3);
    const nf = await vessel(t, ['run', '--rm', 'busybox', 'no-such-command'], { env });
    expect(nf.code).toBe(127);
    expect(nf.stderr).toMatch(/no-such-command: no such file or directory in the container/);
    expect((await vessel(t, ['run', '--rm', '--memory', '16M', 'busybox', 'sh', '-c', 'a=x; while :; do a="$a$a"; done'], { env })).code).toBe(137);
    const net = await vessel(t, ['run', '--rm', '--network', 'asannet', 'busybox', 'sh', '-c', 'ip -o addr show eth0 | grep -c inet'], { env });
    expect(net.code).toBe(0);
    expect(Number(net.stdout.trim())).toBeGreaterThanOrEqual(1);
    await vessel(t, ['network', 'rm', 'asannet']);
    expect(sanitizerReports()).toEqual([]);
  });

  it('detached: a restart after a crash, exec, stop; health checks run inside and go healthy', async () => {
    const env = asanEnv();
    expect((await vessel(t, ['run', '-d', '--name', 'asan-d', '--restart', 'always', '--health-cmd', 'test -e /proc/1', '--health-interval', '200ms', 'busybox', 'sleep', '300'], { env })).code).toBe(0);
    const first = await until(() => containerState(t, 'asan-d')?.pid as number | undefined, 10_000, 'first run');
    await until(() => (containerState(t, 'asan-d')?.health as { status?: string } | undefined)?.status === 'healthy', 10_000, 'healthy');
    const sleepPid = Number(readFileSync(`/proc/${first}/task/${first}/children`, 'utf8').trim().split(' ')[0]);
    process.kill(sleepPid, 'SIGKILL');
    await until(() => {
      const s = containerState(t, 'asan-d') as { pid?: number; restarts?: number; status?: string } | undefined;
      return s?.status === 'running' && s.pid !== first && (s.restarts ?? 0) >= 1;
    }, 15_000, 'restart');
    const ex = await vessel(t, ['exec', 'asan-d', 'sh', '-c', 'echo inside; exit 5'], { env });
    expect(ex.code).toBe(5);
    expect(ex.stdout).toBe('inside\n');
    expect((await vessel(t, ['stop', '-t', '2', 'asan-d'], { env })).code).toBe(0);
    expect(containerState(t, 'asan-d')?.status).toBe('exited');
    expect((await vessel(t, ['rm', 'asan-d'])).code).toBe(0);
    expect(sanitizerReports()).toEqual([]);
  });
});

/** A stand-in for vessel up's service: answers each request with what ANSWER returns (undefined: silence). */
function fakeService(answer: (line: string) => string | undefined): Promise<{ path: string; lines: string[]; server: Server }> {
  const path = join(t.root, 'run', `fake-${Math.random().toString(16).slice(2, 8)}.sock`);
  mkdirSync(join(t.root, 'run'), { recursive: true });
  const lines: string[] = [];
  const server = createServer((c: Socket) => {
    let buf = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        const a = answer(line);
        if (a !== undefined) c.write(a + '\n');
      }
    });
    c.on('error', () => undefined);
  });
  return new Promise((res) => server.listen(path, () => res({ path, lines, server })));
}

/** `vessel-init vassal` as the Emperor runs it: fd 3 is one end of a socketpair (the Emperor's). */
/** The monitor's log lines (JSON, pino's shape) of one level and up, as their messages. */
function messages(stderr: string, minLevel = 50): string[] {
  return stderr.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= minLevel).map((l) => l.msg);
}

function vassal(service: string, extraEnv: Record<string, string> = {}): { child: ChildProcess; emperor: Socket; bytes: number[]; stderr: () => string; exited: Promise<number | null> } {
  const dir = join(t.root, 'emperor.d');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'fake.vessel'), '[container]\nimage = busybox\n');
  const child = spawn(join(REPO, 'build', 'vessel-init'), ['vassal', '--config', 'fake.vessel'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', UWSGI_EMPEROR_FD: '3', VESSEL_SERVICE: service, VESSEL_HEARTBEAT: '1', ...extraEnv },
  });
  const emperor = child.stdio[3] as Socket;
  const bytes: number[] = [];
  emperor.on('data', (b: Buffer) => bytes.push(...b));
  emperor.on('error', () => undefined);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  return { child, emperor, bytes, stderr: () => err, exited };
}

describe('the monitor as an Emperor vassal, against a service that misbehaves', () => {
  it('vessel up not running: one line, exit 1 (uWSGI respawns, throttled; never 26)', async () => {
    const v = vassal(join(t.root, 'run', 'nobody.sock'));
    expect(await v.exited).toBe(1);
    expect(messages(v.stderr())).toEqual([expect.stringMatching(/^vessel up is not running \(no service at .*nobody\.sock\)$/)]);
  });

  it('a service that answers garbage: one error line, the container is not started, exit 1', async () => {
    const svc = await fakeService((l) => (l.startsWith('hello') ? 'ok' : 'plan-ish nonsense'));
    const v = vassal(svc.path);
    expect(await v.exited).toBe(1);
    expect(messages(v.stderr())).toEqual(['vessel up answered "prepare" with something this monitor does not understand: "plan-ish"']);
    expect(svc.lines).toEqual([expect.stringMatching(/^hello 1 vassal \d+ .*\/fake\.vessel$/), 'prepare']);
    svc.server.close();
  });

  it('a service that never answers: given up at the deadline, one error line, exit 1', async () => {
    const svc = await fakeService((l) => (l.startsWith('hello') ? 'ok' : undefined));
    const v = vassal(svc.path, { VESSEL_SERVICE_TIMEOUT_MS: '500' });
    expect(await v.exited).toBe(1);
    expect(messages(v.stderr())).toEqual(['vessel up did not answer "prepare" in time']);
    svc.server.close();
  });

  it('a rejected spec: spawned and heartbeats; reload asks the service; stop byte → bye, exit 0', async () => {
    const svc = await fakeService((l) => (l.startsWith('hello') ? 'ok' : l === 'prepare' ? 'idle spec rejected: no image' : l === 'reload' ? 'unchanged' : 'ok'));
    const v = vassal(svc.path);
    await until(() => v.bytes.includes(1) && v.bytes.includes(26), 5000, 'spawned and a heartbeat');
    v.emperor.write(Buffer.from([1]));
    await until(() => svc.lines.includes('reload') && v.bytes.filter((b) => b === 1).length >= 2, 5000, 'spawned again after the reload');
    await until(() => v.bytes.filter((b) => b === 26).length >= 2, 5000, 'heartbeats go on');
    v.emperor.write(Buffer.from([2]));
    expect(await v.exited).toBe(0);
    expect(svc.lines.at(-1)).toBe('bye');
    svc.server.close();
  });

  it('the Emperor gone (EOF on its socket) stops the vassal: exit 0', async () => {
    const svc = await fakeService((l) => (l.startsWith('hello') ? 'ok' : l === 'prepare' ? 'idle x' : 'ok'));
    const v = vassal(svc.path);
    await until(() => v.bytes.includes(1), 5000, 'spawned');
    v.emperor.destroy();
    expect(await v.exited).toBe(0);
    expect(pidAlive(v.child.pid!)).toBe(false);
    svc.server.close();
    expect(existsSync(join(t.root, 'containers', 'fake'))).toBe(false);
  });
});
