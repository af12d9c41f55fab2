import { resolve } from 'node:path';
import { VesselError } from '../util/index.js';
import { checkDependencies, dependencyNode, parseSpecText, validateName, validateVolumeName, type DependencyNode } from '../spec/index.js';
import type { ComposeSource, Path } from './load.js';
import { allMounts, serviceMounts } from './mounts.js';
import { convertService, type ProjectContext } from './service.js';
import type { ComposeConversion, Finding } from './types.js';
import { asMap, asText, asTextList, asBool, bad, dotted, isMap } from './values.js';

/**
 * A compose file → one vessel spec per service. Pure apart from reading env_files: the result is
 * text (what `convert -o` writes and the golden tests compare), the keys vessel cannot express,
 * and notes. validateConversion() then reads every spec back with the spec parser and checks the
 * set's dependencies, so what is written is what `vessel up` accepts.
 */
const TOP_LEVEL = new Set(['version', 'name', 'services', 'networks', 'volumes', 'secrets', 'configs']);

function resourceName(
  src: ComposeSource,
  kind: 'networks' | 'volumes',
  key: string,
  v: unknown,
  unsupported: (p: Path, r: string) => void,
): string {
  const m = asMap(src, [kind, key], v);
  const external = m.external !== undefined && (typeof m.external === 'object' ? true : asBool(src, [kind, key, 'external'], m.external));
  const explicit = m.name !== undefined ? asText(src, [kind, key, 'name'], m.name) : undefined;
  const name = explicit ?? (external ? key : `${src.project}_${key}`);
  for (const k of Object.keys(m)) {
    if (['name', 'external'].includes(k)) continue;
    if (kind === 'networks' && k === 'driver' && m.driver === 'bridge') continue;
    unsupported([kind, key, k], kind === 'networks' ? 'vessel networks are bridges with a subnet chosen from its pool' : 'vessel volumes are directories (or ZFS datasets) it manages itself');
  }
  try {
    return kind === 'volumes' ? validateVolumeName(name) : validateName(name, 'network name');
  } catch (e) {
    return bad(src, [kind, key], (e as Error).message);
  }
}

export interface ConvertOptions {
  /** Active profiles (`--profile`); without them COMPOSE_PROFILES (comma-separated); `*` is every profile. */
  profiles?: readonly string[];
}

/**
 * profiles (compose specification): a service with `profiles:` is part of the project only when
 * one of them is active; the others are left out (a note says which), as `docker compose up` does.
 */
function activeProfiles(src: ComposeSource, opts: ConvertOptions): Set<string> {
  const given = opts.profiles !== undefined && opts.profiles.length > 0 ? opts.profiles : (src.lookup('COMPOSE_PROFILES') ?? '').split(',');
  return new Set(given.map((p) => p.trim()).filter((p) => p !== ''));
}

