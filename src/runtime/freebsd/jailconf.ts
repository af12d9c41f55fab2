import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VesselError, config, fillTemplate } from '../../util/index.js';
import type { ContainerConfig } from '../types.js';
import { jailName, runFiles, runTag } from './names.js';
import type { JailFloor } from './probe.js';

/**
 * jail.conf rendering (pure). One file per container, from templates/jail.conf. Every value is
 * double-quoted: jail.conf(5) expands `${…}` and backslash escapes inside double quotes, so `\`,
 * `"` and `$` are escaped.
 */

/** How the container reaches the network, decided from the spec and the kernel (VIMAGE or not). */
export type JailNet =
  | { kind: 'vnet'; iface?: string }
  | { kind: 'alias'; iface: string; address: string; address6?: string }
  | { kind: 'inherit' }
  | { kind: 'disabled' };

export interface JailConfInput {
  cfg: ContainerConfig;
  net: JailNet;
  /** devfs ruleset enforced on the jail's /dev (4 = devfsrules_jail, or the container's own). */
  devfsRuleset: number;
  /** The parent's securelevel and enforce_statfs (probe.ts); undefined in a plan. */
  floor?: JailFloor;
  /**
   * Create at securelevel 0 and let a later `jail -m` raise it: a VNET container with portacl
   * sets its own reservedhigh first, which CTLFLAG_SECURE allows only at securelevel <= 0.
   */
  raiseSecurelevelLater?: boolean;
}

/** The securelevel the jail ends up with. */
export function finalSecurelevel(input: JailConfInput): string {
  return atLeastParent(input.cfg, 'securelevel', DEFAULT_SECURELEVEL, input.floor);
}

/** The securelevel `jail -c` creates the jail with (finalSecurelevel unless it is raised later). */
export function createSecurelevel(input: JailConfInput): string {
  const final = finalSecurelevel(input);
  return input.raiseSecurelevelLater === true && !(Number(final) <= 0) ? '0' : final;
}

/** The jail's own children.max: the spec's (an integer ≥ 0, spec/jail-params.ts), else 0. */
export function ownChildrenMax(cfg: ContainerConfig): number {
  return Number(cfg.jail['children.max'] ?? '0');
}

/** vessel's defaults, as the careful peers use them (docs/freebsd.md). */
const DEFAULT_SECURELEVEL = 2;
const DEFAULT_ENFORCE_STATFS = 2;

/**
 * securelevel / enforce_statfs: the spec's value, else vessel's default raised to the parent's
 * (kern_jail.c refuses a child below its parent with EPERM). A spec value below the parent's is
 * a clear error instead of a failed `jail -c`.
 */
function atLeastParent(cfg: ContainerConfig, key: 'securelevel' | 'enforce_statfs', dflt: number, floor: JailFloor | undefined): string {
  const given = cfg.jail[key];
  if (floor === undefined) {
    if (given !== undefined) return given;
    return cfg.parent !== undefined ? `<max(${dflt}, ${key} of ${cfg.parent})>` : String(dflt);
  }
  const min = key === 'securelevel' ? floor.securelevel : floor.enforceStatfs;
  if (given !== undefined) {
    if (Number(given) < min) {
      throw new VesselError('E_SPEC', `[jail] ${key} = ${given}: below ${min}, the ${key} of ${floor.of}; the kernel refuses a jail below its parent (kern_jail.c, EPERM)`, {
        hint: `set ${key} to ${min} or more, or leave it out (vessel then uses max(${dflt}, ${min}))`,
      });
    }
    return given;
  }
  return String(Math.max(dflt, min));
}

/** Parameters vessel sets or that would undo its isolation; the spec's [jail] cannot set them. */
const MANAGED = /^(path|name|jid|dying|parent|persist|nopersist|command|depend|interface|children\.cur|host(\..*)?|ip4(\..*)?|ip6(\..*)?|vnet(\..*)?|mount(\..*)?|exec\..*|stop\..*|allow\.dying)$/;
/** What a spec may set (the spec parser holds the full allowlist; this is the driver's own guard). */
const ALLOWED = /^(allow\.[a-z_]+(\.[a-z_]+)?|securelevel|children\.max|enforce_statfs|devfs_ruleset|osrelease|osreldate|sysv(msg|sem|shm)|linux(\.(osname|osrelease|oss_version))?)$/;

