import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { VesselError, errorMessage, config, containerPaths, hostOs, run, withLock } from '../util/index.js';
import { defaultSpec } from '../spec/index.js';
import type { DoctorReport } from '../doctor/index.js';
import { driverFor, type ContainerConfig, type Driver, type Resource, type ResourceKind } from '../runtime/index.js';
import { checkImagePlatform, isLive, listStates, networkFileMounts, readState, releaseResources, writeState, type ContainerState } from '../supervise/index.js';
import { prepareNetwork, releaseNetwork } from '../net/index.js';
import { FREEBSD_DISCOVERABLE, FREEBSD_NO_VIMAGE_DISCOVERABLE, LINUX_DISCOVERABLE, type CaseNetwork, type ContractCase, type ContractHost } from './contract.js';
import { CONTRACT_CASES } from './cases.js';
import { runCase, type CaseStatus } from './harness.js';
import { PROBE_BINARY } from './probe.js';

/** Every container of a selftest is named so: a rerun and `vessel gc` know them by the prefix. */
export const SELFTEST_PREFIX = 'selftest-';
/** The network the network cases lease on (made on first use, removed with its last lease). */
export const SELFTEST_NETWORK = 'selftest';

export interface CaseResult {
  id: string;
  container: string;
  feature: string;
  title: string;
  status: CaseStatus;
  /** PASS or SKIP: nothing is wrong with this host. */
  ok: boolean;
  /** FAIL: what broke; SKIP: why this host cannot run it. */
  reason?: string;
}

export interface SelftestOptions {
  /** The image every case runs (its layers are the container's root). */
  image: string;
  /** Cases to run (default: all), by id. */
  only?: string[];
  /** This host's features (`vessel doctor`): a case the host cannot run is SKIP with doctor's reason. */
  doctor?: DoctorReport;
  /** Called as each case ends, for live output. */
  onResult?: (r: CaseResult) => void;
}

export interface SelftestRun {
  image: string;
  imageId: string;
  results: CaseResult[];
  /** Leftovers of an earlier, killed selftest that this run removed first. */
  swept: string[];
}

/** Command of the cases that run the image's own program: lasts until stopped; `sleep` is in busybox and in FreeBSD's /rescue. */
const COMMAND = ['sleep', '300'];
const PATH = 'PATH=/bin:/usr/bin:/sbin:/usr/sbin:/rescue';

/** The directory vessel-probe is built into (native/build.sh), beside vessel-init. */
export function probeDir(): string {
  return join(config().libexec, 'probe');
}

function caseConfig(name: string, layers: string[]): ContainerConfig {
  const dir = containerPaths(config(), name).dir;
  mkdirSync(dir, { recursive: true });
  return {
    name,
    runId: randomBytes(4).toString('hex'),
    dir,
    root: { layers, ephemeral: false },
    argv: COMMAND,
    env: [PATH],
    workdir: '/',
    user: '',
    hostname: name,
    mounts: [{ kind: 'tmpfs', target: '/scratch', sizeBytes: 1 << 20 }],
    limits: { memoryBytes: 64 << 20, maxproc: 50 },
    wait: 'all',
    tty: false,
    interactive: false,
    network: { mode: 'none' },
    stopSignal: 'SIGTERM',
    jail: {},
    security: { portacl: [], capAdd: [], capDrop: [], noNewPrivileges: true },
    output: { kind: 'file', path: join(dir, 'container.log') },
  };
}

/**
 * The state file of a case's container, written before the case creates anything (and again once
 * its network is leased): it names the container, lists the resources the driver will create,
 * and names this process as supervisor, so a SIGKILLed selftest is a dead container `vessel gc`
 * cleans and removes (autoRemove).
 */
function recordCase(driver: Driver, cfg: ContainerConfig, image: string, extra: Resource[]): void {
  const spec = { ...defaultSpec(cfg.name, image, 'flags'), command: cfg.argv };
  const state: ContainerState = {
    name: cfg.name,
    spec,
    status: 'running',
    mode: 'foreground',
    supervisorPid: process.pid,
    runId: cfg.runId,
    createdAt: new Date().toISOString(),
    restarts: 0,
    resources: [...extra, ...driver.resources(cfg)],
    autoRemove: true,
  };
  writeState(state);
}