export function convertCompose(src: ComposeSource, opts: ConvertOptions = {}): ComposeConversion {
  const unsupported: Finding[] = [];
  const notes: string[] = src.unset.map((v) => `${src.file}: variable ${v} is not set; an empty string was used`);
  const report = (p: Path, reason: string) => unsupported.push({ path: dotted(p), where: src.where(p), reason });

  for (const k of Object.keys(src.data)) {
    if (k.startsWith('x-') || TOP_LEVEL.has(k)) continue;
    report([k], k === 'include' ? 'convert each included file on its own' : 'not a compose top-level key vessel knows');
  }
  if (src.data.services === undefined) {
    // Version 1 of the format put services at the top level (node-rdkafka's file still does).
    const isService = (v: unknown) => isMap(v) && (v.image !== undefined || v.build !== undefined);
    const legacy = Object.keys(src.data).filter((k) => !k.startsWith('x-') && !TOP_LEVEL.has(k) && isService(src.data[k]));
    if (legacy.length > 0) {
      bad(src, [legacy[0]!], `a service outside services: is the version 1 compose format, which docker compose v2 does not read either; move ${legacy.join(', ')} under services:`);
    }
  }
  const all = asMap(src, ['services'], src.data.services);
  if (Object.keys(all).length === 0) bad(src, ['services'], 'no services to convert');
  const active = activeProfiles(src, opts);
  const inactive = new Map<string, string[]>();
  for (const [service, v] of Object.entries(all)) {
    const m = asMap(src, ['services', service], v);
    if (m.profiles === undefined) continue;
    const profiles = asTextList(src, ['services', service, 'profiles'], m.profiles);
    if (profiles.length === 0 || active.has('*') || profiles.some((p) => active.has(p))) continue;
    inactive.set(service, profiles);
    const which = profiles.length === 1 ? `profile ${profiles[0]!}, which is not` : `profiles ${profiles.join(', ')}, none of which is`;
    notes.push(`${src.where(['services', service, 'profiles'])}: services.${service} is in ${which} active: not converted (--profile ${profiles[0]!} converts it)`);
  }
  const services = Object.fromEntries(Object.entries(all).filter(([service]) => !inactive.has(service)));
  if (Object.keys(services).length === 0) {
    bad(src, ['services'], `no services to convert: every one is in a profile, and none of ${[...new Set([...inactive.values()].flat())].join(', ')} is active`, 'pass --profile NAME (or set COMPOSE_PROFILES)');
  }

  const volumes = new Map<string, string>();
  for (const [k, v] of Object.entries(asMap(src, ['volumes'], src.data.volumes))) volumes.set(k, resourceName(src, 'volumes', k, v, report));
  const networks = new Map<string, string>([['default', `${src.project}_default`]]);
  for (const [k, v] of Object.entries(asMap(src, ['networks'], src.data.networks))) networks.set(k, resourceName(src, 'networks', k, v, report));

  const names = new Map<string, string>();
  for (const [service, v] of Object.entries(services)) {
    const m = asMap(src, ['services', service], v);
    const name = m.container_name !== undefined ? asText(src, ['services', service, 'container_name'], m.container_name) : `${src.project}-${service}`;
    try {
      names.set(service, validateName(name, 'container name'));
    } catch (e) {
      bad(src, ['services', service], `${(e as Error).message} (the container is named ${m.container_name !== undefined ? 'by container_name' : 'PROJECT-SERVICE'})`);
    }
  }
  const taken = new Map<string, string>();
  for (const [service, name] of names) {
    const other = taken.get(name);
    if (other !== undefined) bad(src, ['services', service], `its container name ${name} is also ${other}'s`);
    taken.set(name, service);
  }

  const fileObjects = (kind: 'secrets' | 'configs') => asMap(src, [kind], src.data[kind]);
  const ctx: ProjectContext = {
    project: src.project,
    file: src.file,
    dir: src.dir,
    lookup: src.lookup,
    where: src.where,
    specName: (s) => names.get(s),
    inactiveProfiles: (s) => inactive.get(s),
    volumeName: (k) => volumes.get(k),
    networkName: (k) => networks.get(k),
    fileObject: (kind, key, p) => {
      const def = fileObjects(kind)[key];
      if (def === undefined) bad(src, p, `${kind} ${JSON.stringify(key)} is not declared in the top-level ${kind}:`);
      const m = asMap(src, [kind, key], def);
      if (m.file === undefined) {
        report([kind, key], `only file-based ${kind} can be mounted (vessel has no ${kind} store)`);
        return undefined;
      }
      return resolve(src.dir, asText(src, [kind, key, 'file'], m.file));
    },
    unsupported: report,
    // An env_file several services read gives its note once.
    note: (t) => {
      if (!notes.includes(t)) notes.push(t);
    },
    mountsOf: (service) => {
      // Read again for volumes_from: what the service leaves out is reported when it is converted.
      if (mounting.includes(service)) bad(src, ['services', service, 'volumes_from'], `a volumes_from cycle: ${[...mounting, service].map((s) => `services.${s}`).join(' → ')}`);
      mounting.push(service);
      try {
        return allMounts(serviceMounts({ ...ctx, unsupported: () => undefined, note: () => undefined }, service, asMap(src, ['services', service], services[service])));
      } finally {
        mounting.pop();
      }
    },
  };
  const mounting: string[] = [];
  const converted = Object.entries(services).map(([service, v]) => convertService(ctx, service, names.get(service)!, v));
  const lineOf = (f: Finding) => Number(/:(\d+)$/.exec(f.where)?.[1] ?? 0);
  unsupported.sort((a, b) => lineOf(a) - lineOf(b));
  return { file: src.file, project: src.project, services: converted, unsupported, notes };
}

/** The one line listing every key left out (a warning, or the error under --strict). */
export function formatFindings(file: string, findings: readonly Finding[]): string {
  const n = findings.length;
  return `${file}: ${n} compose key${n === 1 ? '' : 's'} vessel cannot express: ${findings.map((f) => `${f.path} (${/:(\d+)$/.test(f.where) ? `line ${/:(\d+)$/.exec(f.where)![1]}: ` : ''}${f.reason})`).join('; ')}`;
}

/**
 * Every spec read back by the spec parser (errors name the compose service), and the set's
 * dependencies checked (cycles, names, `healthy` without a health check).
 */
export function validateConversion(c: ComposeConversion): void {
  const nodes: DependencyNode[] = [];
  for (const s of c.services) {
    const label = `services.${s.service}`;
    let spec;
    try {
      spec = parseSpecText(s.text, { file: label, name: s.name });
    } catch (e) {
      if (!(e instanceof VesselError)) throw e;
      throw new VesselError(e.code, `${c.file}: ${e.message.replace(new RegExp(`^${label.replace(/\./g, '\\.')}:\\d+: `), `${label}: `)}`, e.hint === undefined ? {} : { hint: e.hint });
    }
    nodes.push({ ...dependencyNode(spec), file: label });
  }
  const errors = checkDependencies(nodes);
  const first = [...errors.keys()].sort()[0];
  if (first !== undefined) throw new VesselError('E_SPEC', `${c.file}: ${errors.get(first)!.replace('[container] depends_on', 'depends_on')}`);
}
