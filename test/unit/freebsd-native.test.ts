import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { encodePlan, type PlanRecord } from '../../src/runtime/plan-records.js';
import { outputRecords } from '../../src/runtime/monitor-spawn.js';
import { parseMonitorStatus, type MonitorStatus } from '../../src/runtime/monitor-status.js';
import { freebsdMonitorRecords } from '../../src/runtime/freebsd/monitor-plan.js';
import { supervisionRecords, type MonitorMode } from '../../src/supervise/plan.js';
import { resolveHealth } from '../../src/supervise/health.js';
import { defaultSpec, type ContainerSpec } from '../../src/spec/index.js';
import type { ContainerConfig } from '../../src/runtime/types.js';
import { expectGolden, freebsdConfig } from '../helpers/freebsd.js';

/**
 * The FreeBSD half of vessel-init (native/common + native/freebsd), compiled with the Linux C
 * compiler against test/fixtures/freebsd/native-stub — a test double of the FreeBSD kernel calls it
 * makes, built on Linux primitives (pdfork: a pidfd; procctl's reaper: the child subreaper and
 * /proc; kqueue: epoll; cap_enter: a seccomp filter that refuses what capability mode refuses;
 * jail_get/jail_attach: one jail "web", attaching changes nothing) — with -std=c11 -Wall -Wextra
 * -Werror -pedantic and ASan/UBSan. Every plan is rendered by vessel's own TypeScript
 * (supervise/plan.ts + runtime/freebsd/monitor-plan.ts), so the monitor's whole logic runs here
 * for real: start in the jail, watch, reap, stop, restart, health checks, a new plan under the
 * Emperor, and the starter handing process descriptors over to a monitor in capability mode.
 * Root is needed (setuid, setgroups). A missing compiler fails the test.
 */
const repo = join(new URL(import.meta.url).pathname, '..', '..', '..');
const stub = join(repo, 'test', 'fixtures', 'freebsd', 'native-stub');
const out = mkdtempSync(join(tmpdir(), 'vessel-freebsd-native-'));
chmodSync(out, 0o755);
afterAll(() => rmSync(out, { recursive: true, force: true }));

const cFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.c')).map((f) => join(dir, f));
const FLAGS = ['-std=c11', '-Wall', '-Wextra', '-Werror', '-pedantic', '-Wno-format-truncation', '-D_GNU_SOURCE', '-fsanitize=address,undefined', '-fno-sanitize-recover=all'];
const bin = join(out, 'vessel-init');
execFileSync('cc', [...FLAGS, '-DVESSEL_FREEBSD_STUB', '-I', stub, '-o', bin, ...cFiles(join(repo, 'native', 'common')), ...cFiles(join(repo, 'native', 'freebsd')), ...cFiles(stub)], { stdio: 'pipe' });

const ENV = { ASAN_OPTIONS: 'detect_leaks=0', PATH: '/usr/bin:/bin', VESSEL_LOG_LEVEL: 'warn' };

