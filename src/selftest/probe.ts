import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../util/index.js';
import type { ContainerConfig, ContainerRef, ExitStatus, StartedContainer } from '../runtime/index.js';
import { ContractFailure, check, type ContractHost } from './contract.js';

/**
 * vessel-probe (native/probe) as the cases use it: mounted read-only into the case's container,
 * its report lines read from the container's log (or from the file `-o` names), and a running
 * case container started, waited for and removed.
 */

/** Where the probe's directory is mounted in a case's container. */
export const PROBE_MOUNT = '/.vessel-probe';
export const PROBE_BINARY = 'vessel-probe';

/** A probe step: its words (vessel-probe runs them in order, separated by `--`). */
export type Step = string[];

/** vessel-probe's argv for these steps, run from DIR; `out`: report to that file instead of stdout. */
export function probeArgv(dir: string, steps: Step[], out?: string): string[] {
  const argv = [join(dir, PROBE_BINARY), ...(out !== undefined ? ['-o', out] : [])];
  steps.forEach((s, i) => argv.push(...(i > 0 ? ['--'] : []), ...s));
  return argv;
}

/** The probe on the host (the network cases' other end). */
export function hostProbe(h: ContractHost, steps: Step[], out?: string): string[] {
  return probeArgv(h.probeDir, steps, out);
}

/** The container's log: what the probe reported. */
export function logOf(cfg: ContainerConfig): string {
  if (cfg.output.kind !== 'file') throw new ContractFailure(`container ${cfg.name}: its output is not a file, so the probe's report cannot be read`);
  return cfg.output.path;
}

/** The base config running the probe with these steps, its report in the container's own log. */
export function withProbe(base: ContainerConfig, h: ContractHost, steps: Step[]): ContainerConfig {
  return {
    ...base,
    argv: probeArgv(PROBE_MOUNT, steps),
    mounts: [...base.mounts, { kind: 'bind', source: h.probeDir, target: PROBE_MOUNT, readonly: true }],
    output: { kind: 'file', path: join(base.dir, 'probe.log') },
  };
}

export function reportLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
}

/** The report so far, for a failure message. */
function shown(path: string): string {
  const lines = reportLines(path);
  return lines.length === 0 ? 'the report is empty' : `the report says: ${lines.slice(-8).join(' | ')}`;
}

/** A bound on every wait, so a broken host is a FAIL, never a hang. */
export const WAIT_MS = 30_000;

export async function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ContractFailure(`${what}: nothing after ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The first line of the report at PATH matching RE, once it is there. Fails when `ended` settles
 * first (the container is gone without saying it) or after WAIT_MS.
 */
export async function waitForLine(path: string, re: RegExp, what: string, ended?: Promise<unknown>): Promise<string> {
  let over = false;
  void ended?.then(() => (over = true), () => (over = true));
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const wasOver = over;
    const line = reportLines(path).find((l) => re.test(l));
    if (line !== undefined) return line;
    if (wasOver) throw new ContractFailure(`${what}: the container ended first; ${shown(path)}`);
    if (Date.now() > deadline) throw new ContractFailure(`${what}: not reported within ${WAIT_MS / 1000} s; ${shown(path)}`);
    await sleep(20);
  }
}

/** The report must have a line equal to LINE (or matching it); returns that line. */
export function expectLine(path: string, line: string | RegExp, what: string): string {
  const found = reportLines(path).find((l) => (typeof line === 'string' ? l === line : line.test(l)));
  if (found === undefined) throw new ContractFailure(`${what}: expected "${typeof line === 'string' ? line : line.source}"; ${shown(path)}`);
  return found;
}

/** The process limit of the maxproc cases, and the fork probe's steps: many more forks than it allows. */
export const MAXPROC = 8;
const FORKS = 32;
export const FORK_STEPS: Step[] = [['fork', String(FORKS)], ['exit', '0']];

/** The fork probe's report at PATH: fewer than MAXPROC processes forked, then a fork refused with EAGAIN. */
export function expectForkLimit(path: string, what: string): void {
  const line = expectLine(path, new RegExp(`^fork \\d+ of ${FORKS}$`), `${what}: the fork probe`);
  const forked = Number(/^fork (\d+)/.exec(line)?.[1]);
  check(forked < MAXPROC, `${what}: ${forked} processes forked under maxproc = ${MAXPROC}`);
  expectLine(path, 'fork error EAGAIN', `${what}: a fork over maxproc = ${MAXPROC}`);
}

export function expectNoLine(path: string, re: RegExp, what: string): void {
  const found = reportLines(path).find((l) => re.test(l));
  check(found === undefined, `${what}: the report says "${found ?? ''}"`);
}

/** A case's container, running. */
export interface CaseRun {
  started: StartedContainer;
  ref: ContainerRef;
  /** Has the container ended (its `exited` settled)? */
  ended(): boolean;
  exit(): Promise<ExitStatus>;
}

/** Start the case's container (its log emptied first) and hand it to fn; stopped and removed whatever happens. */
export async function withRunning<T>(h: ContractHost, cfg: ContainerConfig, fn: (r: CaseRun) => Promise<T>): Promise<T> {
  mkdirSync(cfg.dir, { recursive: true });
  if (cfg.output.kind === 'file') writeFileSync(cfg.output.path, '');
  const started = await h.driver.start(cfg);
  const ref: ContainerRef = { name: cfg.name, pid: started.pid, resources: started.resources };
  let settled = false;
  void started.exited.then(() => (settled = true), () => (settled = true));
  const r: CaseRun = { started, ref, ended: () => settled, exit: () => within(started.exited, `container ${cfg.name}'s exit`) };
  try {
    await h.afterStart?.(cfg);
    return await fn(r);
  } finally {
    try {
      if (!settled) await h.driver.stop(ref, h.stopSignal ?? cfg.stopSignal, 5);
      await within(started.exited, `container ${cfg.name}'s exit after stop`).catch(() => undefined);
    } finally {
      await h.driver.cleanup(started.resources);
    }
  }
}

/** The exit status, checked: code, signal and OOM as given. */
export function expectExit(st: ExitStatus, want: { code: number; signal?: string; oomKilled?: boolean }, what: string): void {
  const got = `code ${st.code}${st.signal ? `, ${st.signal}` : ''}${st.oomKilled ? ', OOM-killed' : ''} (${st.reason})`;
  const wanted = `code ${want.code}${want.signal ? `, ${want.signal}` : ''}${want.oomKilled ? ', OOM-killed' : ''}`;
  check(st.code === want.code && st.signal === want.signal && st.oomKilled === (want.oomKilled ?? false), `${what}: expected ${wanted}, got ${got}`);
}

/** A failure message that keeps the driver's own words. */
export function failWith(what: string, e: unknown): never {
  throw new ContractFailure(`${what}: ${errorMessage(e)}`);
}
