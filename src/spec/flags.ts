import type { ContainerSpec, HealthCheck, NetworkMode, Volume } from './types.js';
import { checkDisabledAlone } from './health.js';
import { parseCommand, splitCommand } from './command.js';
import { defaultSpec } from './defaults.js';
import { parseEnvFlag } from './env.js';
import { invalid, located } from './fail.js';
import { parseHostname, parseUser, parseWorkdir } from './identity.js';
import { normalizeImage } from './image.js';
import { generateName, validateName } from './name.js';
import { parseNetworkName, resolveNetwork } from './network.js';
import { checkPublishConflicts, parsePublish } from './publish.js';
import { parseRestart, parseWait } from './restart.js';
import { normalizeSignal } from './signal.js';
import { parseCpus, parseDuration, parseInteger, parsePositiveSize, parseSeconds } from './units.js';
import { checkVolumeTargets, parseTmpfs, parseVolume } from './volume.js';

/**
 * The `vessel run` flags (docker's names), as the CLI hands them over: strings as typed,
 * repeatable flags as arrays. specFromFlags validates and normalizes them into the same
 * ContainerSpec an INI file gives; errors name the flag (`--memory: "12Q" is not a size`).
 */
export interface RunFlags {
  /** --name; default: the image's name plus random hex. */
  name?: string;
  /** IMAGE (positional). */
  image: string;
  /** CMD… (positional, argv as given). Empty or absent: the image's CMD. */
  command?: string[];
  /** -e/--env K=V, or K to copy the caller's variable. */
  env?: string[];
  /** -v/--volume SRC:DST[:ro|rw] (relative SRC: against cwd) or tmpfs:DST[:…]. */
  volume?: string[];
  /** --tmpfs DST[:size=…][,mode=…]. */
  tmpfs?: string[];
  /** -w/--workdir. */
  workdir?: string;
  /** -u/--user NAME|UID[:GID]. */
  user?: string;
  hostname?: string;
  /** --memory 64M. */
  memory?: string;
  /** --pids N (maxproc). */
  pids?: string | number;
  /** --cpus 50% or 0.5 (cores). */
  cpus?: string | number;
  /** --restart always|on-failure[:N]|no (default no). */
  restart?: string;
  /** --network none|host|bridge|NAME. */
  network?: string;
  /** -p/--publish [IP:]HOST:CONTAINER[/tcp|udp]. */
  publish?: string[];
  /** -t */
  tty?: boolean;
  /** -i */
  interactive?: boolean;
  /** --stop-timeout SECONDS. */
  stopTimeout?: string | number;
  /** --stop-signal SIGNAL. */
  stopSignal?: string;
  /** --wait all|main. */
  wait?: string;
  /** --entrypoint: shell words ('' clears the image's entrypoint, as in docker) or an argv. */
  entrypoint?: string | string[];
  /** --health-cmd: a shell command (docker's CMD-SHELL, run by /bin/sh -c). */
  healthCmd?: string;
  /** --health-interval 30s. */
  healthInterval?: string;
  /** --health-timeout 30s. */
  healthTimeout?: string;
  /** --health-retries N. */
  healthRetries?: string | number;
  /** --health-start-period 0s. */
  healthStartPeriod?: string;
  /** --no-healthcheck: the image's HEALTHCHECK does not run. */
  noHealthcheck?: boolean;
  /** Directory relative -v sources resolve against (default process.cwd()). */
  cwd?: string;
  /** Environment bare -e K copies from (default process.env). */
  environ?: Record<string, string | undefined>;
}

/** The flag as the user typed it, for error messages. */
const FLAG: Record<keyof RunFlags, string> = {
  name: '--name', image: 'IMAGE', command: 'COMMAND', env: '--env', volume: '--volume', tmpfs: '--tmpfs',
  workdir: '--workdir', user: '--user', hostname: '--hostname', memory: '--memory', pids: '--pids',
  cpus: '--cpus', restart: '--restart', network: '--network', publish: '--publish', tty: '--tty',
  interactive: '--interactive', stopTimeout: '--stop-timeout', stopSignal: '--stop-signal', wait: '--wait',
  entrypoint: '--entrypoint', cwd: 'cwd', environ: 'environ', healthCmd: '--health-cmd',
  healthInterval: '--health-interval', healthTimeout: '--health-timeout', healthRetries: '--health-retries',
  healthStartPeriod: '--health-start-period', noHealthcheck: '--no-healthcheck',
};

const HEALTH_FLAGS = ['healthCmd', 'healthInterval', 'healthTimeout', 'healthRetries', 'healthStartPeriod'] as const;

/** The --health-* flags on top of the spec's [health]: each flag replaces its key, as in docker. */
function applyHealthFlags(base: HealthCheck | undefined, f: Partial<RunFlags>): HealthCheck | undefined {
  const given = HEALTH_FLAGS.filter((k) => f[k] !== undefined);
  if (f.noHealthcheck === true) {
    // docker: "--no-healthcheck conflicts with --health-* options"
    if (given.length > 0) at('noHealthcheck', () => invalid(`conflicts with ${given.map((k) => FLAG[k]).join(', ')}`));
    return { test: { kind: 'none' } };
  }
  if (given.length === 0) return base;
  const h: HealthCheck = { ...base };
  if (f.healthCmd !== undefined) {
    if (f.healthCmd.trim() === '') at('healthCmd', () => invalid('is empty'));
    // The flag replaces whatever the spec file runs (its command, shell or disable).
    h.test = { kind: 'shell', script: f.healthCmd };
  }
  if (f.healthInterval !== undefined) h.intervalMs = at('healthInterval', () => parseDuration(f.healthInterval!, 1));
  if (f.healthTimeout !== undefined) h.timeoutMs = at('healthTimeout', () => parseDuration(f.healthTimeout!, 1));
  if (f.healthStartPeriod !== undefined) h.startPeriodMs = at('healthStartPeriod', () => parseDuration(f.healthStartPeriod!));
  if (f.healthRetries !== undefined) h.retries = at('healthRetries', () => parseInteger(f.healthRetries!, 1));
  at(given[0]!, () => located('the spec\'s [health]', () => checkDisabledAlone(h)));
  return h;
}