function runJailExec(args: string[]) {
  const r = spawnSync(bin, ['jail-exec', ...args], { encoding: 'utf8', env: { HELPER_OWN: 'must-not-leak', ...ENV } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('vessel-init jail-exec (native/freebsd): `vessel exec` on FreeBSD', () => {
  it('runs the command with exactly the -e environment, numeric ids and the working directory', () => {
    // The directory is entered as the container's user (after setuid(2)), so it must be open to it.
    const dir = mkdtempSync(join(out, 'wd-'));
    chmodSync(dir, 0o755);
    const r = runJailExec(['-j', 'web', '-d', dir, '-u', '65534', '-g', '65534', '-G', '65534,100',
      '-e', 'A=1', '-e', 'PATH=/usr/bin:/bin', '--', 'sh', '-c', 'echo "$(pwd) $(id -u) $(id -g) $(id -G)"; env -0 | tr "\\0" "\\n" | grep -v "^PWD=" | sort']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${dir} 65534 65534 65534 100\nA=1\nPATH=/usr/bin:/bin\n`);
  });

  it('a numeric jid is attached directly; an unknown jail is exit 125 naming it', () => {
    expect(runJailExec(['-j', '7', '-d', '/', '-u', '0', '-g', '0', '-e', 'PATH=/bin:/usr/bin', '--', 'true']).code).toBe(0);
    const r = runJailExec(['-j', 'db', '-d', '/', '-u', '0', '-g', '0', '--', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^vessel-init jail-exec: jail_get\(2\): cannot find jail db: /);
  });

  it('the PATH searched is the container\'s: none given is 127, not /usr/bin:/bin (finding 19)', () => {
    const r = runJailExec(['-j', 'web', '-d', '/', '-u', '0', '-g', '0', '--', 'true']);
    expect(r.code).toBe(127);
    expect(r.stderr).toBe('vessel-init jail-exec: no PATH in the container\'s environment to find true\n');
    expect(runJailExec(['-j', 'web', '-d', '/', '-u', '0', '-g', '0', '-e', 'PATH=/nonexistent', '--', 'true']).code).toBe(127);
    expect(runJailExec(['-j', 'web', '-d', '/nonexistent', '-u', '0', '-g', '0', '--', '/bin/true']).code).toBe(126);
  });

  it('-s sets one sysctl of the jail\'s VNET after attaching, then exits (finding 9)', () => {
    const r = runJailExec(['-j', 'web', '-s', 'net.inet.ip.portrange.reservedhigh=0']);
    expect(r).toEqual({ code: 0, stdout: 'sysctl net.inet.ip.portrange.reservedhigh=0\n', stderr: '' });
    expect(runJailExec(['-j', 'web', '-s', 'net.inet.ip.portrange.reservedhigh=x']).code).toBe(125);
    expect(runJailExec(['-j', 'web', '-s', 'a=1', '--', 'true']).code).toBe(125);
  });

  it('bad arguments are one line and exit 125', () => {
    for (const args of [['-j', 'web', '-d', 'rel', '-u', '0', '-g', '0', '--', 'x'], ['-j', 'web', '-d', '/', '-u', 'www', '-g', '0', '--', 'x'],
      ['-j', 'web', '-d', '/', '-u', '0', '-g', '0', '-G', '1,,2', '--', 'x'], ['-j', 'web', '-d', '/', '-u', '0', '-g', '0', '-e', 'NOEQUALS', '--', 'x'],
      ['-j', 'web', '-d', '/', '-u', '0', '-g', '0', '--']]) {
      const r = runJailExec(args);
      expect(r.code, args.join(' ')).toBe(125);
      expect(r.stderr.split('\n')[0]).toMatch(/^vessel-init jail-exec: /);
    }
  });
});

describe('native/freebsd outside FreeBSD', () => {
  it('without the test double it stops at one clear #error line, not at a missing header', () => {
    const r = spawnSync('cc', ['-std=c11', '-fsyntax-only', join(repo, 'native', 'freebsd', 'run.c')], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/#error "native\/freebsd is the FreeBSD half of vessel-init: build it on FreeBSD/);
  });

  it('native/build.sh builds one vessel-init from native/common and native/freebsd on FreeBSD, with the same warning flags', () => {
    const sh = readFileSync(join(repo, 'native', 'build.sh'), 'utf8');
    expect(sh).toMatch(/^CFLAGS_VESSEL="-std=c11 -O2 -Wall -Wextra -Werror /m);
    expect(sh).toMatch(/^FreeBSD\) os=freebsd; flags= ;;$/m);
    expect(sh).toMatch(/^srcs="\$here\/common\/\*\.c \$here\/\$os\/\*\.c"$/m);
    expect(sh).toMatch(/\$\{CC:-cc\} \$CFLAGS_VESSEL \$flags -o "\$bin.tmp" \$srcs/);
  });
});

// ---------- the monitor ----------

interface Case {
  dir: string;
  plan: string;
  status: string;
  log: string;
  marker: string;
  /** Under the Emperor: vessel up's socket, and the vassal file the Emperor names. */
  sock: string;
  vassal: string;
}

function newCase(): Case {
  const dir = mkdtempSync(join(out, 'c-'));
  chmodSync(dir, 0o755);
  return {
    dir, plan: join(dir, 'plan'), status: join(dir, 'monitor.status'), log: join(dir, 'container.log'), marker: join(dir, 'stop-requested'),
    sock: join(dir, 'vessel.sock'), vassal: join(dir, 'web.vessel'),
  };
}

/**
 * vessel up's service as the monitor sees it (src/service/protocol.ts): ANSWER says what to reply to
 * a request (its verb, its line); undefined is the usual answer — the case's plan to `prepare`,
 * `released` to `exited` and `abandon`, `ok` to the rest. HEARD: every request, numbers as N.
 */
async function fakeService(c: Case, answer: (verb: string, line: string) => string | undefined): Promise<{ heard: string[]; close: () => void }> {
  const heard: string[] = [];
  let conn: Socket | undefined;
  const server: Server = createServer((s) => {
    conn = s;
    s.on('error', () => undefined); // the monitor closes after "bye": a late answer may find it gone
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        heard.push(line.replace(/\d+/g, 'N'));
        const verb = line.split(' ')[0]!;
        const usual = verb === 'prepare' ? `plan ${c.plan}` : verb === 'exited' || verb === 'abandon' ? 'released' : 'ok';
        s.write(`${answer(verb, line) ?? usual}\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(c.sock, resolve));
  writeFileSync(c.vassal, '');
  return { heard, close: () => { conn?.destroy(); server.close(); } };
}

/** `vessel-init vassal --config NAME.vessel` as the Emperor runs it; fd 4 is the Emperor's end of their socket pair (UWSGI_EMPEROR_FD). */
function startVassal(c: Case, env: Record<string, string> = {}): Running & { emperor: NodeJS.WritableStream } {
  const m = startMonitor(['vassal', '--config', c.vassal], { VESSEL_SERVICE: c.sock, UWSGI_EMPEROR_FD: '4', ...env }, ['pipe']);
  return { ...m, emperor: m.child.stdio[4] as NodeJS.WritableStream };
}

interface PlanInput {
  mode?: MonitorMode;
  spec?: Partial<ContainerSpec>;
  cfg?: Partial<ContainerConfig>;
  user?: { uid: number; gid: number; groups: number[] };
  releaseArgv?: string[];
  service?: string;
  /** Where it is written (default: the case's plan); a reload's next run's is plan.next beside it. */
  path?: string;
}

/** The plan exactly as a start writes it: supervise/plan.ts, the output, runtime/freebsd/monitor-plan.ts. */
function writePlan(c: Case, p: PlanInput): void {
  const spec: ContainerSpec = { ...defaultSpec('web', 'freebsd:latest', 'flags'), ...p.spec };
  const cfg = freebsdConfig(out, { name: spec.name, dir: c.dir, env: ['PATH=/usr/bin:/bin'], output: { kind: 'file', path: c.log }, ...p.cfg });
  const health = resolveHealth(spec, {});
  if (health) cfg.health = health;
  const records: PlanRecord[] = [
    ...supervisionRecords(spec, cfg, {
      mode: p.mode ?? 'foreground',
      statusPath: c.status,
      stopMarker: c.marker,
      ...(p.releaseArgv ? { releaseArgv: p.releaseArgv } : {}),
      ...(p.service ? { service: p.service } : {}),
    }),
    ...outputRecords(cfg),
    ...freebsdMonitorRecords(cfg, p.user ?? { uid: 0, gid: 0, groups: [0] }),
  ];
  writeFileSync(p.path ?? c.plan, encodePlan(records), { mode: 0o600 });
}

interface Running {
  child: ChildProcess;
  report: Promise<string>;
  exited: Promise<number | null>;
  stderr: () => string;
}

function startMonitor(args: string[], env: Record<string, string> = {}, extraStdio: Array<'pipe'> = []): Running {
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', ...extraStdio], env: { ...ENV, ...env } });
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => { err += d; });
  const report = new Promise<string>((resolve) => {
    let buf = '';
    const pipe = child.stdio[3] as NodeJS.ReadableStream;
    pipe.setEncoding('utf8');
    pipe.on('data', (d: string) => { buf += d; });
    pipe.on('end', () => resolve(buf));
    pipe.on('error', () => resolve(buf));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
  return { child, report, exited, stderr: () => err };
}

function status(c: Case): MonitorStatus {
  const st = parseMonitorStatus(readFileSync(c.status, 'utf8'));
  if (!st) throw new Error(`no status record in ${c.status}`);
  return st;
}

/** Waits for a condition the monitor brings about (bounded: a broken monitor fails, never hangs). */
async function until(what: string, done: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  const check = () => { try { return done(); } catch { return false; } };
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return false;
  }
}

function pidsIn(file: string): number[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
}

/** The starter: the monitor's only child. */
function starterOf(monitorPid: number): number {
  const kids = readFileSync(`/proc/${monitorPid}/task/${monitorPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  expect(kids).toHaveLength(1);
  return kids[0]!;
}

const seccompOf = (pid: number) => /Seccomp:\s+(\d)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];

describe('vessel-init monitor on FreeBSD (native/freebsd against the kernel double)', () => {
  it('runs the plan\'s command in the jail with exactly its environment, numeric ids and directory; output to the log; the code recorded', async () => {
    const c = newCase();
    writePlan(c, {
      user: { uid: 65534, gid: 65534, groups: [65534, 100] },
      cfg: { workdir: c.dir, env: ['A=1', 'PATH=/usr/bin:/bin'], argv: ['sh', '-c', 'echo "$(pwd) $(id -u) $(id -g) $(id -G)"; env -0 | tr "\\0" "\\n" | grep -v "^PWD=" | sort; exit 3'] },
    });
    const m = startMonitor(['monitor', c.plan]);
    expect(await m.exited).toBe(3);
    const st = status(c);
    expect(await m.report).toBe(`started web ${st.initPid}\n`);
    expect(st).toMatchObject({ phase: 'exited', code: 3, mainCode: 3, stopped: false, reason: '' });
    // commandEnv adds HOME (the user has no passwd entry here): the environment is exactly the plan's
    expect(readFileSync(c.log, 'utf8')).toBe(`${c.dir} 65534 65534 65534 100\nA=1\nHOME=/\nPATH=/usr/bin:/bin\n`);
    expect(m.stderr()).toBe('');
  });

  it('wait=all (jail semantics): the run lasts until the last process of the command\'s tree is gone — orphans come back to the starter, the reaper', async () => {
    const c = newCase();
    const late = join(c.dir, 'late');
    writePlan(c, { cfg: { argv: ['sh', '-c', `(sleep 0.4; echo late > ${late}) & exit 0`] } });
    const m = startMonitor(['monitor', c.plan]);
    expect(await m.exited).toBe(0);
    // the orphaned subshell finished before the monitor called the run over
    expect(readFileSync(late, 'utf8')).toBe('late\n');
    expect(status(c)).toMatchObject({ phase: 'exited', code: 0 });
  });

  it('wait=main: the command\'s end is the run\'s, and what it left is killed (PROC_REAP_KILL of its subtree)', async () => {
    const c = newCase();
    const pids = join(c.dir, 'pids');
    writePlan(c, { cfg: { wait: 'main', argv: ['sh', '-c', `sleep 60 & echo $! > ${pids}; exit 4`] } });
    const m = startMonitor(['monitor', c.plan]);
    expect(await m.exited).toBe(4);
    const [left] = pidsIn(pids);
    expect(left).toBeGreaterThan(0);
    await until('the command\'s leftover to be killed', () => !alive(left!));
    expect(status(c)).toMatchObject({ phase: 'exited', code: 4, mainCode: 4 });
  });

  it('a detached run is restarted by its policy in the same jail (on-failure:2, docker\'s back-off), then released by the starter from capability mode', async () => {
    const c = newCase();
    const released = join(c.dir, 'released');
    writePlan(c, {
      mode: 'detached',
      spec: { restart: { mode: 'on-failure', maxRetries: 2 } },
      cfg: { argv: ['sh', '-c', 'echo run; exit 1'] },
      releaseArgv: ['/bin/sh', '-c', `echo released > ${released}`],
    });
    const m = startMonitor(['monitor', c.plan]);
    expect(await m.exited).toBe(0);
    expect(readFileSync(c.log, 'utf8')).toBe('run\nrun\nrun\n');
    // the status record was rewritten through its directory descriptor at every run (openat/renameat)
    expect(status(c)).toMatchObject({ phase: 'exited', code: 1, restarts: 2, failures: 3 });
    // execve(2) is refused in capability mode: the starter launched the release command. Its
    // shell makes the file before it writes the line (seen once in CI: read empty), so the
    // wait is for the line.
    await until('the release command', () => existsSync(released) && readFileSync(released, 'utf8') !== '');
    expect(readFileSync(released, 'utf8')).toBe('released\n');
  });

  it('is in capability mode with every descriptor limited (golden), the starter outside it', async () => {
    const c = newCase();
    const rights = join(c.dir, 'rights');
    writePlan(c, { cfg: { argv: ['sleep', '60'] } });
    const m = startMonitor(['monitor', c.plan], { VESSEL_STUB_CAPSICUM_LOG: rights });
    await until('the command to start', () => existsSync(c.status) && status(c).phase === 'running');
    const pid = m.child.pid!;
    // the double's capability mode is a seccomp filter: on for the monitor, off for its starter
    expect(seccompOf(pid)).toBe('2');
    expect(seccompOf(starterOf(pid))).toBe('0');
    // what each limited descriptor is (fd 3, the first report, is closed once it was written)
    const what = (fd: string): string => {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return 'closed since';
      }
      return target.split(c.dir).join('<container dir>').replace(/^(socket|pipe):\[\d+\]$/, '$1').replace('anon_inode:[eventpoll]', 'kqueue (epoll in the double)');
    };
    const table = readFileSync(rights, 'utf8').split('\n').filter(Boolean).map((l) => {
      const [fd, ...caps] = l.split(' ');
      return `${fd}\t${what(fd!)}\t${caps.join(' ')}`;
    });
    writeFileSync(c.marker, '5\n');
    m.child.kill('SIGTERM');
    expect(await m.exited).toBe(143);
    expectGolden('monitor-capsicum', 'rights.txt', table.join('\n') + '\n');
  });

  it('stop: the stop signal to every process of the command\'s tree, SIGKILL after the stop timeout for what ignores it', async () => {
    const c = newCase();
    const pids = join(c.dir, 'pids');
    writePlan(c, { spec: { stopTimeout: 0.3 }, cfg: { argv: ['sh', '-c', `trap '' TERM; sleep 60 & echo $! > ${pids}; sleep 60 & echo $! >> ${pids}; wait`] } });
    const m = startMonitor(['monitor', c.plan]);
    await until('both sleeps', () => pidsIn(pids).length === 2);
    writeFileSync(c.marker, '0.3\n');
    m.child.kill('SIGTERM');
    expect(await m.exited).toBe(137);
    expect(status(c)).toMatchObject({ phase: 'exited', code: 137, stopped: true });
    for (const p of pidsIn(pids)) await until(`pid ${p} to be gone`, () => !alive(p));
  });

  it('health checks run in the jail as the container\'s user; whatever a check leaves behind is killed with it', async () => {
    const c = newCase();
    const checks = join(c.dir, 'checks');
    writePlan(c, {
      spec: { health: { test: { kind: 'exec', argv: ['/bin/sh', '-c', `sleep 60 & echo $! >> ${checks}; id -u`] }, intervalMs: 100, timeoutMs: 5000, retries: 1, onUnhealthy: 'none' } },
      cfg: { argv: ['sleep', '60'] },
    });
    const m = startMonitor(['monitor', c.plan]);
    await until('two checks', () => (status(c).health?.log.length ?? 0) >= 2);
    const st = status(c);
    expect(st.health).toMatchObject({ status: 'healthy', failingStreak: 0 });
    expect(st.health!.log[0]).toMatchObject({ exitCode: 0, output: '0 ' });
    // each check's background sleep went with its check (its own subtree of the reaper)
    for (const p of pidsIn(checks).slice(0, 2)) await until(`check leftover ${p} to be gone`, () => !alive(p));
    // many checks later the command is still the starter's to signal: the stop signal reaches it (143, not 137)
    await until('twenty checks', () => pidsIn(checks).length >= 20);
    writeFileSync(c.marker, '5\n');
    m.child.kill('SIGTERM');
    expect(await m.exited).toBe(143);
  });

  it('a check that hangs is given up at its timeout and counted a failure, and the checks go on (a given-up check\'s exit is not waited for)', async () => {
    const c = newCase();
    writePlan(c, {
      spec: { health: { test: { kind: 'exec', argv: ['/bin/sh', '-c', 'sleep 60'] }, intervalMs: 100, timeoutMs: 200, retries: 2, onUnhealthy: 'none' } },
      cfg: { argv: ['sleep', '60'] },
    });
    const m = startMonitor(['monitor', c.plan]);
    await until('three timed-out checks', () => (status(c).health?.log.length ?? 0) >= 3);
    const st = status(c);
    expect(st.health!.status).toBe('unhealthy');
    expect(st.health!.log[0]).toMatchObject({ exitCode: -1, output: expect.stringMatching(/^Health check exceeded timeout/) });
    writeFileSync(c.marker, '5\n');
    m.child.kill('SIGTERM');
    expect(await m.exited).toBe(143);
  });

  it('a SIGKILLed monitor takes the container with it: its starter sees the end of their socket, kills every process and exits', async () => {
    const c = newCase();
    const pids = join(c.dir, 'pids');
    writePlan(c, { cfg: { argv: ['sh', '-c', `sleep 60 & echo $! > ${pids}; sleep 60`] } });
    const m = startMonitor(['monitor', c.plan]);
    await until('the background sleep', () => pidsIn(pids).length === 1);
    const starter = starterOf(m.child.pid!);
    const command = status(c).initPid;
    m.child.kill('SIGKILL');
    await m.exited;
    for (const p of [starter, command, ...pidsIn(pids)]) await until(`pid ${p} to be gone`, () => !alive(p));
  });

  it('a killed starter: the monitor kills the command and stops, rather than restart into failures', async () => {
    const c = newCase();
    writePlan(c, { mode: 'detached', spec: { restart: { mode: 'always' } }, cfg: { argv: ['sleep', '60'] } });
    const m = startMonitor(['monitor', c.plan]);
    await until('the command to start', () => existsSync(c.status) && status(c).phase === 'running');
    const command = status(c).initPid;
    process.kill(starterOf(m.child.pid!), 'SIGKILL');
    expect(await m.exited).toBe(0);
    expect(status(c)).toMatchObject({ phase: 'exited', code: 137, stopped: true, restarts: 0 });
    await until('the command to be gone', () => !alive(command));
    expect(m.stderr()).toMatch(/the starter \(pid \d+\) is gone/);
  });

  it('not found 127, cannot run 126, no such jail 125: the reason in the status record (and on fd 3 when the jail was never entered)', async () => {
    // As Linux's init, the child says "ready" once in the container: what fails after that (the
    // directory, the exec) is the run's exit; a jail that cannot be entered is a start that failed.
    const cases: Array<{ cfg: Partial<ContainerConfig>; code: number; reason: string; started: boolean }> = [
      { cfg: { argv: ['nosuch'] }, code: 127, reason: 'execve(2) on the container\'s PATH nosuch: No such file or directory', started: true },
      { cfg: { workdir: '/nonexistent', argv: ['true'] }, code: 126, reason: 'chdir(2) /nonexistent: No such file or directory', started: true },
      { cfg: { name: 'db', argv: ['true'] }, code: 125, reason: 'jail_get(2): cannot find jail db: No such file or directory', started: false },
    ];
    for (const x of cases) {
      const c = newCase();
      writePlan(c, { spec: x.cfg.name ? { name: x.cfg.name } : {}, cfg: x.cfg });
      const m = startMonitor(['monitor', c.plan]);
      expect(await m.exited, x.reason).toBe(x.code);
      const st = status(c);
      expect(await m.report).toBe(x.started ? `started ${x.cfg.name ?? 'web'} ${st.initPid}\n` : `error ${x.reason} (exit ${x.code})\n`);
      expect(st).toMatchObject({ phase: 'exited', code: x.code, reason: x.reason });
    }
  });

  it('under the Emperor: a changed spec is a new plan, read by the starter (the monitor in capability mode cannot open it) and run in place', async () => {
    const c = newCase();
    const plan = (word: string) => writePlan(c, { mode: 'emperor', service: c.sock, cfg: { argv: ['sh', '-c', `echo ${word}; exec sleep 60`] } });
    const svc = await fakeService(c, (verb) => {
      if (verb === 'reload') { plan('second'); return 'changed'; }
      return undefined;
    });
    try {
      plan('first');
      const m = startVassal(c);
      await until('the first run', () => existsSync(c.log) && readFileSync(c.log, 'utf8') === 'first\n');
      expect(seccompOf(m.child.pid!)).toBe('2');
      m.emperor.write(Buffer.from([1])); // reload
      await until('the second run', () => readFileSync(c.log, 'utf8') === 'first\nsecond\n');
      m.emperor.write(Buffer.from([0])); // stop: it asks vessel up first (depends_on: dependents go down before it)
      expect(await m.exited).toBe(0);
      // its last line may still be on its way to this process's event loop
      await until('the monitor\'s "bye"', () => svc.heard.includes('bye'));
      expect(svc.heard, m.stderr()).toEqual([`hello N vassal N ${c.vassal.replace(/\d+/g, 'N')}`, 'prepare', 'started N N', 'reload', 'exited N N N', 'prepare', 'started N N', 'stop', 'exited N N N', 'bye']);
    } finally {
      svc.close();
    }
  });

  describe('a zero-downtime reload under the Emperor: the next run in a jail of its own beside the running one', () => {
    /** The running container (jail web) and a changed spec whose next run is RUN (jail web@RUN), health-checked. */
    function surgeCase(next: { argv: string[]; runId?: string; beside?: boolean; health?: string[] }) {
      const c = newCase();
      const nextPlan = join(c.dir, 'plan.next');
      const jails = join(c.dir, 'jails');
      writePlan(c, { mode: 'emperor', service: c.sock, cfg: { argv: ['sh', '-c', 'echo first; exec sleep 60'] } });
      const writeNext = (argv = next.argv, runId = next.runId ?? '0a1b2c3d') => writePlan(c, {
        mode: 'emperor', service: c.sock, path: nextPlan,
        spec: { health: { test: { kind: 'exec', argv: next.health ?? ['/bin/sh', '-c', 'echo ok'] }, intervalMs: 100, timeoutMs: 2000, retries: 1, onUnhealthy: 'none' } },
        cfg: { argv, runId, ...(next.beside === false ? {} : { beside: true as const }) },
      });
      return { c, nextPlan, jails, writeNext };
    }

    /** vessel up answering a reload with "surge" (ON_RELOAD writes the next plan), plan.next to prepare-next, "switched" to switch. */
    const surging = (s: ReturnType<typeof surgeCase>, onReload: () => void = () => s.writeNext()) => fakeService(s.c, (verb) => {
      if (verb === 'reload') { onReload(); return 'surge'; }
      if (verb === 'prepare-next') return `plan ${s.nextPlan}`;
      if (verb === 'switch') return 'switched';
      return undefined;
    });

    /** The vassal's monitor, once its first run runs; that run's command. */
    async function firstRun(s: ReturnType<typeof surgeCase>, env: Record<string, string> = {}) {
      const m = startVassal(s.c, env);
      await until('the first run', () => existsSync(s.c.log) && readFileSync(s.c.log, 'utf8') === 'first\n');
      return { m, first: status(s.c).initPid };
    }

    /** Which jail each attach went into: pid → jid (the double's VESSEL_STUB_JAIL_LOG). */
    const attaches = (file: string) => new Map(existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => { const [jid, pid] = l.split(' ').map(Number); return [pid!, jid!] as const; }) : []);

    it('healthy: started in jail web@RUN from plan.next (read by the starter), checked there, switched; the old run then stopped and the new one is the container', async () => {
      const s = surgeCase({ argv: ['sh', '-c', 'echo second; exec sleep 60'] });
      const svc = await surging(s);
      try {
        const { m, first } = await firstRun(s, { VESSEL_STUB_JAIL_LOG: s.jails });
        m.emperor.write(Buffer.from([1])); // reload → surge
        await until('the reload to be done', () => svc.heard.some((h) => h.startsWith('retired')) && status(s.c).initPid !== first && status(s.c).next === undefined, 20_000);
        const st = status(s.c);
        expect(readFileSync(s.c.log, 'utf8')).toBe('first\nsecond\n');
        // the old command was stopped (after the switch), the new one runs in the next run's jail
        await until('the old command to be gone', () => !alive(first));
        expect(alive(st.initPid)).toBe(true);
        const jid = attaches(s.jails);
        expect(jid.get(first)).toBe(7);
        expect(jid.get(st.initPid)).toBe(8);
        // every other attach is a health check of the next run: in its jail, never in the old one
        const checks = [...jid].filter(([pid]) => pid !== first && pid !== st.initPid);
        expect(checks.length).toBeGreaterThan(0);
        expect(checks.every(([, j]) => j === 8)).toBe(true);
        expect(st.health).toMatchObject({ status: 'healthy' });
        // the monitor stays in capability mode throughout: the starter read plan.next
        expect(seccompOf(m.child.pid!)).toBe('2');
        // checks go on against the new run, now the current one (the starter's promoted plan)
        const before = attaches(s.jails).size;
        await until('more checks of the new run', () => attaches(s.jails).size > before + 2);
        expect([...attaches(s.jails).values()].filter((j) => j === 7)).toEqual([7]);
        m.emperor.write(Buffer.from([0]));
        expect(await m.exited).toBe(0);
        await until('the new command to be gone', () => !alive(st.initPid));
        await until('the monitor\'s "bye"', () => svc.heard.includes('bye'));
        expect(svc.heard.filter((h) => !h.startsWith('health')), m.stderr()).toEqual([
          `hello N vassal N ${s.c.vassal.replace(/\d+/g, 'N')}`, 'prepare', 'started N N', 'reload', 'prepare-next', 'switch N', 'retired N', 'stop', 'exited N N N', 'bye',
        ]);
      } finally {
        svc.close();
      }
    });

    it('rollback: the next run dies before it is healthy — abandoned with the reason, the old run untouched; a later reload\'s next plan is read again and switched to', async () => {
      const s = surgeCase({ argv: ['sh', '-c', 'echo second; exit 3'] });
      let reloads = 0;
      const svc = await surging(s, () => (reloads++ === 0 ? s.writeNext() : s.writeNext(['sh', '-c', 'echo third; exec sleep 60'], '4e5f6a7b')));
      try {
        const { m, first } = await firstRun(s, { VESSEL_STUB_JAIL_LOG: s.jails });
        m.emperor.write(Buffer.from([1]));
        await until('the rollback', () => svc.heard.some((h) => h.startsWith('abandon')), 20_000);
        expect(svc.heard.find((h) => h.startsWith('abandon'))).toBe('abandon N the new container exited N before it was healthy');
        await until('the reload to be over', () => status(s.c).next === undefined);
        expect(alive(first)).toBe(true);
        expect(status(s.c)).toMatchObject({ phase: 'running', initPid: first });
        // its command went into jail web@RUN
        expect([...attaches(s.jails).values()].sort()).toEqual([7, 8]);
        // a second reload: the starter reads plan.next again (a healthy one now, another run) and it switches
        m.emperor.write(Buffer.from([1]));
        await until('the second reload to be done', () => svc.heard.some((h) => h.startsWith('retired')) && status(s.c).next === undefined, 20_000);
        await until('the old command to be gone', () => !alive(first));
        expect(readFileSync(s.c.log, 'utf8')).toBe('first\nsecond\nthird\n');
        expect(status(s.c)).toMatchObject({ phase: 'running', health: { status: 'healthy' } });
        const third = status(s.c).initPid;
        expect(attaches(s.jails).get(third)).toBe(8);
        m.emperor.write(Buffer.from([0]));
        expect(await m.exited).toBe(0);
        await until('the new command to be gone', () => !alive(third));
      } finally {
        svc.close();
      }
    });

    it('never healthy: the next run is stopped in its jail (its stop signal to its subtree) and abandoned; the old run goes on', async () => {
      const s = surgeCase({ argv: ['sh', '-c', 'echo second; sleep 60 & exec sleep 60'], health: ['/bin/sh', '-c', 'exit 1'] });
      const svc = await surging(s);
      try {
        const { m, first } = await firstRun(s, { VESSEL_STUB_JAIL_LOG: s.jails });
        m.emperor.write(Buffer.from([1]));
        await until('the next run', () => (status(s.c).next?.initPid ?? 0) > 0);
        const next = status(s.c).next!.initPid;
        await until('the rollback', () => svc.heard.some((h) => h.startsWith('abandon')), 20_000);
        expect(svc.heard.find((h) => h.startsWith('abandon'))).toBe('abandon N the new container became unhealthy');
        expect(alive(next)).toBe(false);
        expect(alive(first)).toBe(true);
        expect(attaches(s.jails).get(next)).toBe(8);
        m.emperor.write(Buffer.from([0]));
        expect(await m.exited).toBe(0);
      } finally {
        svc.close();
      }
    });

    it('a SIGKILLed monitor mid-reload: its starter kills both runs\' processes (the jails and their objects are left to vessel gc)', async () => {
      const s = surgeCase({ argv: ['sh', '-c', 'exec sleep 60'], health: ['/bin/sh', '-c', 'sleep 60'] });
      const svc = await surging(s, () => s.writeNext(['sh', '-c', `sleep 60 & echo $! > ${join(s.c.dir, 'next-bg')}; exec sleep 60`]));
      try {
        const { m, first } = await firstRun(s);
        m.emperor.write(Buffer.from([1]));
        await until('the next run and its background process', () => (status(s.c).next?.initPid ?? 0) > 0 && pidsIn(join(s.c.dir, 'next-bg')).length === 1);
        const next = status(s.c).next!.initPid;
        const starter = starterOf(m.child.pid!);
        m.child.kill('SIGKILL');
        await m.exited;
        for (const p of [starter, first, next, ...pidsIn(join(s.c.dir, 'next-bg'))]) await until(`pid ${p} to be gone`, () => !alive(p));
      } finally {
        svc.close();
      }
    });

    it('a next plan without a jail of its own (the running one\'s) is refused by the starter: abandoned, the old run goes on', async () => {
      const s = surgeCase({ argv: ['sh', '-c', 'echo second; exec sleep 60'], beside: false });
      const svc = await surging(s);
      try {
        const { m, first } = await firstRun(s);
        m.emperor.write(Buffer.from([1]));
        await until('the rollback', () => svc.heard.some((h) => h.startsWith('abandon')), 20_000);
        expect(svc.heard.find((h) => h.startsWith('abandon'))).toMatch(/^abandon N plan .*plan\.next: the next plan names another container, or not a jail of its own$/);
        expect(readFileSync(s.c.log, 'utf8')).toBe('first\n');
        expect(alive(first)).toBe(true);
        m.emperor.write(Buffer.from([0]));
        expect(await m.exited).toBe(0);
      } finally {
        svc.close();
      }
    });
  });
});

describe('the kernel double itself', () => {
  it('refuses in capability mode what cap_enter(2) takes away (so a passing test means the monitor did without it)', () => {
    mkdirSync(join(out, 'probe'), { recursive: true });
    const src = join(out, 'probe', 'probe.c');
    writeFileSync(src, `#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/capsicum.h>
#include <sys/procctl.h>
#include <sys/jail.h>
int main(void) {
  int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
  if (cap_enter() != 0) return 2;
  int p = procctl(P_PID, 0, PROC_REAP_ACQUIRE, NULL), pe = errno;
  int o = open("/etc/hostname", O_RDONLY), oe = errno;
  int rel = faccessat(dir, ".", F_OK, 0);
  int a = jail_attach(7), ae = errno;
  printf("procctl %d %d open %d %d openat-dir %d jail_attach %d %d\\n", p, pe, o, oe, rel, a, ae);
  return 0;
}
`);
    const probe = join(out, 'probe', 'probe');
    execFileSync('cc', ['-std=c11', '-D_GNU_SOURCE', '-DVESSEL_FREEBSD_STUB', '-I', stub, '-o', probe, src, ...cFiles(stub)], { stdio: 'pipe' });
    expect(spawnSync(probe, { encoding: 'utf8' }).stdout).toBe('procctl -1 1 open -1 1 openat-dir 0 jail_attach -1 1\n');
  });
});
