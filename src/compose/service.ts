import { resolve } from 'node:path';
import { formatSize, parseCpus, parseInteger, parseSize } from '../spec/index.js';
import { errorMessage } from '../util/index.js';
import { parseDotenv } from './dotenv.js';
import { convertHealth } from './health.js';
import { readText, type Path } from './load.js';
import type { Lookup } from './interpolate.js';
import { convertPort } from './ports.js';
import { emptyDraft, renderDraft, type SpecDraft, type Value } from './render.js';
import type { BuildStep, ConvertedService } from './types.js';
import { asArgv, asBool, asDuration, asList, asMap, asText, asTextList, bad, isMap, type Reader } from './values.js';
import { allMounts, serviceMounts } from './mounts.js';
import { dependsOn, links } from './references.js';
import type { VolumeOut } from './volumes.js';
import { CONVERTED_MARK } from './write.js';

/** What converting one service needs to know about the whole file. */
export interface ProjectContext extends Reader {
  project: string;
  file: string;
  dir: string;
  lookup: Lookup;
  /** Service → its spec's name (undefined: no such service, or one left out by its profiles). */
  specName(service: string): string | undefined;
  /** The profiles of a service left out because none of them is active (undefined: not left out). */
  inactiveProfiles(service: string): string[] | undefined;
  /** Top-level volume key → vessel volume name. */
  volumeName(key: string): string | undefined;
  /** Top-level network key → vessel network name (`default` always exists). */
  networkName(key: string): string | undefined;
  /** Every mount (volume[] line) of a service, for volumes_from: docker copies a container's mount points. */
  mountsOf(service: string): VolumeOut[];
  /** A file-based secret or config → its absolute host path (undefined after reporting it). */
  fileObject(kind: 'secrets' | 'configs', key: string, path: Path): string | undefined;
  unsupported(path: Path, reason: string): void;
  note(text: string): void;
}

/** Every service key, and why vessel leaves the ones it cannot express out. */
const UNSUPPORTED: Record<string, string> = {
  privileged: 'vessel runs no privileged containers (use cap_add)',
  labels: 'vessel keeps no labels',
  logging: 'vessel logs each container to its own file (vessel logs)',
  extra_hosts: 'vessel writes /etc/hosts from the network',
  dns: 'vessel writes resolv.conf from the network',
  dns_search: 'vessel writes resolv.conf from the network',
  dns_opt: 'vessel writes resolv.conf from the network',
  devices: 'vessel gives containers a fixed /dev',
  device_cgroup_rules: 'vessel gives containers a fixed /dev',
  sysctls: 'vessel sets no per-container sysctls',
  external_links: 'services already reach each other by service name',
  platform: 'the image in the store decides the platform',
  pull_policy: 'vessel never pulls at start; pull or import the image first',
  ipc: 'every container has its own IPC namespace',
  pid: 'every container has its own pid namespace',
  userns_mode: 'no user namespaces',
  cgroup_parent: 'vessel places cgroups itself',
  cgroup: 'vessel places cgroups itself',
  isolation: 'no isolation technologies to choose',
  shm_size: 'no /dev/shm size setting',
  storage_opt: 'no storage driver options',
  group_add: 'no supplementary groups setting',
  domainname: 'no NIS domain name setting',
  mac_address: 'vessel assigns interfaces itself',
  runtime: 'vessel is the runtime',
  scale: 'one container per spec',
  cpu_shares: 'vessel limits CPU by quota (cpus)',
  cpu_quota: 'vessel limits CPU by cpus',
  cpu_period: 'vessel limits CPU by cpus',
  cpu_rt_runtime: 'no realtime scheduling limits',
  cpu_rt_period: 'no realtime scheduling limits',
  cpuset: 'no CPU pinning',
  cpu_count: 'vessel limits CPU by cpus',
  cpu_percent: 'vessel limits CPU by cpus',
  mem_reservation: 'vessel sets limits, not reservations',
  memswap_limit: 'no swap limit',
  mem_swappiness: 'no swap setting',
  oom_kill_disable: 'the OOM killer stays on',
  oom_score_adj: 'no OOM score setting',
  blkio_config: 'no block I/O limits',
  credential_spec: 'Windows only',
  develop: 'compose watch is not vessel\'s',
  attach: 'vessel logs each container to its own file',
  annotations: 'no OCI annotations',
  use_api_socket: 'no docker API socket',
  post_start: 'no lifecycle hooks',
  pre_stop: 'no lifecycle hooks',
  gpus: 'no GPU passthrough',
  models: 'no model runner',
  provider: 'no providers',
  label_file: 'vessel keeps no labels',
};

