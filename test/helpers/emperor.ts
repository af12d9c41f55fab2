import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EmperorStats } from '../../src/emperor/stats.js';
import type { PsReport } from '../../src/emperor/ps.js';
import type { ContainerState } from '../../src/supervise/types.js';
import { mergeStatus } from '../../src/supervise/status.js';
import { readMonitorStatus } from '../../src/runtime/monitor-status.js';
import { cgroupParentOf, removeCgroupParents } from './vessel.js';

/**
 * A private vessel world for one Emperor test file: its own VESSEL_ROOT with a busybox image,
 * a spec directory, the real `vessel up` (real uWSGI Emperor) started through the built CLI, and
 * a sweep that finds anything the file left behind (processes, mounts, cgroups).
 */

export const repo = resolve(__dirname, '..', '..');
const cli = join(repo, 'bin', 'vessel.js');

export function requireHost(): void {
  if (process.getuid?.() !== 0) throw new Error('Emperor tests need root (namespaces, mounts, cgroups)');
  const r = spawnSync('uwsgi', ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('uwsgi is not installed (apt-get install uwsgi-core)');
  if (!existsSync(join(repo, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Every pid on the host. */
export function allPids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readText(`/proc/${pid}/stat`).includes(') Z ');
  } catch {
    return false;
  }
}

/** pid and every descendant (by ppid), for following a container's process tree. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of allPids()) {
    const stat = readText(`/proc/${p}/stat`);
    const m = /\) \S+ (\d+)/.exec(stat);
    if (!m) continue;
    const pp = Number(m[1]);
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

export function cmdline(pid: number): string {
  return readText(`/proc/${pid}/cmdline`).split('\0').join(' ').trim();
}

export function environ(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readText(`/proc/${pid}/environ`).split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

export interface UpProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  log: string;
}

export class EmperorWorld {
  readonly root: string;
  readonly vassals: string;
  readonly emperorDir: string;
  readonly stats: string;
  readonly env: NodeJS.ProcessEnv;
  /** Container names this file uses: the sweep looks for their cgroups and processes. */
  readonly names = new Set<string>();
  private ups: UpProcess[] = [];
  private upCount = 0;

  constructor(prefix: string) {
    this.root = mkdtempSync(join(tmpdir(), `vessel-${prefix}-`));
    this.vassals = join(this.root, 'vassals');
    this.emperorDir = join(this.root, 'emperor.d');
    this.stats = join(this.root, 'run', 'emperor.stats');
    mkdirSync(this.vassals, { recursive: true });
    this.env = { ...process.env, VESSEL_ROOT: this.root, VESSEL_LOG_LEVEL: process.env.VESSEL_LOG_LEVEL ?? 'info' };
    delete this.env.VESSEL_CONFIG;
    delete this.env.UWSGI_EMPEROR_FD;
  }

  /** Build the busybox image once and import it as busybox:latest into this root. */
  importBusybox(): void {
    const tar = join(tmpdir(), 'vessel-emperor-busybox.tar.gz');
    if (!existsSync(tar)) {
      const tmp = `${tar}.${process.pid}.tmp.tar.gz`;
      execFileSync('sh', [join(repo, 'test/fixtures/build-busybox.sh'), tmp], { stdio: 'inherit' });
      renameSync(tmp, tar);
    }
    this.vessel(['image', 'import', tar, 'busybox:latest']);
  }

  /** Run the CLI synchronously; throws with its stderr when it fails (unless allowFailure). */
  vessel(args: string[], opts: { allowFailure?: boolean } = {}): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [cli, ...args], { env: this.env, encoding: 'utf8', timeout: 60_000 });
    const res = { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    if (res.code !== 0 && !opts.allowFailure) throw new Error(`vessel ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
    return res;
  }

  /** `vessel up` in the foreground of a child process; resolves once the Emperor answers. */
  async up(extra: string[] = []): Promise<UpProcess> {
    const log = join(this.root, `up.${++this.upCount}.log`);
    const fd = openSync(log, 'w');
    const child = spawn(process.execPath, [cli, 'up', '--vassals', this.vassals, ...extra], { env: this.env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    const up: UpProcess = { child, exited, log };
    this.ups.push(up);
    let gone = false;
    void exited.then(() => (gone = true));
    await waitFor('the Emperor stats socket', async () => {
      if (gone) throw new Error(`vessel up exited early:\n${readText(log)}`);
      return (await this.fetchStats()) !== undefined;
    }, 30_000);
    return up;
  }

  /** SIGTERM to `vessel up`; resolves with its exit code. */
  async down(up: UpProcess, timeoutMs = 90_000): Promise<number | null> {
    up.child.kill('SIGTERM');
    return Promise.race([up.exited, sleep(timeoutMs).then(() => { throw new Error(`vessel up did not exit:\n${readText(up.log)}`); })]);
  }

  async fetchStats(): Promise<EmperorStats | undefined> {
    const { fetchStats } = await import('../../src/emperor/stats.js');
    try {
      return await fetchStats(this.stats, 1000);
    } catch {
      return undefined;
    }
  }

  ps(): PsReport {
    return JSON.parse(this.vessel(['ps', '-a', '--json']).stdout) as PsReport;
  }

  /** The container's state as `vessel ps` shows it: the state file merged with its monitor's record. */
  state(name: string): ContainerState | undefined {
    const text = readText(join(this.root, 'containers', name, 'state.json'));
    return text ? mergeStatus(JSON.parse(text) as ContainerState, readMonitorStatus(join(this.root, 'containers', name, 'monitor.status'))) : undefined;
  }

  /** Write a spec elsewhere and rename it in: the watcher never sees a half-written file. */
  drop(name: string, text: string, file = `${name}.ini`): void {
    this.names.add(name);
    const staging = join(this.root, 'staging');
    mkdirSync(staging, { recursive: true });
    writeFileSync(join(staging, file), text);
    renameSync(join(staging, file), join(this.vassals, file));
  }

  remove(name: string): void {
    rmSync(join(this.vassals, `${name}.ini`), { force: true });
  }

  /** Host pid of a running container's init, from its state file, once it runs. */
  async running(name: string, opts: { not?: number; timeoutMs?: number } = {}): Promise<number> {
    return waitFor(`container ${name} running${opts.not ? ` (not pid ${opts.not})` : ''}`, () => {
      const s = this.state(name);
      if (s?.status !== 'running' || s.pid === undefined || s.pid === opts.not || !pidAlive(s.pid)) return undefined;
      return s.pid;
    }, opts.timeoutMs ?? 30_000);
  }

  /** The pid of the container's process whose command line starts with `prefix`. */
  processOf(name: string, prefix: string): number | undefined {
    const s = this.state(name);
    if (s?.pid === undefined) return undefined;
    return descendants(s.pid).find((p) => cmdline(p).startsWith(prefix));
  }

  vassal(stats: EmperorStats | undefined, name: string) {
    return stats?.vassals.find((v) => v.id === `${name}.vessel`);
  }

  /** Processes of this world: uWSGI/up/vassals (by root in cmdline/env) and containers (by cgroup). */
  leftoverProcesses(): Array<{ pid: number; cmd: string }> {
    const out: Array<{ pid: number; cmd: string }> = [];
    for (const pid of allPids()) {
      if (pid === process.pid) continue;
      const cmd = cmdline(pid);
      const cg = readText(`/proc/${pid}/cgroup`);
      const ours =
        cmd.includes(this.root) ||
        environ(pid).VESSEL_ROOT === this.root ||
        // in this root's own cgroup subtree: another root may run containers of the same names
        [...this.names].some((n) => cg.includes(`/${cgroupParentOf(this.root)}/${n}.`));
      if (ours && pidAlive(pid)) out.push({ pid, cmd });
    }
    return out;
  }

  leftoverMounts(): string[] {
    return readText('/proc/self/mounts').split('\n').filter((l) => l.includes(this.root));
  }

  /** cgroup directories named after this world's containers, in every hierarchy. */
  leftoverCgroups(): string[] {
    const out: string[] = [];
    const roots = ['/sys/fs/cgroup'];
    for (const base of roots) {
      let ctrls: string[] = [];
      try {
        ctrls = readdirSync(base);
      } catch {
        continue;
      }
      for (const c of [...ctrls, '.']) {
        const dir = join(base, c, cgroupParentOf(this.root));
        let entries: string[] = [];
        try {
          entries = readdirSync(dir);
        } catch {
          continue;
        }
        for (const e of entries) if ([...this.names].some((n) => e.startsWith(`${n}.`))) out.push(join(dir, e));
      }
    }
    return out;
  }

  /** Everything this world left: empty when clean. */
  leftovers(): { processes: Array<{ pid: number; cmd: string }>; mounts: string[]; cgroups: string[] } {
    return { processes: this.leftoverProcesses(), mounts: this.leftoverMounts(), cgroups: this.leftoverCgroups() };
  }

  /** afterAll: stop `up`s, kill strays, remove what is left, delete the root. Never throws. */
  async cleanup(): Promise<void> {
    for (const up of this.ups) {
      if (up.child.exitCode === null && up.child.signalCode === null) {
        await this.down(up, 90_000).catch(() => up.child.kill('SIGKILL'));
      }
    }
    for (const { pid } of this.leftoverProcesses()) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await sleep(200);
    this.vessel(['gc'], { allowFailure: true });
    for (const line of this.leftoverMounts().reverse()) {
      const mnt = line.split(' ')[1];
      if (mnt) spawnSync('umount', ['-l', mnt]);
    }
    for (const dir of this.leftoverCgroups().reverse()) {
      try { rmdirSync(dir); } catch { /* still populated: reported by the test */ }
    }
    // The logs of `vessel up` outlive the root, for a failing test's post-mortem.
    const keep = join(tmpdir(), 'vessel-test-logs', this.root.split('/').pop()!);
    mkdirSync(keep, { recursive: true });
    for (let i = 1; i <= this.upCount; i++) {
      try { renameSync(join(this.root, `up.${i}.log`), join(keep, `up.${i}.log`)); } catch { /* none */ }
    }
    removeCgroupParents(this.root);
    if (this.leftoverMounts().length === 0) rmSync(this.root, { recursive: true, force: true });
  }
}

/** A spec for a long-running busybox service; `extra` lines go into [container]. */
export function serviceSpec(extra: string[] = [], command = "sh -c 'exec sleep 100000'"): string {
  return ['[container]', 'image = busybox:latest', `command = ${command}`, 'min_uptime = 1', 'stop_timeout = 3', ...extra, ''].join('\n');
}
