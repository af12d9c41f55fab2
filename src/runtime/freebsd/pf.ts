import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { VesselError, formatCidr6, ipv6InSubnet, isIPv6, networkOf6, run, writeFileAtomic } from '../../util/index.js';
import type { PortPublish } from '../../spec/index.js';
import { NAT_ANCHOR_PARENT, RDR_ANCHOR_PARENT, natAnchor, rdrAnchor, rdrAnchorName, rdrLabel } from './names.js';
import type { Resource } from '../types.js';
import type { Step } from './steps.js';

/**
 * pf: vessel owns two anchor trees and never the main ruleset (peers that rewrite pf.conf draw
 * the most complaints). The admin adds the anchor lines once (`vessel setup pf`); each ruleset is
 * parsed with `pfctl -nf -` before `pfctl -a ANCHOR -f -` replaces the anchor's rules (pfctl(8)).
 */

/** The lines pf.conf needs, in pf.conf(5)'s required order (translation before filtering). */
export function pfConfLines(): string[] {
  return [
    `nat-anchor "${NAT_ANCHOR_PARENT}/*"`,
    `rdr-anchor "${RDR_ANCHOR_PARENT}/*"`,
  ];
}

export function subnetOf(cidr: string): string {
  // `vessel plan` from a spec alone: the address is not leased yet.
  if (cidr.startsWith('<')) return '<subnet>';
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!m) throw new VesselError('E_NETWORK', `address ${JSON.stringify(cidr)}: expected IPv4/prefix`);
  const prefix = Number(m[5]);
  const ip = m.slice(1, 5).reduce((a, o) => a * 256 + Number(o), 0);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (ip & mask) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${prefix}`;
}

export function bareAddress(cidr: string): string {
  return cidr.split('/')[0]!;
}

/**
 * A container's rdr anchor as its state records it, whoever loads its rules (the jail's start, or
 * net/'s switch of published ports): with the addresses of both families whose states go when it
 * is removed (removeAnchor: flushing an anchor keeps its states).
 */
export function rdrResource(container: string, address: string, address6?: string): Resource {
  return {
    kind: 'pf-anchor',
    id: rdrAnchor(container),
    detail: { address: bareAddress(address), ...(address6 !== undefined ? { address6: bareAddress(address6) } : {}) },
  };
}

/** `8080` or, for a range, pf's `8000:8010` (pf.conf(5) PARAMETERS: ":" range including boundaries). */
function pfPorts(first: number, last: number | undefined): string {
  return last === undefined || last === first ? String(first) : `${first}:${last}`;
}

/**
 * The redirect target's port: pf.conf(5) TRANSLATION, "rdr ... port 2000:2999 -> ... port 4000:*
 * redirects port 2000 to 4000, 2001 to 4001, ..., 2999 to 4999" — a range maps port for port with
 * `:*` (without it every port of the range would go to the one port).
 */
function rdrPort(p: PortPublish): string {
  return p.containerPortEnd === undefined || p.containerPortEnd === p.containerPort ? String(p.containerPort) : `${p.containerPort}:*`;
}

/**
 * Redirects of one container, on the external interface only. pf.conf(5): "Host name resolution
 * and interface to address translation are done at ruleset load-time. When the address of an
 * interface changes, the ruleset must be reloaded. For dynamic interface address, surround the
 * interface name in parentheses": `($ext_if)` follows the interface's address, where `self` was
 * expanded once at load. `on $ext_if` keeps the rule off the bridge, where containers' own
 * connections to the host's address would otherwise be redirected too (hairpin surprises).
 * The label names the anchor, so `pfctl -s states` and `-s labels` say whose a state is.
 *
 * A mapping without an address is one rule per family the container has (`inet`, `inet6`: the
 * <af> parameter of pf.conf(5) PARAMETERS, and `($ext_if)` then stands for the interface's
 * addresses of that family); `0.0.0.0` and `::` are one family's wildcard, any other address its
 * own family. Only mappings with their host ports chosen reach here (net/ resolves `-p 80`).
 */
export function renderRdr(container: string, address: string, publish: PortPublish[], address6?: string, extIf?: string): string {
  // A ruleset loaded through `load anchor` cannot use -D macros (see renderRdrSwitch): the interface is then written out.
  const ext = extIf ?? '$ext_if';
  const lines = [`# vessel: published ports of container ${container} (anchor ${rdrAnchor(container)}); ${extIf === undefined ? '$ext_if is set with pfctl -D' : `external interface ${extIf}`}`];
  for (const p of publish) {
    // Only `vessel plan` from a spec sees a host port still to be chosen (net/ resolves it at start).
    if (p.hostPort === 0 || (p.hostPortEnd !== undefined && p.containerPortEnd === undefined)) {
      lines.push(`# ${p.hostPort === 0 ? '' : `${p.hostPort}-${p.hostPortEnd}:`}${p.containerPort}/${p.protocol}: its host port is chosen at start`);
      continue;
    }
    if (p.hostIp !== undefined && isLoopback(p.hostIp)) {
      throw new VesselError('E_SPEC', `[network] publish ${p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp}:${p.hostPort}:${p.containerPort}: pf rdr does not apply to the host's own connections to ${p.hostIp}, so nothing would ever reach the container there`, {
        hint: 'publish without an address (or on the external interface\'s address) and connect to that address; host-originated connections to it also need sysctl net.pf.filter_local=1',
      });
    }
    const hostPorts = pfPorts(p.hostPort, p.hostPortEnd ?? (p.containerPortEnd !== undefined ? p.hostPort + p.containerPortEnd - p.containerPort : undefined));
    for (const [af, target] of [['inet', address], ['inet6', address6]] as const) {
      if (target === undefined || !familyMatches(p.hostIp, af)) continue;
      const to = p.hostIp === undefined || p.hostIp === '0.0.0.0' || p.hostIp === '::' ? `(${ext})` : p.hostIp;
      lines.push(`rdr pass on ${ext} ${af} proto ${p.protocol} from any to ${to} port ${hostPorts} -> ${bareAddress(target)} port ${rdrPort(p)} label "${rdrLabel(container)}"`);
    }
  }
  return lines.join('\n') + '\n';
}