/** Keys converted below, or (init, expose) whose effect vessel has anyway: docs/compose.md. */
const HANDLED = new Set([
  'image', 'build', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'volumes', 'tmpfs', 'networks',
  'network_mode', 'depends_on', 'healthcheck', 'restart', 'deploy', 'mem_limit', 'cpus', 'pids_limit', 'user',
  'working_dir', 'hostname', 'container_name', 'stop_grace_period', 'stop_signal', 'tty', 'stdin_open', 'cap_add',
  'cap_drop', 'security_opt', 'read_only', 'init', 'expose', 'secrets', 'configs', 'ulimits', 'links', 'profiles', 'volumes_from',
]);

function restartOf(ctx: ProjectContext, path: Path, v: unknown): string {
  const t = asText(ctx, path, v);
  if (t === 'no' || t === 'always' || t === 'on-failure' || /^on-failure:\d+$/.test(t)) return t;
  // Under the Emperor a container is stopped by removing its spec: unless-stopped is always.
  if (t === 'unless-stopped') return 'always';
  return bad(ctx, path, `${JSON.stringify(t)} is not a restart policy (no, always, on-failure[:N], unless-stopped)`);
}

function size(ctx: ProjectContext, path: Path, v: unknown): string {
  try {
    return formatSize(parseSize(asText(ctx, path, v)));
  } catch (e) {
    return bad(ctx, path, (e as Error).message);
  }
}

/**
 * pids_limit and deploy.resources.limits.pids → `[limits] maxproc`. A whole number; 0 or less
 * (compose writes -1) is docker's "no limit", which is no maxproc line.
 */
function maxproc(ctx: ProjectContext, path: Path, v: unknown): Value | undefined {
  try {
    const n = parseInteger(asText(ctx, path, v), Number.MIN_SAFE_INTEGER);
    return n > 0 ? { text: String(n) } : undefined;
  } catch (e) {
    return bad(ctx, path, errorMessage(e));
  }
}

function cpus(ctx: ProjectContext, path: Path, v: unknown): string {
  try {
    return `${parseCpus(asText(ctx, path, v))}%`;
  } catch (e) {
    return bad(ctx, path, (e as Error).message);
  }
}

/** environment: a list of K=V / K, or a map (null: take the variable from the environment). */
function environment(ctx: ProjectContext, path: Path, v: unknown, into: Map<string, string>): void {
  if (isMap(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (x === null || x === undefined) {
        const env = ctx.lookup(k);
        if (env !== undefined) into.set(k, env);
      } else into.set(k, asText(ctx, [...path, k], x));
    }
    return;
  }
  asList(ctx, path, v).forEach((x, i) => {
    const t = asText(ctx, [...path, i], x);
    const eq = t.indexOf('=');
    if (eq < 0) {
      const env = ctx.lookup(t);
      if (env !== undefined) into.set(t, env);
    } else into.set(t.slice(0, eq), t.slice(eq + 1));
  });
}

function envFiles(ctx: ProjectContext, path: Path, v: unknown, into: Map<string, string>): void {
  const items = typeof v === 'string' ? [v] : asList(ctx, path, v);
  items.forEach((x, i) => {
    const p = [...path, ...(typeof v === 'string' ? [] : [i])];
    const m = isMap(x) ? x : { path: x };
    const file = resolve(ctx.dir, asText(ctx, [...p, 'path'], m.path));
    const required = m.required === undefined ? true : asBool(ctx, [...p, 'required'], m.required);
    let text: string | undefined;
    try {
      text = readText(file, 'an env file');
    } catch (e) {
      return bad(ctx, p, errorMessage(e));
    }
    // required: false skips a file that is not there, not one that cannot be read.
    if (text === undefined) return required ? bad(ctx, p, `${file}: no such env file`) : undefined;
    const unset = new Set<string>();
    try {
      for (const e of parseDotenv(text, file, ctx.lookup, unset)) into.set(e.key, e.value);
    } catch (e) {
      bad(ctx, p, errorMessage(e));
    }
    for (const name of [...unset].sort()) ctx.note(`${file}: variable ${name} is not set; an empty string was used`);
  });
}

