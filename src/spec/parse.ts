import { readFile } from 'node:fs/promises';
import { VesselError, hasErrno } from '../util/index.js';
import type { ContainerSpec, HealthCheck, NetworkMode, PortPublish } from './types.js';
import { checkDisabledAlone, parseOnUnhealthy, setHealthTest } from './health.js';
import { normalizeCapability } from './capabilities.js';
import { parseCommand } from './command.js';
import { defaultSpec } from './defaults.js';
import { checkOwnDependencies, parseDependency } from './depends.js';
import { parseEnv } from './env.js';
import { invalid, located } from './fail.js';
import { parseHostname, parseUser, parseWorkdir } from './identity.js';
import { normalizeImage } from './image.js';
import { readIni, type IniEntry } from './ini.js';
import { validateJailParam } from './jail-params.js';
import { nameFromFile, validateName } from './name.js';
import { parseAlias, parseNetworkMode, parseNetworkName, resolveNetwork } from './network.js';
import { checkPublishConflicts, parsePortAcl, parsePublish } from './publish.js';
import { parseRestart, parseWait } from './restart.js';
import { normalizeSignal } from './signal.js';
import { didYouMean } from './suggest.js';
import { parseBool, parseCpus, parseDuration, parseInteger, parsePositiveSize, parseSeconds } from './units.js';
import { parseVolume } from './volume.js';

/** What the parser accumulates before the cross-key checks turn it into a ContainerSpec. */
interface Draft {
  spec: ContainerSpec;
  hasImage: boolean;
  named?: { mode: NetworkMode; name?: string };
  mode?: NetworkMode;
  publish: PortPublish[];
  aliases: string[];
  health?: HealthCheck;
  volumeTargets: Set<string>;
}

interface KeyDef {
  /** `key[] = …` may repeat; scalars may appear once. */
  array?: boolean;
  /** The value is shell words / a JSON array: quotes go to the splitter, not the INI reader. */
  shell?: boolean;
  apply(d: Draft, value: string): void;
}

const health = (d: Draft): HealthCheck => (d.health ??= {});