/** One container's side of a switch of published ports: what its rdr anchor holds afterwards. */
export interface RdrSide {
  container: string;
  /** Its address (with or without the prefix), and its IPv6 one on a dual-stack network. */
  address: string;
  address6?: string;
  publish: PortPublish[];
}

/**
 * Published ports moved from one container's rdr anchor to another's in ONE pf transaction —
 * the atomic step of a zero-downtime reload. pf uses the first rdr rule that matches (pf.conf(5),
 * TRANSLATION), walking vessel-rdr/* anchor by anchor, so loading the new container's anchor alone
 * would leave the old one's rule in front until its anchor is flushed, and flushing first would
 * refuse connections in between. So the parent ruleset is loaded with one `load anchor` line per
 * side: pfctl.c pfctl_rules loads those files (pfctl_load_anchors) into the transaction it opened
 * for `-a vessel-rdr` and commits them together (DIOCXCOMMIT). vessel-rdr has no rules of its own
 * (pf.conf's `rdr-anchor "vessel-rdr/*"` evaluates its children only), so replacing them changes
 * nothing. The files name the external interface: parse.y parse_config frees every macro, -D ones
 * included, before pfctl_load_anchors parses them.
 */
export function renderRdrSwitch(sides: RdrSide[], dir: string, extIf: string): { files: Array<{ path: string; content: string }>; transaction: string } {
  const files = sides.map((s) => ({ path: join(dir, `${rdrAnchorName(s.container)}.rdr.conf`), content: renderRdr(s.container, s.address, s.publish, s.address6, extIf) }));
  const transaction = [
    `# vessel: published ports moved between ${sides.map((s) => rdrAnchor(s.container)).join(' and ')}, committed together (pfctl(8) -a, pf.conf(5) load anchor)`,
    ...sides.map((s, i) => `load anchor "${rdrAnchorName(s.container)}" from "${files[i]!.path}"`),
  ].join('\n') + '\n';
  return { files, transaction };
}

/** `pfctl -n` parses the transaction and every file it loads (pfctl_load_anchors runs with -n too) before anything changes. */
export function switchSteps(transaction: string): Step[] {
  return [
    { argv: ['pfctl', '-n', '-a', RDR_ANCHOR_PARENT, '-f', '-'], input: transaction },
    { argv: ['pfctl', '-a', RDR_ANCHOR_PARENT, '-f', '-'], input: transaction },
  ];
}