function build(ctx: ProjectContext, path: Path, v: unknown, image: string): BuildStep {
  const m = typeof v === 'string' ? { context: v } : asMap(ctx, path, v);
  const context = resolve(ctx.dir, m.context === undefined ? '.' : asText(ctx, [...path, 'context'], m.context));
  const dockerfile = resolve(context, m.dockerfile === undefined ? 'Dockerfile' : asText(ctx, [...path, 'dockerfile'], m.dockerfile));
  const args: Record<string, string> = {};
  if (m.args !== undefined) {
    const into = new Map<string, string>();
    environment(ctx, [...path, 'args'], m.args, into);
    for (const [k, x] of into) args[k] = x;
  }
  for (const k of Object.keys(m)) {
    if (!['context', 'dockerfile', 'args'].includes(k)) {
      ctx.unsupported([...path, k], k === 'target' ? 'vessel builds one-stage Vesselfiles (Dockerfile syntax)' : 'not a vessel build option');
    }
  }
  return { image, context, dockerfile, args };
}

/** deploy: resources.limits and restart_policy; the rest is swarm's. */
function deploy(ctx: ProjectContext, path: Path, v: unknown, set: (section: keyof SpecDraft['sections'], k: string, val: Value) => void): void {
  const m = asMap(ctx, path, v);
  for (const [k, x] of Object.entries(m)) {
    const p = [...path, k];
    if (k === 'resources') {
      const r = asMap(ctx, p, x);
      for (const [rk, rx] of Object.entries(r)) {
        if (rk !== 'limits') {
          ctx.unsupported([...p, rk], 'vessel sets limits, not reservations');
          continue;
        }
        for (const [lk, lx] of Object.entries(asMap(ctx, [...p, rk], rx))) {
          const lp = [...p, rk, lk];
          if (lk === 'memory') set('limits', 'memory', { text: size(ctx, lp, lx) });
          else if (lk === 'cpus') set('limits', 'cpu', { text: cpus(ctx, lp, lx) });
          else if (lk === 'pids') {
            const n = maxproc(ctx, lp, lx);
            if (n !== undefined) set('limits', 'maxproc', n);
          } else ctx.unsupported(lp, 'not a vessel limit');
        }
      }
    } else if (k === 'restart_policy') {
      const r = asMap(ctx, p, x);
      const cond = r.condition === undefined ? 'any' : asText(ctx, [...p, 'condition'], r.condition);
      const max = r.max_attempts === undefined ? undefined : asText(ctx, [...p, 'max_attempts'], r.max_attempts);
      if (cond === 'none') set('container', 'restart', { text: 'no' });
      else if (cond === 'on-failure') set('container', 'restart', { text: max === undefined ? 'on-failure' : `on-failure:${max}` });
      else if (cond === 'any') set('container', 'restart', { text: 'always' });
      else bad(ctx, [...p, 'condition'], `${JSON.stringify(cond)} is not none, on-failure or any`);
      for (const rk of Object.keys(r)) if (!['condition', 'max_attempts'].includes(rk)) ctx.unsupported([...p, rk], 'vessel restarts with docker\'s back-off, not a fixed delay or window');
    } else if (k === 'replicas') {
      if (Number(x) !== 1) ctx.unsupported(p, 'one container per spec');
    } else if (k === 'mode') {
      // replicated is the default; the number of containers is replicas' business.
      if (asText(ctx, p, x) !== 'replicated') ctx.unsupported(p, 'one container per spec');
    } else ctx.unsupported(p, 'a swarm setting');
  }
}