/** Every section and key a spec may hold, in the order renderSpec writes them. */
const SECTIONS: Record<string, Record<string, KeyDef>> = {
  container: {
    image: { apply: (d, v) => ((d.spec.image = normalizeImage(v)), (d.hasImage = true)) },
    command: { shell: true, apply: (d, v) => (d.spec.command = parseCommand(v)) },
    entrypoint: { shell: true, apply: (d, v) => (d.spec.entrypoint = parseCommand(v)) },
    hostname: { apply: (d, v) => (d.spec.hostname = parseHostname(v)) },
    env: { array: true, apply: (d, v) => d.spec.env.push(parseEnv(v)) },
    workdir: { apply: (d, v) => (d.spec.workdir = parseWorkdir(v)) },
    user: { apply: (d, v) => (d.spec.user = parseUser(v)) },
    volume: {
      array: true,
      apply: (d, v) => {
        const vol = parseVolume(v);
        if (d.volumeTargets.has(vol.target)) invalid(`${JSON.stringify(vol.target)} is already the target of another volume`);
        d.volumeTargets.add(vol.target);
        d.spec.volumes.push(vol);
      },
    },
    restart: { apply: (d, v) => (d.spec.restart = parseRestart(v)) },
    stop_timeout: { apply: (d, v) => (d.spec.stopTimeout = parseSeconds(v)) },
    stop_signal: { apply: (d, v) => (d.spec.stopSignal = normalizeSignal(v)) },
    wait: { apply: (d, v) => (d.spec.wait = parseWait(v)) },
    min_uptime: { apply: (d, v) => (d.spec.minUptime = parseSeconds(v)) },
    tty: { apply: (d, v) => (d.spec.tty = parseBool(v)) },
    interactive: { apply: (d, v) => (d.spec.interactive = parseBool(v)) },
    parent: { apply: (d, v) => (d.spec.parent = validateName(v.trim(), 'parent container name')) },
    depends_on: {
      array: true,
      apply: (d, v) => {
        const deps = [...(d.spec.dependsOn ?? []), parseDependency(v)];
        checkOwnDependencies(d.spec.name, deps);
        d.spec.dependsOn = deps;
      },
    },
  },
  network: {
    mode: { apply: (d, v) => (d.mode = parseNetworkMode(v)) },
    name: { apply: (d, v) => (d.named = parseNetworkName(v)) },
    publish: {
      array: true,
      apply: (d, v) => {
        const p = parsePublish(v);
        checkPublishConflicts([...d.publish, p]);
        d.publish.push(p);
      },
    },
    alias: { array: true, apply: (d, v) => d.aliases.push(parseAlias(v)) },
  },
  limits: {
    memory: { apply: (d, v) => (d.spec.limits.memoryBytes = parsePositiveSize(v)) },
    vmemory: { apply: (d, v) => (d.spec.limits.vmemoryBytes = parsePositiveSize(v)) },
    maxproc: { apply: (d, v) => (d.spec.limits.maxproc = parseInteger(v, 1)) },
    cpu: { apply: (d, v) => (d.spec.limits.cpuPercent = parseCpus(v)) },
    openfiles: { apply: (d, v) => (d.spec.limits.openfiles = parseInteger(v, 1)) },
  },
  jail: {},
  security: {
    portacl: { array: true, apply: (d, v) => d.spec.security.portacl.push(parsePortAcl(v)) },
    cap_add: { array: true, apply: (d, v) => addCapability(d.spec.security.capAdd, v) },
    cap_drop: { array: true, apply: (d, v) => addCapability(d.spec.security.capDrop, v) },
    no_new_privileges: { apply: (d, v) => (d.spec.security.noNewPrivileges = parseBool(v)) },
  },
  health: {
    command: { shell: true, apply: (d, v) => setHealthTest(health(d), { kind: 'exec', argv: parseCommand(v) }) },
    shell: { apply: (d, v) => setHealthTest(health(d), { kind: 'shell', script: v }) },
    disable: {
      apply: (d, v) => {
        // `disable = false` is the default: the image's check (if any) runs.
        if (parseBool(v)) setHealthTest(health(d), { kind: 'none' });
        else health(d);
      },
    },
    interval: { apply: (d, v) => (health(d).intervalMs = parseDuration(v, 1)) },
    timeout: { apply: (d, v) => (health(d).timeoutMs = parseDuration(v, 1)) },
    start_period: { apply: (d, v) => (health(d).startPeriodMs = parseDuration(v)) },
    retries: { apply: (d, v) => (health(d).retries = parseInteger(v, 1)) },
    on_unhealthy: { apply: (d, v) => (health(d).onUnhealthy = parseOnUnhealthy(v)) },
  },
};

function addCapability(list: string[], v: string): void {
  const cap = normalizeCapability(v);
  if (!list.includes(cap)) list.push(cap);
}

/** Section → its keys (`[jail]` takes jail(8) parameters instead; see jail-params.ts). */
export const SPEC_KEYS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  Object.entries(SECTIONS).map(([s, keys]) => [s, Object.keys(keys)]),
);

export interface ParseOptions {
  /** The file the text came from: in every error message and in `source`. */
  file: string;
  /** The container name; default: the file's base name without .ini / .vessel. */
  name?: string;
  /** Accept NAME.ini.off (a disabled spec) and name it NAME. */
  allowOff?: boolean;
}