/**
 * Remove one case container: what its state recorded (its network lease included, recorded
 * before it was made) and what the host still has, then its directory.
 */
async function dropCase(driver: Driver, name: string): Promise<void> {
  const recorded = (await readState(name))?.resources ?? [];
  const found = await driver.findLeftovers(name);
  const all = [...recorded, ...found.filter((r) => !recorded.some((x) => x.kind === r.kind && x.id === r.id))];
  await releaseResources(driver, name, all);
  rmSync(containerPaths(config(), name).dir, { recursive: true, force: true });
}

/**
 * VESSEL_SELFTEST_HOLD=CASE — a TEST SEAM: the run stops for good once that case's container
 * runs, so a test can SIGKILL it at a known point (test/integration/selftest.test.ts).
 */
function holdFor(id: string, env: NodeJS.ProcessEnv): ContractHost['afterStart'] {
  if (env.VESSEL_SELFTEST_HOLD !== id) return undefined;
  return (cfg) => {
    process.stderr.write(`vessel: selftest holds ${cfg.name} (VESSEL_SELFTEST_HOLD)\n`);
    // a timer keeps the process alive when the case's container has already ended
    setInterval(() => undefined, 1 << 30);
    return new Promise<void>(() => undefined);
  };
}

/** Leftovers of an earlier selftest (killed, or crashed host): removed before this one starts. */
async function sweep(driver: Driver): Promise<string[]> {
  const states = (await listStates()).filter((s) => s.name.startsWith(SELFTEST_PREFIX));
  const live = states.find((s) => isLive(s));
  if (live) {
    throw new VesselError('E_IN_USE', `another vessel selftest is running (pid ${live.supervisorPid}, container ${live.name})`, {
      hint: 'wait for it to finish; a killed one is cleaned by the next selftest or `vessel gc`',
    });
  }
  const names = new Set(states.map((s) => s.name));
  for (const n of (await driver.instanceNames?.()) ?? []) if (n.startsWith(SELFTEST_PREFIX)) names.add(n);
  for (const n of names) await dropCase(driver, n);
  return [...names].sort();
}

/** What findLeftovers() can find on this host's kernel (the same lists the contract tests use). */
async function discoverable(driver: Driver): Promise<ResourceKind[] | undefined> {
  if (driver.os === 'linux') return LINUX_DISCOVERABLE;
  // The jail driver's own VIMAGE probe: security.jail.param.vnet exists only in VIMAGE kernels.
  const vnet = await run(['sysctl', '-d', 'security.jail.param.vnet'], { allowFailure: true });
  return vnet.exitCode === 0 ? FREEBSD_DISCOVERABLE : FREEBSD_NO_VIMAGE_DISCOVERABLE;
}

/** The network cases' network: a lease on SELFTEST_NETWORK through net/, as a start makes one. */
export function selftestNetwork(driver: Driver, image = 'selftest'): CaseNetwork {
  return {
    async attach(name, publish) {
      const spec = { ...defaultSpec(name, image, 'flags'), network: { mode: 'bridge' as const, name: SELFTEST_NETWORK, publish, aliases: [] } };
      const att = await prepareNetwork(spec, name);
      // where the OS bind-mounts the network's files, as a start does (FreeBSD's driver writes them into the root)
      return { network: att.network, mounts: networkFileMounts() ? att.mounts : [], resources: att.resources };
    },
    release: (name, resources) => releaseNetwork(name, resources),
    async publishAddress() {
      if (driver.os === 'linux') return '127.0.0.1';
      const { externalAddress } = await import('../runtime/freebsd/index.js');
      return externalAddress();
    },
  };
}

