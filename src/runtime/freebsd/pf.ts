import { VesselError } from '../../util/errors.js';
import { run } from '../../util/host.js';
import type { PortPublish } from '../../spec/types.js';
import { NAT_ANCHOR_PARENT, RDR_ANCHOR_PARENT, natAnchor, rdrAnchor } from './names.js';
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
 * Redirects of one container. Without a host address the redirect matches the host's own
 * addresses (`self`, expanded at load) — not `any`, which would also capture the containers'
 * outgoing connections to that port elsewhere.
 */
export function renderRdr(container: string, address: string, publish: PortPublish[]): string {
  const lines = [`# vessel: published ports of container ${container} (anchor ${rdrAnchor(container)})`];
  for (const p of publish) {
    const to = p.hostIp ?? 'self';
    lines.push(`rdr pass inet proto ${p.protocol} from any to ${to} port ${p.hostPort} -> ${bareAddress(address)} port ${p.containerPort}`);
  }
  return lines.join('\n') + '\n';
}

/** Outbound NAT of one network; $ext_if is given with `pfctl -D` so the text stays the same on every host. */
export function renderNat(network: string, subnet: string): string {
  return [
    `# vessel: outbound NAT of network ${network} (anchor ${natAnchor(network)}); $ext_if is set with pfctl -D`,
    `nat on $ext_if inet from ${subnet} to ! ${subnet} -> ($ext_if)`,
    '',
  ].join('\n');
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

export async function anchorHasRules(anchor: string): Promise<boolean> {
  const r = await run(['pfctl', '-a', anchor, '-s', 'nat'], { allowFailure: true });
  return r.exitCode === 0 && r.stdout.trim() !== '';
}

/** pfctl(8) `-F all` on the anchor only; an absent anchor or a disabled pf is not an error here. */
export async function flushAnchor(anchor: string): Promise<void> {
  await run(['pfctl', '-a', anchor, '-F', 'all'], { allowFailure: true });
}