export function parseSpecText(text: string, opts: ParseOptions): ContainerSpec {
  const file = opts.file;
  const name = located(file, () => (opts.name !== undefined ? validateName(opts.name) : nameFromFile(file, { allowOff: opts.allowOff ?? false })));
  const sections = readIni(text, {
    file,
    isShellKey: (section, key) => SECTIONS[section]?.[key]?.shell === true,
  });
  const d: Draft = { spec: defaultSpec(name, '', 'file'), hasImage: false, publish: [], aliases: [], volumeTargets: new Set() };
  const seen = new Map<string, number>();
  let networkLine: number | undefined;
  let healthLine: number | undefined;

  for (const section of sections) {
    const defs = SECTIONS[section.name];
    if (defs === undefined) {
      throw new VesselError(
        'E_SPEC',
        `${file}:${section.line}: [${section.name}]: unknown section${didYouMean(section.name, Object.keys(SECTIONS), (s) => `[${s}]`)}`,
        { hint: `sections: ${Object.keys(SECTIONS).map((s) => `[${s}]`).join(' ')}` },
      );
    }
    if (section.name === 'network') networkLine ??= section.line;
    if (section.name === 'health') healthLine ??= section.line;
    for (const e of section.entries) {
      const where = `${file}:${e.line}: [${section.name}] ${e.key}`;
      if (section.name === 'jail') {
        applyJail(d, e, where, seen);
        continue;
      }
      const def = defs[e.key];
      if (def === undefined) {
        throw new VesselError('E_SPEC', `${where}: unknown key${didYouMean(e.key, Object.keys(defs))}`, {
          hint: `[${section.name}] keys: ${Object.keys(defs).join(', ')}`,
        });
      }
      located(where, () => {
        if (def.array !== true) {
          if (e.append) invalid(`takes one value; write ${e.key} = …`);
          const first = seen.get(`${section.name}.${e.key}`);
          if (first !== undefined) invalid(`is already set on line ${first}`);
        }
        seen.set(`${section.name}.${e.key}`, e.line);
        if (e.value === '') invalid('is empty');
        def.apply(d, e.value);
      });
    }
  }

  if (!d.hasImage) {
    throw new VesselError('E_SPEC', `${file}: [container] image: missing`, { hint: 'every spec names the image to run, e.g. image = busybox:latest' });
  }
  located(`${file}${networkLine === undefined ? '' : `:${networkLine}`}: [network]`, () => {
    d.spec.network = resolveNetwork({
      ...(d.named ? { named: d.named } : {}),
      ...(d.mode ? { mode: d.mode } : {}),
      publish: d.publish,
      aliases: d.aliases,
    });
  });
  if (d.health !== undefined) {
    const h = d.health;
    located(`${file}:${healthLine ?? 0}: [health]`, () => checkDisabledAlone(h));
    // `[health]` with only `disable = false`: nothing set, the image's check as if no section.
    if (Object.keys(h).length > 0) d.spec.health = h;
  }
  located(`${file}: [security]`, () => checkCapabilityOverlap(d.spec.security.capAdd, d.spec.security.capDrop));
  d.spec.source = file;
  return d.spec;
}

function applyJail(d: Draft, e: IniEntry, where: string, seen: Map<string, number>): void {
  located(where, () => {
    if (e.append) invalid('jail parameters take one value');
    const [key, value] = validateJailParam(e.key, e.value);
    const first = seen.get(`jail.${key}`);
    if (first !== undefined) invalid(`is already set on line ${first}${key === e.key ? '' : ` (as ${key})`}`);
    seen.set(`jail.${key}`, e.line);
    d.spec.jail[key] = value;
  });
}

export function checkCapabilityOverlap(add: readonly string[], drop: readonly string[]): void {
  const both = add.filter((c) => drop.includes(c) && c !== 'ALL');
  if (both.length > 0) invalid(`${both.join(', ')} is both added and dropped`);
}

export async function parseSpecFile(path: string, opts: Omit<ParseOptions, 'file'> = {}): Promise<ContainerSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) throw new VesselError('E_SPEC', `${path}: no such spec file`);
    if (hasErrno(e, 'EISDIR')) throw new VesselError('E_SPEC', `${path}: is a directory, not a spec file`);
    throw new VesselError('E_SPEC', `${path}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  return parseSpecText(text, { ...opts, file: path });
}