export function convertService(ctx: ProjectContext, service: string, name: string, v: unknown): ConvertedService {
  const path = ['services', service];
  const svc = asMap(ctx, path, v);
  const d = emptyDraft();
  const set = (section: keyof SpecDraft['sections'], k: string, val: Value) => {
    const list = d.sections[section];
    const i = list.findIndex(([key]) => key === k && !k.endsWith('[]'));
    if (i >= 0) list[i] = [k, val];
    else list.push([k, val]);
  };
  const text = (k: string) => asText(ctx, [...path, k], svc[k]);
  const out: ConvertedService = { service, name, text: '', volumes: [] };

  if (svc.extends !== undefined) {
    // The service is only whole with what it extends; converting the rest would be another service.
    const e = svc.extends;
    const m = typeof e === 'string' ? { service: e } : asMap(ctx, [...path, 'extends'], e);
    const base = asText(ctx, [...path, 'extends', 'service'], m.service);
    const from = m.file === undefined ? 'this file' : asText(ctx, [...path, 'extends', 'file'], m.file);
    bad(ctx, [...path, 'extends'], `vessel does not merge services: this one takes its settings from service ${base} of ${from}; write them out in this service`);
  }
  for (const k of Object.keys(svc)) {
    if (k.startsWith('x-') || HANDLED.has(k)) continue;
    ctx.unsupported([...path, k], UNSUPPORTED[k] ?? 'not a compose service key vessel knows');
  }

  d.comments.push(`${CONVERTED_MARK}${ctx.file}, service ${service}`);
  let image = svc.image === undefined ? undefined : text('image');
  if (svc.build !== undefined) {
    image ??= `${ctx.project}-${service}:latest`;
    out.build = build(ctx, [...path, 'build'], svc.build, image);
    d.comments.push(`built by vessel compose up: vessel build -f ${out.build.dockerfile} -t ${image} ${out.build.context}`);
  }
  if (image === undefined) bad(ctx, path, 'has neither image nor build');
  set('container', 'image', { text: image });
  if (svc.entrypoint !== undefined && svc.entrypoint !== null) set('container', 'entrypoint', { argv: asArgv(ctx, [...path, 'entrypoint'], svc.entrypoint) });
  if (svc.command !== undefined && svc.command !== null) set('container', 'command', { argv: asArgv(ctx, [...path, 'command'], svc.command) });
  if (svc.hostname !== undefined) set('container', 'hostname', { text: text('hostname') });

  const env = new Map<string, string>();
  if (svc.env_file !== undefined) envFiles(ctx, [...path, 'env_file'], svc.env_file, env);
  if (svc.environment !== undefined) environment(ctx, [...path, 'environment'], svc.environment, env);
  for (const [k, x] of env) d.sections.container.push(['env[]', { text: `${k}=${x}` }]);

  if (svc.working_dir !== undefined) set('container', 'workdir', { text: text('working_dir') });
  if (svc.user !== undefined) set('container', 'user', { text: text('user') });

  const mounts = serviceMounts(ctx, service, svc);
  for (const m of allMounts(mounts)) {
    d.sections.container.push(['volume[]', { text: m.line }]);
    if (m.named !== undefined) out.volumes.push(m.named);
  }

  set('container', 'restart', { text: svc.restart === undefined ? 'no' : restartOf(ctx, [...path, 'restart'], svc.restart) });
  if (svc.deploy !== undefined) deploy(ctx, [...path, 'deploy'], svc.deploy, set);
  if (svc.stop_grace_period !== undefined) {
    const p = [...path, 'stop_grace_period'];
    const { ms, rounded } = asDuration(ctx, p, svc.stop_grace_period);
    const seconds = Math.ceil(ms / 1000);
    if (rounded || seconds * 1000 !== ms) {
      ctx.note(`${ctx.where(p)}: services.${service}.stop_grace_period: ${text('stop_grace_period')} taken as ${seconds}s (stop_timeout counts whole seconds)`);
    }
    set('container', 'stop_timeout', { text: String(seconds) });
  }
  if (svc.stop_signal !== undefined) set('container', 'stop_signal', { text: text('stop_signal') });
  if (svc.tty !== undefined && asBool(ctx, [...path, 'tty'], svc.tty)) set('container', 'tty', { text: 'true' });
  if (svc.stdin_open !== undefined && asBool(ctx, [...path, 'stdin_open'], svc.stdin_open)) set('container', 'interactive', { text: 'true' });
  if (svc.read_only !== undefined && asBool(ctx, [...path, 'read_only'], svc.read_only)) ctx.unsupported([...path, 'read_only'], 'vessel has no read-only root');
  const deps = new Map<string, string>();
  if (svc.depends_on !== undefined) dependsOn(ctx, [...path, 'depends_on'], svc.depends_on, deps);
  if (svc.links !== undefined) links(ctx, [...path, 'links'], svc.links, deps);
  // Compose starts a service after those it copies volumes from, as for depends_on.
  for (const from of mounts.from) if (!deps.has(from)) deps.set(from, `${ctx.specName(from)!}:started`);
  for (const dep of deps.values()) d.sections.container.push(['depends_on[]', { text: dep }]);

  network(ctx, path, svc, service, d, out, set);

  if (svc.mem_limit !== undefined) set('limits', 'memory', { text: size(ctx, [...path, 'mem_limit'], svc.mem_limit) });
  if (svc.cpus !== undefined) set('limits', 'cpu', { text: cpus(ctx, [...path, 'cpus'], svc.cpus) });
  if (svc.pids_limit !== undefined) {
    const n = maxproc(ctx, [...path, 'pids_limit'], svc.pids_limit);
    if (n !== undefined) set('limits', 'maxproc', n);
  }
  if (svc.ulimits !== undefined) {
    for (const [k, x] of Object.entries(asMap(ctx, [...path, 'ulimits'], svc.ulimits))) {
      const p = [...path, 'ulimits', k];
      if (k !== 'nofile') {
        ctx.unsupported(p, 'vessel sets only nofile (openfiles)');
        continue;
      }
      const hard = isMap(x) ? x.hard ?? x.soft : x;
      set('limits', 'openfiles', { text: asText(ctx, p, hard) });
    }
  }

  for (const c of asTextList(ctx, [...path, 'cap_add'], svc.cap_add ?? [])) d.sections.security.push(['cap_add[]', { text: c }]);
  for (const c of asTextList(ctx, [...path, 'cap_drop'], svc.cap_drop ?? [])) d.sections.security.push(['cap_drop[]', { text: c }]);
  asTextList(ctx, [...path, 'security_opt'], svc.security_opt ?? []).forEach((o, i) => {
    if (o === 'no-new-privileges' || o === 'no-new-privileges:true') set('security', 'no_new_privileges', { text: 'true' });
    else if (o === 'no-new-privileges:false') set('security', 'no_new_privileges', { text: 'false' });
    else ctx.unsupported([...path, 'security_opt', i], `${JSON.stringify(o)}: vessel sets no_new_privileges only`);
  });

  if (svc.healthcheck !== undefined) d.sections.health.push(...convertHealth(ctx, [...path, 'healthcheck'], svc.healthcheck));
  out.text = renderDraft(d);
  return out;
}