function at<T>(flag: keyof RunFlags, fn: () => T): T {
  return located(FLAG[flag], fn);
}

function entrypointOf(v: string | string[]): string[] {
  if (Array.isArray(v)) return v;
  return v.trim() === '' ? [] : (v.trim().startsWith('[') ? parseCommand(v) : splitCommand(v));
}

/** Apply the given flags on top of `spec` (a copy is returned; `spec` is not touched). */
function applyFlags(base: ContainerSpec, f: Partial<RunFlags>): ContainerSpec {
  const spec: ContainerSpec = structuredClone(base);
  if (f.name !== undefined) spec.name = at('name', () => validateName(f.name!));
  if (f.image !== undefined) spec.image = at('image', () => normalizeImage(f.image!));
  if (f.command !== undefined && f.command.length > 0) spec.command = [...f.command];
  if (f.entrypoint !== undefined) spec.entrypoint = at('entrypoint', () => entrypointOf(f.entrypoint!));
  if (f.hostname !== undefined) spec.hostname = at('hostname', () => parseHostname(f.hostname!));
  if (f.workdir !== undefined) spec.workdir = at('workdir', () => parseWorkdir(f.workdir!));
  if (f.user !== undefined) spec.user = at('user', () => parseUser(f.user!));
  const environ = f.environ ?? process.env;
  for (const e of f.env ?? []) {
    const kv = at('env', () => parseEnvFlag(e, environ));
    if (kv !== undefined) spec.env.push(kv);
  }
  const added: Volume[] = [
    ...(f.volume ?? []).map((v) => at('volume', () => parseVolume(v, { cwd: f.cwd ?? process.cwd() }))),
    ...(f.tmpfs ?? []).map((v) => at('tmpfs', () => parseTmpfs(v))),
  ];
  if (added.length > 0) {
    // A flag volume on a path the spec already mounts replaces it: the command line wins.
    spec.volumes = [...spec.volumes.filter((v) => !added.some((a) => a.target === v.target)), ...added];
    at('volume', () => checkVolumeTargets(spec.volumes));
  }
  if (f.memory !== undefined) spec.limits.memoryBytes = at('memory', () => parsePositiveSize(f.memory!));
  if (f.pids !== undefined) spec.limits.maxproc = at('pids', () => parseInteger(f.pids!, 1));
  if (f.cpus !== undefined) spec.limits.cpuPercent = at('cpus', () => parseCpus(f.cpus!));
  if (f.restart !== undefined) spec.restart = at('restart', () => parseRestart(f.restart!));
  if (f.stopTimeout !== undefined) spec.stopTimeout = at('stopTimeout', () => parseSeconds(f.stopTimeout!));
  if (f.stopSignal !== undefined) spec.stopSignal = at('stopSignal', () => normalizeSignal(f.stopSignal!));
  if (f.wait !== undefined) spec.wait = at('wait', () => parseWait(f.wait!));
  const health = applyHealthFlags(spec.health, f);
  if (health === undefined) delete spec.health;
  else spec.health = health;
  if (f.tty !== undefined) spec.tty = f.tty;
  if (f.interactive !== undefined) spec.interactive = f.interactive;

  if (f.network !== undefined || f.publish !== undefined) {
    const publish = [...spec.network.publish, ...(f.publish ?? []).map((p) => at('publish', () => parsePublish(p)))];
    at('publish', () => checkPublishConflicts(publish));
    // Without --network, keep the spec's network; `none` is also what an absent [network] gives,
    // so -p on top of it joins the default network, as docker's -p does.
    const current = spec.network;
    const named: { mode: NetworkMode; name?: string } | undefined =
      f.network !== undefined ? at('network', () => parseNetworkName(f.network!))
        : current.mode === 'none' ? undefined
          : current.name !== undefined ? { mode: current.mode, name: current.name } : { mode: current.mode };
    const aliases = named === undefined || named.mode === 'bridge' ? current.aliases : [];
    spec.network = at(f.network !== undefined ? 'network' : 'publish', () =>
      resolveNetwork({ ...(named ? { named } : {}), publish, aliases }),
    );
  }
  return spec;
}

export function specFromFlags(flags: RunFlags): ContainerSpec {
  if (flags.image === undefined || flags.image === '') invalid('IMAGE: missing (vessel run [OPTIONS] IMAGE [COMMAND…])');
  const image = at('image', () => normalizeImage(flags.image));
  const name = flags.name !== undefined ? at('name', () => validateName(flags.name!)) : generateName(image);
  const { name: _n, image: _i, ...rest } = flags;
  const spec = applyFlags(defaultSpec(name, image, 'flags'), rest);
  delete spec.source;
  return spec;
}

/**
 * `vessel run --spec FILE` plus flags: scalars given on the command line replace the file's,
 * -e / -p append, -v / --tmpfs append (replacing a volume on the same container path).
 */
export function mergeFlags(base: ContainerSpec, flags: Partial<RunFlags>): ContainerSpec {
  return applyFlags(base, flags);
}
