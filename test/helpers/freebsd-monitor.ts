import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { describePlan, type PlanRecord } from '../../src/runtime/plan-records.js';
import type { SpawnedProcess } from '../../src/util/host.js';
import { FREEBSD_SIGNALS, signalNumber, type ModelProcess, type ModelProcesses } from './freebsd-procs.js';
import { isProbe, runProbe, type ProbeIdentity, type ProbeWorld } from './freebsd-probe.js';

/**
 * The container's monitor (`vessel-init monitor PLAN`) as the model FreeBSD hosts see it from
 * outside: what the FreeBSD driver spawns and what it then reads. The monitor's C itself runs for
 * real in test/unit/freebsd-native.test.ts; here only its contract with TypeScript is modelled:
 *
 *   - it reads the plan the driver wrote (NUL-separated records, native/common/plan.h);
 *   - its command runs in the plan's jail (the model host lists it under `ps -J`): vessel-probe
 *     runs its steps (freebsd-probe.ts) with the plan's ids, directory and environment; any
 *     other command is a stand-in that TERM and KILL end (freebsd-procs.ts);
 *   - it ends when its command has (wait = main: killing the rest of the jail) or when every
 *     process of the jail has (wait = all), with the command's code;
 *   - its first report on fd 3 is "started NAME PID";
 *   - its status record (native/common/status.c) says running, then exited with the code;
 *   - on SIGTERM (`vessel stop`) it sends the plan's stop signal to every process of the jail,
 *     then SIGKILL to what is left.
 *
 * A monitor has a real pid (a `sleep` standing in for it): vessel signals it with process.kill().
 * When it is SIGKILLed (crash(): the waiting CLI died, and the monitor with it), its starter kills
 * the container's processes and nobody writes the status record again.
 */

/** The records of a plan file, as native/common/plan.c reads them (version record dropped). */
export function readPlan(path: string): PlanRecord[] {
  const tokens = readFileSync(path, 'latin1').split('\0').slice(0, -1);
  if (tokens[0] !== 'plan-version') throw new Error(`${path}: not a plan`);
  const arity: Record<string, number> = { restart: 2, backoff: 3, health: 5, 'cgroup-dir': 2, 'cgroup-write': 4, veth: 3, bind: 3, tmpfs: 3 };
  const out: PlanRecord[] = [];
  for (let i = 2; i < tokens.length;) {
    const key = tokens[i]!;
    const n = arity[key] ?? 1;
    out.push(tokens.slice(i, i + 1 + n));
    i += 1 + n;
  }
  return out;
}

const one = (plan: PlanRecord[], key: string): string | undefined => plan.find((r) => r[0] === key)?.[1];

export interface ModelHost {
  procs: Map<string, number[]>;
  /** Called whenever the model's state changed (a waiting monitor may be done). */
  onChange(listener: () => void): void;
  nextPid(): number;
  processes: ModelProcesses;
  world: ProbeWorld;
}

interface Model {
  name: string;
  jail: string;
  command: number;
  runId: string;
  status: string;
  marker: string | undefined;
  waitAll: boolean;
  standIn: ChildProcess;
  crashed: boolean;
  done: boolean;
  started: number;
}

function statusText(m: Model, phase: 'running' | 'exited', code: number, stopped: boolean): string {
  const exited = phase === 'exited' ? Date.now() : 0;
  return [
    'version 1', `runid ${m.runId}`, `monitor ${m.standIn.pid}`, `phase ${phase}`, 'run 0', `init ${m.command}`, 'leaf ',
    `started ${m.started}`, `exited ${exited}`, `code ${code}`, `main ${phase === 'exited' ? code : -1}`, 'oom 0', `stopped ${stopped ? 1 : 0}`,
    'restarts 0', 'failures 0', 'quick 0', 'reason ', 'note ', '',
  ].join('\n');
}

const live: Model[] = [];
// a test that fails half-way leaves no stand-in behind
process.on('exit', () => { for (const m of live) m.standIn.kill('SIGKILL'); });

/** The command's identity as the starter sets it: the plan's numeric ids, directory and exact environment. */
export function planIdentity(plan: PlanRecord[]): ProbeIdentity {
  const num = (k: string) => Number(one(plan, k) ?? 0);
  return {
    uid: num('uid'),
    gid: num('gid'),
    groups: (one(plan, 'groups') ?? '').split(',').filter(Boolean).map(Number),
    cwd: one(plan, 'cwd') ?? '/',
    env: plan.filter((r) => r[0] === 'env').map((r) => r[1]!),
  };
}

/**
 * The command the monitor starts in the jail: vessel-probe runs its steps (freebsd-probe.ts);
 * anything else is a stand-in that lives until TERM or KILL ends it, as the model always had it.
 */
function startCommand(host: ModelHost, plan: PlanRecord[], jail: string): ModelProcess {
  const argv = plan.filter((r) => r[0] === 'arg').map((r) => r[1]!);
  const main = host.processes.spawn(jail);
  if (isProbe(argv)) {
    // after the monitor's own wait is set up: it must see the end of a probe that ends at once
    queueMicrotask(() => runProbe(host.world, main, jail, planIdentity(plan), argv, one(plan, 'log')));
  } else {
    for (const n of Object.values(FREEBSD_SIGNALS)) if (n !== FREEBSD_SIGNALS.TERM && n !== FREEBSD_SIGNALS.KILL) main.handlers.set(n, 'ignore');
  }
  return main;
}