/** The external interface the rdr rules are bound to: VESSEL_EXT_IF, else the default route's (as a start finds it). */
export async function externalInterface(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.VESSEL_EXT_IF) return env.VESSEL_EXT_IF;
  const r = await run(DEFAULT_ROUTE_PROBE, { allowFailure: true });
  return parseDefaultRoute(r.stdout, r.exitCode);
}

/**
 * The external interface's first IPv4 address (`ifconfig IF inet` lists that family only, one
 * "inet ADDR netmask …" line per address): where the host itself connects to a published port,
 * which pf redirects with net.pf.filter_local=1 (`vessel selftest`'s publish case).
 */
export async function externalAddress(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const ext = await externalInterface(env);
  const r = await run(['ifconfig', ext, 'inet']);
  const m = /^\s*inet (\d+\.\d+\.\d+\.\d+) /m.exec(r.stdout);
  if (!m) throw new VesselError('E_NETWORK', `the external interface ${ext} has no IPv4 address (ifconfig ${ext} inet)`, { hint: 'set VESSEL_EXT_IF to the interface published ports answer on' });
  return m[1]!;
}

/** Render, check and load the switch; the files exist only while pfctl reads them. */
export async function switchRdr(sides: RdrSide[], dir: string): Promise<void> {
  const { files, transaction } = renderRdrSwitch(sides, dir, await externalInterface());
  mkdirSync(dir, { recursive: true });
  try {
    for (const f of files) writeFileAtomic(f.path, f.content);
    for (const step of switchSteps(transaction)) await run(step.argv, { input: step.input });
  } finally {
    for (const f of files) rmSync(f.path, { force: true });
  }
}

function familyMatches(hostIp: string | undefined, af: 'inet' | 'inet6'): boolean {
  return hostIp === undefined || hostIp.includes(':') === (af === 'inet6');
}

/**
 * A connection the host makes to 127.0.0.1 goes out and back in on lo0 and never passes the
 * external interface the rdr rules are bound to (`on $ext_if`); pf.conf(5) setups commonly `set
 * skip on lo0` as well. A host-originated connection to the external address is redirected only
 * with net.pf.filter_local=1. So a publish on loopback would be a port nobody can reach.
 */
function isLoopback(ip: string): boolean {
  return /^127\./.test(ip) || ip === '::1' || ip === 'localhost';
}

/**
 * Outbound NAT of one network; $ext_if is given with `pfctl -D` so the text stays the same on every
 * host. A dual-stack network's ULA subnet is not routed beyond the host either, so it is NATed
 * too (`inet6`). `($ext_if)` of an inet6 rule is the table of the interface's IPv6 addresses,
 * link-local ones included (pf_if.c pfi_instance_add skips them only for `:network`); the NAT
 * takes its address from that table (pfr_dynaddr_update), so the external interface needs a
 * global IPv6 address for IPv6 egress.
 */
export function renderNat(network: string, subnet: string, subnet6?: string): string {
  return [
    `# vessel: outbound NAT of network ${network} (anchor ${natAnchor(network)}); $ext_if is set with pfctl -D`,
    `nat on $ext_if inet from ${subnet} to ! ${subnet} -> ($ext_if)`,
    ...(subnet6 !== undefined ? [`nat on $ext_if inet6 from ${subnet6} to ! ${subnet6} -> ($ext_if)`] : []),
    '',
  ].join('\n');
}

/** The IPv6 subnet of ADDR/PREFIX (`<…>` placeholders of a plan pass through). */
export function subnet6Of(cidr: string): string {
  if (cidr.startsWith('<')) return '<subnet6>';
  const net = networkOf6(cidr);
  if (net === undefined) throw new VesselError('E_NETWORK', `address ${JSON.stringify(cidr)}: expected IPv6/prefix`);
  return formatCidr6(net);
}

export function loadSteps(anchor: string, text: string, macros: Record<string, string> = {}): Step[] {
  const defs = Object.entries(macros).flatMap(([k, v]) => ['-D', `${k}=${v}`]);
  return [
    { argv: ['pfctl', ...defs, '-nf', '-'], input: text },
    { argv: ['pfctl', ...defs, '-a', anchor, '-f', '-'], input: text },
  ];
}