function network(
  ctx: ProjectContext,
  path: Path,
  svc: Record<string, unknown>,
  service: string,
  d: SpecDraft,
  out: ConvertedService,
  set: (section: keyof SpecDraft['sections'], k: string, val: Value) => void,
): void {
  const ports: string[] = [];
  asList(ctx, [...path, 'ports'], svc.ports).forEach((x, i) => ports.push(convertPort(ctx, [...path, 'ports', i], x)));
  if (svc.network_mode !== undefined) {
    const mode = asText(ctx, [...path, 'network_mode'], svc.network_mode);
    if (svc.networks !== undefined) bad(ctx, [...path, 'network_mode'], 'network_mode and networks cannot both be set');
    if (mode === 'host' || mode === 'none') {
      set('network', 'mode', { text: mode });
      if (ports.length > 0) ctx.unsupported([...path, 'ports'], `published ports need a bridge network, not network_mode ${mode}`);
      return;
    }
    if (mode === 'bridge') {
      // docker's default bridge, not the project's network: vessel's default network is its
      // counterpart. No service-name alias: docker's default bridge resolves no names. Not a
      // network of the project either (compose down leaves it).
      set('network', 'name', { text: 'bridge' });
      for (const p of ports) d.sections.network.push(['publish[]', { text: p }]);
      return;
    }
    ctx.unsupported([...path, 'network_mode'], `${JSON.stringify(mode)}: vessel joins host, none, bridge or a named network`);
    return;
  }
  let keys: string[] = ['default'];
  const aliases = [service];
  if (svc.networks !== undefined) {
    if (isMap(svc.networks)) {
      keys = Object.keys(svc.networks);
      for (const [k, x] of Object.entries(svc.networks)) {
        const m = asMap(ctx, [...path, 'networks', k], x);
        if (k === keys[0]) for (const a of asTextList(ctx, [...path, 'networks', k, 'aliases'], m.aliases ?? [])) aliases.push(a);
        for (const nk of Object.keys(m)) if (nk !== 'aliases') ctx.unsupported([...path, 'networks', k, nk], 'vessel leases addresses itself');
      }
    } else keys = asTextList(ctx, [...path, 'networks'], svc.networks);
  }
  if (keys.length === 0) keys = ['default'];
  if (keys.length > 1) ctx.unsupported([...path, 'networks'], `vessel joins one network per container: ${keys[0]} is used, ${keys.slice(1).join(', ')} left out`);
  const net = ctx.networkName(keys[0]!);
  if (net === undefined) bad(ctx, [...path, 'networks'], `${JSON.stringify(keys[0])} is not declared in the top-level networks:`);
  out.network = net;
  set('network', 'name', { text: net });
  for (const p of ports) d.sections.network.push(['publish[]', { text: p }]);
  // Compose services find each other by service name on their network.
  for (const a of [...new Set(aliases)]) if (a !== out.name) d.sections.network.push(['alias[]', { text: a }]);
}