function pickCases(only: string[] | undefined): readonly ContractCase[] {
  if (only === undefined || only.length === 0) return CONTRACT_CASES;
  const ids = CONTRACT_CASES.map((c) => c.id);
  for (const o of only) {
    if (!ids.includes(o)) throw new VesselError('E_USAGE', `selftest case ${o}: no such case`, { hint: `cases: ${ids.join(', ')}` });
  }
  return CONTRACT_CASES.filter((c) => only.includes(c.id));
}

/** The case currently running: a SIGINT/SIGTERM handler removes it before the process ends. */
let current: { driver: Driver; name: string } | undefined;

export async function interruptCleanup(): Promise<void> {
  const c = current;
  current = undefined;
  if (c) await dropCase(c.driver, c.name).catch(() => undefined);
}

/** Run the driver contract against this host, one named container per case; leaves nothing behind. */
export async function runSelftest(opts: SelftestOptions): Promise<SelftestRun> {
  const cases = pickCases(opts.only);
  const probe = join(probeDir(), PROBE_BINARY);
  // asked of the host as the driver asks for vessel-init (`test -x`): the same on every OS and model
  if ((await run(['test', '-x', probe], { allowFailure: true })).exitCode !== 0) {
    throw new VesselError('E_NOT_FOUND', `selftest: ${probe} is not built`, { hint: 'npm run build (native/build.sh builds vessel-probe beside vessel-init)' });
  }
  const { resolveImage } = await import('../image/index.js');
  const image = await resolveImage(opts.image).catch((e: unknown) => {
    throw new VesselError('E_NOT_FOUND', `selftest image ${opts.image}: ${errorMessage(e)}`, {
      hint: hostOs() === 'freebsd' ? '`vessel image base freebsd:latest` builds one from this host, then `vessel selftest --image freebsd:latest`' : '`npm run setup` builds busybox:latest, or `vessel selftest --image NAME`',
    });
  });
  await checkImagePlatform(image.record);
  const driver = await driverFor();
  // One selftest at a time: the sweep below would otherwise remove another run's live cases.
  return withLock(join(config().run, 'locks', 'selftest.lock'), () => runCases(driver, cases, opts, image.layerDirs, image.record.id), { what: 'vessel selftest' });
}

async function runCases(driver: Driver, cases: readonly ContractCase[], opts: SelftestOptions, layers: string[], imageId: string): Promise<SelftestRun> {
  const swept = await sweep(driver);
  const host: ContractHost = {
    driver,
    probeDir: probeDir(),
    network: selftestNetwork(driver, opts.image),
    record: (cfg, extra) => recordCase(driver, cfg, opts.image, extra),
    ...(opts.doctor ? { doctor: opts.doctor } : {}),
  };
  const disc = await discoverable(driver);
  if (disc) host.discoverable = disc;
  const results: CaseResult[] = [];
  for (const c of cases) {
    const name = `${SELFTEST_PREFIX}${c.id}`;
    current = { driver, name };
    const hold = holdFor(c.id, process.env);
    const outcome = await runCase(hold ? { ...host, afterStart: hold } : host, c, caseConfig(name, layers));
    const r: Omit<CaseResult, 'ok'> = { id: c.id, container: name, feature: c.feature, title: c.title, status: outcome.status, ...(outcome.reason ? { reason: outcome.reason } : {}) };
    try {
      await dropCase(driver, name);
    } catch (e) {
      // A case that passes but cannot be cleaned up fails: leaving the host dirty breaks the contract.
      r.status = 'fail';
      r.reason = `${r.reason && outcome.status === 'fail' ? `${r.reason}; ` : ''}cleanup: ${errorMessage(e)}`;
    }
    current = undefined;
    const done: CaseResult = { ...r, ok: r.status !== 'fail' }; // the report's summary of the status, made once
    results.push(done);
    opts.onResult?.(done);
  }
  // A private state root's own cgroup subtree, empty now, goes too (the default root keeps
  // `vessel`, as `vessel gc` does): a selftest leaves nothing it made.
  await driver.pruneParents?.().catch(() => undefined);
  return { image: opts.image, imageId, results, swept };
}
