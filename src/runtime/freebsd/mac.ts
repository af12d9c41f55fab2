import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BESIDE_DIR_RE, VesselError, run } from '../../util/index.js';
import type { ContainerConfig, Resource } from '../types.js';
import { containerIdentity } from './identity.js';

/**
 * mac_portacl(4): lets the container's non-root user bind the low ports its spec names. The
 * policy is host-wide and keyed by numeric uid (the kernel reads `uid:80:tcp:80` itself, no
 * names), so vessel merges its rules into `security.mac.portacl.rules` and takes exactly them
 * out again; every other rule of the admin stays as it was.
 */
export const PORTACL_SYSCTL = 'security.mac.portacl.rules';

/** The uid the container's user has inside its image (identity.ts reads the image's passwd). */
export function containerUid(cfg: ContainerConfig): number {
  const id = containerIdentity(cfg, { rootReady: false });
  if (id === undefined) {
    throw new VesselError('E_SPEC', `[security] portacl: cannot find the uid of user ${JSON.stringify(cfg.user)} before the ZFS root is cloned`, {
      hint: 'mac_portacl(4) rules take numeric ids only: set [container] user = UID[:GID]',
    });
  }
  return id.uid;
}

export function portaclRules(cfg: ContainerConfig): string[] {
  if (cfg.security.portacl.length === 0) return [];
  const uid = containerUid(cfg);
  return cfg.security.portacl.map((p) => `uid:${uid}:${p.protocol}:${p.port}`);
}

export function splitRules(value: string): string[] {
  return value.split(',').map((r) => r.trim()).filter(Boolean);
}

export function mergeRules(current: string, ours: string[]): string {
  const rules = splitRules(current);
  for (const r of ours) if (!rules.includes(r)) rules.push(r);
  return rules.join(',');
}

export function withoutRules(current: string, ours: string[]): string {
  return splitRules(current).filter((r) => !ours.includes(r)).join(',');
}

/** The module is absent when its sysctl is: say how to load it. */
export function checkPortaclModule(exitCode: number): void {
  if (exitCode !== 0) {
    throw new VesselError('E_UNSUPPORTED', `[security] portacl: the mac_portacl module is not loaded (${PORTACL_SYSCTL} does not exist)`, {
      hint: 'kldload mac_portacl, and add mac_portacl_load="YES" to /boot/loader.conf to keep it after reboot',
    });
  }
}

export const RESERVEDHIGH = 'net.inet.ip.portrange.reservedhigh';

/**
 * mac_portacl(4): the ports it grants "must not be included in the range specified by
 * net.inet.ip.portrange.reservedlow and net.inet.ip.portrange.reservedhigh". That range is per
 * VNET (in_pcb.c `VNET_DEFINE(int, ipport_reservedhigh)`): the host's value holds for jails that
 * share the host's stack; a VNET jail starts at 1023 and has its own set to 0 at start instead
 * (render.ts), after which mac_portacl alone decides who binds a low port there.
 */
export function checkReservedHigh(stdout: string, cfg: ContainerConfig): void {
  const high = Number(stdout.trim());
  const low = Math.min(...cfg.security.portacl.map((p) => p.port));
  if (Number.isFinite(high) && high >= low) {
    throw new VesselError('E_UNSUPPORTED', `[security] portacl: port ${low} is below net.inet.ip.portrange.reservedhigh (${high}), so mac_portacl cannot grant it`, {
      hint: 'sysctl net.inet.ip.portrange.reservedhigh=0 (and in /etc/sysctl.conf); mac_portacl then guards ports up to security.mac.portacl.port_high',
    });
  }
}

export async function readRules(): Promise<string | undefined> {
  const r = await run(['sysctl', '-n', PORTACL_SYSCTL], { allowFailure: true });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

export async function writeRules(value: string): Promise<void> {
  await run(['sysctl', `${PORTACL_SYSCTL}=${value}`]);
}

/**
 * Setting a VNET jail's reservedhigh needs the jail at securelevel 0 or below (CTLFLAG_SECURE),
 * and a jail cannot be below its parent: a parent above 0 rules portacl out for VNET children.
 */
export function checkVnetPortacl(floorSecurelevel: number, of: string): void {
  if (floorSecurelevel > 0) {
    throw new VesselError('E_UNSUPPORTED', `[security] portacl: a VNET container must set its own ${RESERVEDHIGH} at securelevel 0 before it is raised, and ${of} is at securelevel ${floorSecurelevel}`, {
      hint: 'run the container at a lower level parent, or without [security] portacl',
    });
  }
}

/** Rules the container's portacl.rules recorded that are still in the host's list. */
export async function portaclLeftovers(file: string): Promise<Resource[]> {
  if (!existsSync(file)) return [];
  const ours = rulesIn(file);
  const current = splitRules((await readRules()) ?? '');
  const present = ours.filter((r) => current.includes(r));
  return present.length > 0 ? [{ kind: 'portacl', id: present.join(','), detail: { file } }] : [];
}

function rulesIn(file: string): string[] {
  return existsSync(file) ? splitRules(readFileSync(file, 'utf8').replace(/\n/g, ',')) : [];
}

/**
 * The rules the container's other run records (RECORD is one run's portacl.rules): two runs of one
 * container beside each other (a zero-downtime reload) add the same host-wide rules, and the one
 * that goes first must leave the other's.
 */
function otherRunsRules(record: string): Set<string> {
  const runDir = dirname(record);
  const containerDir = BESIDE_DIR_RE.test(basename(runDir)) ? dirname(runDir) : runDir;
  let beside: string[] = [];
  try {
    beside = readdirSync(containerDir).filter((d) => BESIDE_DIR_RE.test(d)).map((d) => join(containerDir, d));
  } catch {
    return new Set();
  }
  return new Set([containerDir, ...beside].map((d) => join(d, 'portacl.rules')).filter((f) => f !== record).flatMap(rulesIn));
}

/** Take exactly these rules out again (but those another run of the container still records); every other rule of the admin stays. */
export async function removePortacl(rules: string, record?: string): Promise<void> {
  const current = await readRules();
  if (current === undefined) return;
  const kept = record !== undefined ? otherRunsRules(record) : new Set<string>();
  const next = withoutRules(current, splitRules(rules).filter((r) => !kept.has(r)));
  if (next !== splitRules(current).join(',')) await writeRules(next);
}
