import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergeStatus } from '../../src/supervise/status.js';
import { readMonitorStatus } from '../../src/runtime/monitor-status.js';
import type { ContainerState } from '../../src/supervise/types.js';

/**
 * Shared helpers for integration tests: a private VESSEL_ROOT per test file, the CLI run as a
 * child process (exactly what a user runs), the busybox image, and a leftover check that looks at
 * the host itself (/proc, /proc/mounts, the cgroup trees) rather than at vessel's own records.
 */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(REPO, 'bin', 'vessel.js');

export interface TestRoot {
  root: string;
  env: NodeJS.ProcessEnv;
  /** Remove the root (after the test made sure nothing runs). */
  dispose(): void;
}

export function makeRoot(tag: string): TestRoot {
  const root = mkdtempSync(`/tmp/vessel-test-${tag}-`);
  const env = { ...process.env, VESSEL_ROOT: root, VESSEL_LOG_LEVEL: process.env.VESSEL_LOG_LEVEL ?? 'warn' };
  return {
    root,
    env,
    dispose: () => {
      removeCgroupParents(root);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Remove a test root's (empty) cgroup subtrees, so runs leave nothing under /sys/fs/cgroup. */
export function removeCgroupParents(root: string): void {
  const parent = cgroupParentOf(root);
  const base = '/sys/fs/cgroup';
  const dirs = existsSync(join(base, 'cgroup.controllers')) ? [join(base, parent)] : readdirSync(base).map((c) => join(base, c, parent));
  for (const d of dirs) {
    try {
      rmdirSync(d);
    } catch { /* absent, or still holding a leaked container (the leftover check reports that) */ }
  }
}

/** cgroup directories of a container in this root's subtree. */
export function cgroupsIn(t: TestRoot, name: string): string[] {
  return cgroupsOf(name, cgroupParentOf(t.root));
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `vessel ARGS` to completion. */
export function vessel(t: TestRoot, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...t.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`vessel ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', rej);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Start `vessel ARGS` and leave it running (a foreground container, a supervisor). */
export function vesselSpawn(t: TestRoot, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...t.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

const FIXTURES = '/tmp/vessel-fixtures';

/** The busybox rootfs tarball, built once per fixture-script version. */
export function busyboxTarball(ext: 'tar' | 'tar.gz' | 'tar.xz' | 'tar.zst' = 'tar.gz'): string {
  const script = join(REPO, 'test', 'fixtures', 'build-busybox.sh');
  const v = createHash('sha256').update(readFileSync(script)).digest('hex').slice(0, 12);
  const out = join(FIXTURES, `busybox-${v}.${ext}`);
  if (!existsSync(out)) {
    mkdirSync(FIXTURES, { recursive: true });
    execFileSync('sh', [script, out], { stdio: 'inherit' });
  }
  return out;
}

/** A root with the busybox image imported as busybox:latest. */
export async function rootWithBusybox(tag: string): Promise<TestRoot> {
  const t = makeRoot(tag);
  const r = await vessel(t, ['image', 'import', busyboxTarball(), 'busybox:latest']);
  if (r.code !== 0) throw new Error(`image import failed: ${r.stderr}`);
  return t;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll until fn returns a truthy value (or throw after timeoutMs). */
export async function until<T>(fn: () => T | Promise<T>, timeoutMs = 15_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(50);
  }
}

/** Processes whose command line mentions `marker` (a test root path is in every vessel-init argv). */
export function processesMentioning(marker: string): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (cmd.includes(marker)) out.push({ pid: Number(p), cmd });
    } catch { /* exited */ }
  }
  return out;
}

export function mountsUnder(prefix: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(prefix));
}

/** The cgroup subtree of a state root (src/util/config.ts: one per root). */
export function cgroupParentOf(root: string): string {
  return `vessel-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
}

/** cgroup directories (any controller, v1 or v2) named after a container, in any vessel subtree. */
export function cgroupsOf(name: string, parent?: string): string[] {
  const out: string[] = [];
  const base = '/sys/fs/cgroup';
  const roots = existsSync(join(base, 'cgroup.controllers')) ? [base] : readdirSync(base).map((d) => join(base, d));
  for (const r of roots) {
    let parents: string[];
    try {
      parents = parent ? [parent] : readdirSync(r).filter((d) => d === 'vessel' || d.startsWith('vessel-'));
    } catch {
      continue;
    }
    for (const p of parents) {
      const dir = join(r, p);
      try {
        if (!statSync(dir).isDirectory()) continue;
        for (const e of readdirSync(dir)) if (e === name || e.startsWith(`${name}.`)) out.push(join(dir, e));
      } catch { /* controller without vessel's subtree */ }
    }
  }
  return out;
}

/** Everything a container could leave on the host; empty when clean. */
export function leftovers(t: TestRoot, name?: string): string[] {
  const found: string[] = [];
  for (const p of processesMentioning(t.root)) found.push(`process ${p.pid}: ${p.cmd}`);
  for (const m of mountsUnder(t.root)) found.push(`mount ${m}`);
  if (name) for (const c of cgroupsOf(name, cgroupParentOf(t.root))) found.push(`cgroup ${c}`);
  return found;
}

/**
 * A container's state as vessel shows it: its state file merged with its monitor's status record
 * (the same merge `vessel ps` and `inspect` make: src/supervise/status.ts).
 */
export function containerState(t: TestRoot, name: string): Record<string, unknown> | undefined {
  const f = join(t.root, 'containers', name, 'state.json');
  if (!existsSync(f)) return undefined;
  const raw = JSON.parse(readFileSync(f, 'utf8')) as ContainerState;
  return mergeStatus(raw, readMonitorStatus(join(t.root, 'containers', name, 'monitor.status'))) as unknown as Record<string, unknown>;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
