import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VesselError } from './errors.js';
import { hostOs } from './os.js';

/** The OS whose examples are the default; any other platform gets Linux's (and fails later, clearly). */
function exampleOs(): string {
  try {
    return hostOs();
  } catch {
    return 'linux';
  }
}

/**
 * Where vessel keeps things. One state root (VESSEL_ROOT, default /var/lib/vessel); the seed's
 * APPC_* variables (and VESSEL_* equivalents) override single parts. Run files (locks, sockets,
 * pid files) go to /var/run/vessel, or $VESSEL_ROOT/run when a root is given, so a test with its
 * own root never touches the host's run directory.
 */
export interface VesselConfig {
  root: string;
  images: string;
  containers: string;
  archive: string;
  networks: string;
  run: string;
  emperorDir: string;
  vassalsDir: string;
  registry: string | undefined;
  /** Directory holding vessel-init and other compiled helpers. */
  libexec: string;
  /** The package's own directory (templates/, emperor/). */
  packageDir: string;
  /** Name of vessel's cgroup subtree (per controller on v1). */
  cgroupParent: string;
  /** Where `vessel up` serves Prometheus metrics (VESSEL_METRICS=HOST:PORT); undefined: nowhere. */
  metrics: string | undefined;
  /** VESSEL_METRICS_ALLOW_REMOTE: metrics on an address other than loopback. */
  metricsAllowRemote: boolean;
  /** Where each value came from, for `vessel config`. */
  sources: Record<string, string>;
}

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function readConfigFile(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  const text = readFileSync(path, 'utf8');
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.replace(/[;#].*$/, '').trim();
    if (!line || /^\[.*\]$/.test(line)) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new VesselError('E_CONFIG', `${path}:${lineNo}: expected KEY = VALUE`);
    out[m[1]!.toUpperCase()] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): VesselConfig {
  const sources: Record<string, string> = {};
  const file = env.VESSEL_CONFIG ?? '/etc/vessel/vessel.conf';
  let fileVars: Record<string, string> = {};
  if (env.VESSEL_CONFIG !== undefined || existsSync(file)) {
    if (!existsSync(file)) throw new VesselError('E_CONFIG', `VESSEL_CONFIG=${file}: no such file`);
    fileVars = readConfigFile(file);
  }
  /** The first of `names` set (the environment before the file); where it came from goes to sources[key]. */
  const lookup = (key: string, names: string[], unset: string): string | undefined => {
    for (const [vars, from] of [[env, 'env'], [fileVars, file]] as const) {
      for (const n of names) {
        const v = vars[n];
        if (v !== undefined && v !== '') {
          sources[key] = `${from} ${n}`;
          return v;
        }
      }
    }
    sources[key] = unset;
    return undefined;
  };
  /** A setting with a default; paths are resolved unless `resolve: false` (values read as written). */
  const pick = (key: string, names: string[], fallback: () => string, opts: { resolve?: boolean } = {}): string => {
    const v = lookup(key, names, 'default');
    if (v === undefined) return fallback();
    return opts.resolve === false ? v : resolve(v);
  };
  const root = pick('root', ['VESSEL_ROOT'], () => '/var/lib/vessel');
  const rootGiven = sources.root !== 'default';
  return {
    root,
    images: pick('images', ['APPC_IMAGE_DIR', 'VESSEL_IMAGE_DIR'], () => join(root, 'images')),
    containers: pick('containers', ['APPC_CONTAINER_DIR', 'VESSEL_CONTAINER_DIR'], () => join(root, 'containers')),
    archive: pick('archive', ['APPC_ARCHIVE_DIR', 'VESSEL_ARCHIVE_DIR'], () => join(root, 'archive')),
    networks: pick('networks', ['VESSEL_NETWORK_DIR'], () => join(root, 'networks')),
    run: pick('run', ['VESSEL_RUN_DIR'], () => (rootGiven ? join(root, 'run') : '/var/run/vessel')),
    emperorDir: pick('emperorDir', ['VESSEL_EMPEROR_DIR'], () => join(root, 'emperor.d')),
    // The examples differ by OS (FreeBSD has no busybox: its example image is built from /rescue),
    // so `npm start` on FreeBSD runs vassals/freebsd/; the watcher never descends into it on Linux.
    vassalsDir: pick('vassalsDir', ['VESSEL_VASSALS'], () => resolve(exampleOs() === 'freebsd' ? 'vassals/freebsd' : 'vassals')),
    libexec: pick('libexec', ['VESSEL_LIBEXEC'], () => join(packageDir, 'build')),
    registry: lookup('registry', ['APPC_REGISTRY_URL', 'VESSEL_REGISTRY'], 'unset'),
    packageDir,
    metrics: lookup('metrics', ['VESSEL_METRICS'], 'unset'),
    metricsAllowRemote: /^(1|true|yes|on)$/i.test(pick('metricsAllowRemote', ['VESSEL_METRICS_ALLOW_REMOTE'], () => '', { resolve: false })),
    // One cgroup subtree per state root: `vessel gc` of one root must never touch the containers
    // of another (tests, or two installations side by side).
    cgroupParent: pick('cgroupParent', ['VESSEL_CGROUP_PARENT'], () => (rootGiven ? `vessel-${createHash('sha256').update(root).digest('hex').slice(0, 8)}` : 'vessel'), { resolve: false }),
    sources,
  };
}

let cached: VesselConfig | undefined;

/** The process-wide configuration, read once. */
export function config(): VesselConfig {
  cached ??= loadConfig();
  return cached;
}

/** Per-container paths, all named after the container. */
/**
 * The parts of a container's directory every driver lays out the same way: the mounted root and
 * its writable layer (overlayfs upper + work on Linux, unionfs upper on FreeBSD), the scratch area.
 * One layout, so the supervisor (which drops a writable layer when the image changes), the drivers
 * and gc agree on where things are.
 */
export function containerLayout(dir: string) {
  return {
    rootfs: join(dir, 'rootfs'),
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
    scratch: join(dir, 'scratch'),
    /** The native monitor's plan (written by vessel) and status record (written by the monitor). */
    plan: join(dir, 'plan'),
    status: join(dir, 'monitor.status'),
    /** The monitor's own log lines, for a detached container (its output is in the container log). */
    monitorLog: join(dir, 'monitor.log'),
  };
}

/**
 * A run started beside the running one of the same container (a zero-downtime reload's next run,
 * supervise/surge.ts) keeps what it writes here, not in the container's own directory: on Linux
 * its writable layer until the switch, on FreeBSD its jail's files and root for its whole life.
 */
export function besideDir(dir: string, runId: string): string {
  return join(dir, `next-${runId}`);
}

/** A directory besideDir() named: its run id. */
export const BESIDE_DIR_RE = /^next-([0-9a-f]{8})$/;

/** `vessel up`'s service: the socket where container monitors ask for plans and decisions. */
export function serviceSocket(cfg: VesselConfig): string {
  return join(cfg.run, 'vessel.sock');
}

export function containerPaths(cfg: VesselConfig, name: string) {
  const dir = join(cfg.containers, name);
  return {
    dir,
    ...containerLayout(dir),
    state: join(dir, 'state.json'),
    log: join(dir, 'container.log'),
    lock: join(cfg.run, 'locks', `container.${name}.lock`),
  };
}