export const DEFAULT_ROUTE_PROBE = ['route', '-n', 'get', '-inet', 'default'];

export function parseDefaultRoute(stdout: string, exitCode: number): string {
  const m = /^\s*interface:\s*(\S+)/m.exec(stdout);
  if (exitCode !== 0 || !m) {
    throw new VesselError('E_NETWORK', 'pf NAT: the host has no IPv4 default route, so there is no interface to NAT to', {
      hint: 'add a default route, or set VESSEL_EXT_IF to the external interface',
    });
  }
  return m[1]!;
}

/**
 * Is pf going to evaluate what vessel loads? pfctl(8) `-a ANCHOR -f -` loads rules even when pf
 * is disabled or no nat-anchor/rdr-anchor of the main ruleset refers to the anchor; then they are
 * never evaluated: no NAT, no published port, and no error. Asked before anything is created.
 */
export const PF_INFO_PROBE = ['pfctl', '-s', 'info'];
export const PF_NAT_PROBE = ['pfctl', '-s', 'nat'];
export const FORWARDING_PROBE = ['sysctl', '-n', 'net.inet.ip.forwarding'];

/** pfctl_parser.c print_status: the first line is "Status: Enabled for …" or "Status: Disabled …". */
export function checkPfEnabled(stdout: string, exitCode: number): void {
  if (exitCode !== 0 || !/^Status: Enabled\b/m.test(stdout)) {
    throw new VesselError('E_UNSUPPORTED', exitCode !== 0
      ? 'pf: `pfctl -s info` failed — the pf module is not loaded, so bridge networks have no NAT and no published ports'
      : 'pf is loaded but not enabled (pfctl -s info: Status: Disabled), so vessel\'s NAT and redirects would never be evaluated', {
      hint: 'sysrc pf_enable=YES && service pf start (or kldload pf && pfctl -e); `vessel setup pf` prints the pf.conf lines',
    });
  }
}

/** The main ruleset must refer to vessel's anchors (`pfctl -s nat` lists the nat-anchor/rdr-anchor lines). */
export function checkAnchorsReferenced(stdout: string, needRdr: boolean): void {
  const missing = pfConfLines().filter((l) => (needRdr || l.startsWith('nat-')) && !stdout.split('\n').some((x) => x.trim().startsWith(l)));
  if (missing.length > 0) {
    throw new VesselError('E_UNSUPPORTED', `pf: the main ruleset has no ${missing.join(' / ')}, so rules vessel loads into its anchors would never be evaluated`, {
      hint: `add to /etc/pf.conf (translation section, before filter rules): ${pfConfLines().join('; ')} — then pfctl -f /etc/pf.conf`,
    });
  }
}

/** Routing between the bridge and the external interface: net.inet.ip.forwarding (gateway_enable). */
export function checkForwarding(stdout: string, exitCode: number): void {
  if (exitCode !== 0 || stdout.trim() !== '1') {
    throw new VesselError('E_UNSUPPORTED', 'bridge networks: net.inet.ip.forwarding is 0, so containers\' traffic is never routed out (NAT) or in (published ports)', {
      hint: 'sysrc gateway_enable=YES && sysctl net.inet.ip.forwarding=1',
    });
  }
}

export async function anchorRules(anchor: string): Promise<string> {
  const r = await run(['pfctl', '-a', anchor, '-s', 'nat'], { allowFailure: true });
  return r.exitCode === 0 ? r.stdout : '';
}

/** The container address a loaded rdr anchor redirects to (`… -> 10.77.3.5 port 80`), and its IPv6 one. */
export function rdrTarget(rules: string): string | undefined {
  return /->\s*(\d+\.\d+\.\d+\.\d+)/.exec(rules)?.[1];
}

export function rdrTarget6(rules: string): string | undefined {
  return /->\s*([0-9a-fA-F]*:[0-9a-fA-F:.]*)\s+port/.exec(rules)?.[1];
}