/** `vessel-init monitor PLAN` on a model host. ENDS_AT_ONCE: the command exits 0 right away (golden starts). */
export function spawnModelMonitor(host: ModelHost, planPath: string, endsAtOnce: boolean): SpawnedProcess {
  const plan = readPlan(planPath);
  const jail = one(plan, 'jail') ?? '';
  const m: Model = {
    name: one(plan, 'name') ?? '',
    jail,
    command: endsAtOnce ? host.nextPid() : 0,
    runId: one(plan, 'run-id') ?? '',
    status: one(plan, 'status') ?? '',
    marker: one(plan, 'stop-marker'),
    waitAll: one(plan, 'wait') !== 'main',
    standIn: spawn('sleep', ['3600'], { stdio: 'ignore' }),
    crashed: false,
    done: false,
    started: Date.now(),
  };
  const report = new PassThrough();
  if (endsAtOnce) {
    report.end(`started ${m.name} ${m.command}\n`);
    writeFileSync(m.status, statusText(m, 'exited', 0, false));
    m.standIn.kill('SIGKILL');
    // it exits after its report was read, as a process that wrote before exiting
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => setTimeout(() => resolve({ code: 0, signal: null }), 1));
    return { pid: m.standIn.pid!, pipes: [null, null, null, report], exited, kill: () => undefined, unref: () => undefined };
  }
  const main = startCommand(host, plan, jail);
  m.command = main.pid;
  report.end(`started ${m.name} ${m.command}\n`);
  writeFileSync(m.status, statusText(m, 'running', 0, false));
  live.push(m);
  const stopSignal = Number(one(plan, 'stop-signal') ?? FREEBSD_SIGNALS.TERM);
  let mainCode: number | undefined;
  let viaStop = false;
  // a monitor exits after its report was read, as a process that wrote before exiting
  const reported = new Promise((r) => setTimeout(r, 1));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const end = () => {
      if (m.done || m.crashed || mainCode === undefined) return;
      m.done = true;
      const code = mainCode;
      writeFileSync(m.status, statusText(m, 'exited', code, viaStop && m.marker !== undefined && existsSync(m.marker)));
      if (m.standIn.exitCode === null && m.standIn.signalCode === null) m.standIn.kill('SIGKILL');
      void reported.then(() => resolve({ code, signal: null }));
    };
    // wait = all: the container lives while any process of the jail does
    const check = () => { if ((host.procs.get(jail) ?? []).length === 0) end(); };
    void main.wait().then((code) => {
      mainCode = code;
      if (m.crashed) return;
      // wait = main: the rest of the jail goes with the main command
      if (!m.waitAll) host.processes.killJail(jail);
      if (!m.waitAll) end();
      else check();
    });
    host.onChange(check);
    m.standIn.on('exit', (_code, signal) => {
      if (m.crashed || m.done) return;
      // SIGTERM: a stop — the stop signal to every process of the container, SIGKILL for what is left
      if (signal === 'SIGTERM') {
        viaStop = true;
        host.processes.signalJail(jail, stopSignal);
        host.processes.killJail(jail);
        host.procs.set(jail, []);
      }
    });
  });
  return { pid: m.standIn.pid!, pipes: [null, null, null, report], exited, kill: (sig) => m.standIn.kill(sig), unref: () => undefined };
}

/** The CLIs waiting for these monitors were SIGKILLed, so were the monitors: their starters kill the containers' processes. */
export function crashModelMonitors(host: ModelHost): void {
  for (const m of live.splice(0)) {
    if (m.done) continue;
    m.crashed = true;
    host.processes.killJail(m.jail);
    m.standIn.kill('SIGKILL');
  }
}

/** How the transcript shows the monitor's spawn: its argv, and the plan it read below it. */
export function planForTranscript(path: string): string {
  // the pid of the waiting vessel (this test's) differs from run to run
  return describePlan(readPlan(path)).split('\n').slice(1).join('\n').replace(/^parent-pid \d+$/m, 'parent-pid <pid of the vessel that waits>');
}

/**
 * `vessel-init monitor PLAN` whose command runs for real, in ROOT (chroot(8) standing in for
 * jail_attach(2)), with the plan's numeric ids, directory and exact environment: a build's RUN
 * step on a model host whose roots are real (freebsd-build.ts). It reports and records its
 * status as the monitor does, and ends with the command's code.
 */
export function spawnChrootMonitor(planPath: string, root: string): SpawnedProcess {
  const plan = readPlan(planPath);
  const id = planIdentity(plan);
  const env = Object.fromEntries(id.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const argv = plan.filter((r) => r[0] === 'arg').map((r) => r[1]!);
  // the starter's chdir(2) into the working directory, then execve(2) of the command
  const child = spawn('chroot', [`--userspec=${id.uid}:${id.gid}`, root, '/bin/sh', '-c', 'cd "$0" && exec "$@"', id.cwd, ...argv], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const m: Model = {
    name: one(plan, 'name') ?? '', jail: one(plan, 'jail') ?? '', command: child.pid ?? 0, runId: one(plan, 'run-id') ?? '',
    status: one(plan, 'status') ?? '', marker: one(plan, 'stop-marker'), waitAll: false, standIn: child, crashed: false, done: false, started: Date.now(),
  };
  const report = new PassThrough();
  report.end(`started ${m.name} ${m.command}\n`);
  writeFileSync(m.status, statusText(m, 'running', 0, false));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      const c = code ?? 128 + (signal ? (signalNumber(signal) ?? 0) : 0);
      writeFileSync(m.status, statusText(m, 'exited', c, false));
      setTimeout(() => resolve({ code: c, signal: null }), 1);
    });
  });
  return { pid: child.pid!, pipes: [null, null, null, report], exited, kill: (sig) => child.kill(sig), unref: () => undefined };
}