export function checkJailParam(key: string, value: string): void {
  if (MANAGED.test(key)) {
    throw new VesselError('E_SPEC', `[jail] ${key}: is set by vessel and cannot be given in [jail]`);
  }
  if (!ALLOWED.test(key)) {
    throw new VesselError('E_SPEC', `[jail] ${key}: is not an allowed jail parameter`, {
      hint: 'allowed: allow.*, securelevel, children.max, enforce_statfs, devfs_ruleset, osrelease, osreldate, sysv*, linux*',
    });
  }
  if (value === '' || /["\\$\u0000-\u001f\u007f]/.test(value)) {
    throw new VesselError('E_SPEC', `[jail] ${key}: ${JSON.stringify(value)} must be non-empty plain text without quotes, "$" or backslashes`);
  }
}

export function quote(value: string): string {
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

function param(key: string, value?: string): string {
  return value === undefined ? `\t${key};` : `\t${key} = ${quote(value)};`;
}

/** The parameters vessel itself sets, in the order they appear. */
export function jailParams(input: JailConfInput): string[] {
  const { cfg, net } = input;
  const files = runFiles(cfg);
  const spec = cfg.jail;
  for (const [k, v] of Object.entries(spec)) checkJailParam(k, v);
  const own = (k: string, dflt: string): string => spec[k] ?? dflt;
  const lines = [
    param('path', files.rootfs),
    param('host.hostname', cfg.hostname),
    // The jail outlives moments without processes (the command starts after create, and a restart
    // runs it again in the same jail); vessel ends it with `jail -r` at the container's release.
    param('persist'),
    param('exec.clean'),
    ...(createSecurelevel(input) !== finalSecurelevel(input)
      ? [`\t# vessel raises securelevel to ${finalSecurelevel(input)} with jail -m once the VNET's net.inet.ip.portrange.reservedhigh is set (mac_portacl)`]
      : []),
    param('securelevel', createSecurelevel(input)),
    param('enforce_statfs', atLeastParent(cfg, 'enforce_statfs', DEFAULT_ENFORCE_STATFS, input.floor)),
    param('devfs_ruleset', own('devfs_ruleset', String(input.devfsRuleset))),
    param('children.max', own('children.max', '0')),
    param('mount.devfs'),
  ];
  if (cfg.mounts.length > 0) lines.push(param('mount.fstab', files.fstab));
  // vessel sends the stop signal and waits itself (the spec's stop_signal, not always SIGTERM);
  // by the time it runs `jail -r` nothing is left to wait for.
  lines.push(param('stop.timeout', '0'));
  switch (net.kind) {
    case 'vnet':
      lines.push(param('vnet', 'new'));
      if (net.iface !== undefined) lines.push(param('vnet.interface', net.iface));
      break;
    case 'alias':
      // jail(8): "interface|ip-address/netmask" adds the alias before create and removes it after
      // removal; ip6.addr takes the same form ("A list of IPv6 addresses assigned to the jail").
      lines.push(param('ip4.addr', `${net.iface}|${net.address}`));
      lines.push(net.address6 !== undefined ? param('ip6.addr', `${net.iface}|${net.address6}`) : param('ip6', 'disable'));
      break;
    case 'inherit':
      lines.push(param('ip4', 'inherit'), param('ip6', 'inherit'));
      break;
    case 'disabled':
      lines.push(param('ip4', 'disable'), param('ip6', 'disable'));
      break;
  }
  const set = new Set(['securelevel', 'enforce_statfs', 'devfs_ruleset', 'children.max']);
  for (const k of Object.keys(spec).filter((k) => !set.has(k)).sort()) lines.push(param(k, spec[k]));
  return lines;
}

let template: string | undefined;

function jailTemplate(): string {
  template ??= readFileSync(join(config().packageDir, 'templates', 'jail.conf'), 'utf8');
  return template;
}

export function renderJailConf(input: JailConfInput): string {
  const fill: Record<string, string> = {
    // a run beside the running one (a zero-downtime reload) says so: two jails of one container
    container: runTag(input.cfg) === undefined ? input.cfg.name : `${input.cfg.name} (run ${runTag(input.cfg)}, started beside the running one)`,
    jail: jailName(input.cfg),
    params: jailParams(input).join('\n'),
  };
  return fillTemplate(jailTemplate(), fill, 'templates/jail.conf');
}