/**
 * Flushing an anchor keeps its states: pfctl.c `-F all` flushes rules, nat and tables of the
 * anchor and clears states only `if (!*anchorname)`. Established connections would go on to
 * the dead container's address (and to whatever gets that address next), so its states are
 * killed too. Not with `pfctl -k HOST -k HOST`: the kernel matches an inbound state on its wire
 * key (pf_killstates_row: `PF_IN` → `key[PF_SK_WIRE]`), which for a redirected connection holds
 * the host's address, not the container's — the states would survive. Instead every state that
 * shows the container's address (either side, either key) in `pfctl -s states -vv` is killed by
 * its id (`pfctl -k id -k ID/CREATORID`, pfctl.c pfctl_id_kill_states). Two -v: pf_print_state.c
 * prints the `id: … creatorid: …` line only `if (opts & PF_OPT_VERBOSE2)`, which pfctl.c sets for
 * a second -v; with one -v there is no id to kill by.
 */
export const STATES_ARGV = ['pfctl', '-s', 'states', '-vv'];

export interface PfState {
  /** `ID/CREATORID`, as `-k id` takes it. */
  id: string;
  addresses: string[];
}

/**
 * pf_print_state.c output with -vv: a state line with `ADDR:PORT` tokens (IPv6: `ADDR[PORT]`, pf_print_host
 * puts an IPv6 port in brackets), then `   id: HEX creatorid: HEX`.
 */
export function parseStates(stdout: string): PfState[] {
  const out: PfState[] = [];
  let addresses: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      addresses = [
        ...[...line.matchAll(/(\d+\.\d+\.\d+\.\d+):\d+/g)].map((m) => m[1]!),
        ...[...line.matchAll(/([0-9a-fA-F]*:[0-9a-fA-F:.]*)\[\d+\]/g)].map((m) => m[1]!).filter(isIPv6),
      ];
      continue;
    }
    const id = /^\s+id: ([0-9a-f]+) creatorid: ([0-9a-f]+)/.exec(line);
    if (id) out.push({ id: `${id[1]}/${id[2]}`, addresses });
  }
  return out;
}

/** A target that does not parse (a damaged record) matches no state: the anchor goes anyway. */
function inSubnet(ip: string, cidr: string): boolean {
  try {
    if (cidr.includes(':')) return ipv6InSubnet(ip, cidr);
    if (ip.includes(':')) return false;
    if (!cidr.includes('/')) return ip === cidr;
    const [net, len] = cidr.split('/');
    return subnetOf(`${ip}/${len}`) === `${net}/${len}`;
  } catch {
    return false;
  }
}

/** The ids of states that touch ADDRESS (or any address of SUBNET). */
export function statesOf(stdout: string, target: string): string[] {
  return parseStates(stdout).filter((st) => st.addresses.some((a) => inSubnet(a, target))).map((st) => st.id);
}

/** One listing for every target (an address or subnet of either family). */
export async function killStates(...targets: string[]): Promise<void> {
  const r = await run(STATES_ARGV, { allowFailure: true });
  if (r.exitCode !== 0) return;
  const ids = new Set(targets.flatMap((t) => statesOf(r.stdout, t)));
  for (const id of ids) await run(['pfctl', '-k', 'id', '-k', id], { allowFailure: true });
}

/**
 * pfctl(8) `-F all` on the anchor only, then its states (to an address or subnet of either family);
 * absent anchor or disabled pf is not an error here.
 */
export async function removeAnchor(anchor: string, ...stateTargets: Array<string | undefined>): Promise<void> {
  await run(['pfctl', '-a', anchor, '-F', 'all'], { allowFailure: true });
  const targets = stateTargets.filter((t): t is string => t !== undefined);
  if (targets.length > 0) await killStates(...targets);
}

/** The container's rdr anchor if it still has rules, with the addresses its states go to. */
export async function rdrLeftovers(container: string): Promise<Resource[]> {
  const anchor = rdrAnchor(container);
  const rules = await anchorRules(anchor);
  if (rules.trim() === '') return [];
  const address = rdrTarget(rules);
  const address6 = rdrTarget6(rules);
  const detail = { ...(address !== undefined ? { address } : {}), ...(address6 !== undefined ? { address6 } : {}) };
  return [{ kind: 'pf-anchor', id: anchor, ...(Object.keys(detail).length > 0 ? { detail } : {}) }];
}
