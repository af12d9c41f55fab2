import { run } from '../../util/index.js';
import { formatPublish, hostFamilies, isDynamicPublish, portCount, type PortPublish } from '../../spec/index.js';
import { networkRuleComment, ruleComment } from '../names.js';
import type { Lease, NetworkRecord } from '../types.js';

/**
 * vessel's nftables table, rendered whole from the network records and swapped in atomically
 * (`add table` + `delete table` + the new table, one `nft -f -` transaction). The table is always
 * exactly what the records say: a crash between a lease and its rules, or a lease removed by
 * `vessel gc`, is repaired by the next apply. No other table is ever read, flushed or changed.
 *
 * One `inet` table serves both families: nat chains of the inet family hook IPv4 and IPv6 alike
 * (nft(8), "ADDRESS FAMILIES"), so a published port is one place for both.
 *
 * Every rule of a container carries the comment "vessel:NAME" and every rule of a network
 * "vessel-net:NAME", so `nft list table` shows who owns what.
 */
export interface RulesetOptions {
  /**
   * Redirects from the host's ::1 can be answered (no br_netfilter for IPv6: linux/sysctl.ts
   * bridgeNfCallsIp6tables). When not, ::1 is left alone: each container's monitor relays its
   * ports there in userland (relay.ts), and a redirect would take the packets from its sockets.
   */
  loopback6: boolean;
}

function ports(first: number, count: number): string {
  return count === 1 ? String(first) : `${first}-${first + count - 1}`;
}

/**
 * The redirect of one mapping to one family of the container. A range keeps its ports when both
 * sides are the same ports; otherwise each host port is mapped to its container port through a
 * map (a DNAT port range would pick any port of it, not the matching one).
 */
function dnatTarget(p: PortPublish, family: 4 | 6, address: string): string {
  const verb = family === 4 ? 'dnat ip to' : 'dnat ip6 to';
  const addr = family === 4 ? address : `[${address}]`;
  const n = portCount(p);
  if (n === 1) return `${verb} ${addr}:${p.containerPort}`;
  if (p.hostPort === p.containerPort) return `${verb} ${address}`;
  const pairs = Array.from({ length: n }, (_, i) => `${p.hostPort + i} : ${p.containerPort + i}`).join(', ');
  return `${verb} ${addr}:${p.protocol} dport map { ${pairs} }`;
}

function matchOf(p: PortPublish, family: 4 | 6): string {
  const ip = p.hostIp;
  if (ip === undefined || ip === '0.0.0.0' || ip === '::') return `meta nfproto ${family === 4 ? 'ipv4' : 'ipv6'}`;
  return `${family === 4 ? 'ip' : 'ip6'} daddr ${ip}`;
}

function publishRules(l: Lease): string[] {
  const comment = ruleComment(l.container);
  const out: string[] = [];
  for (const p of l.publish) {
    // Only `vessel plan` shows a mapping whose host port is still to be chosen.
    if (isDynamicPublish(p)) {
      out.push(`# ${comment}: ${formatPublish(p)} (its host port is chosen at start)`);
      continue;
    }
    for (const family of hostFamilies(p.hostIp)) {
      const address = family === 4 ? l.address : l.address6;
      if (address === undefined) continue; // IPv4-only network: only IPv4 is published
      out.push(`${matchOf(p, family)} ${p.protocol} dport ${ports(p.hostPort, portCount(p))} ${dnatTarget(p, family, address)} comment "${comment}"`);
    }
  }
  return out;
}

export function renderRuleset(table: string, networks: NetworkRecord[], opts: RulesetOptions): string {
  // `table ip NAME` is what vessel loaded before it spoke IPv6: removed for good with the first apply.
  const out: string[] = [`add table ip ${table}`, `delete table ip ${table}`, `add table inet ${table}`, `delete table inet ${table}`];
  if (networks.length === 0) return out.join('\n') + '\n';
  const nets = [...networks].sort((a, b) => a.name.localeCompare(b.name));
  const publish: string[] = [];
  const post: string[] = [];
  const anyV6 = nets.some((n) => n.subnet6 !== undefined);
  if (anyV6 && !opts.loopback6) publish.push('ip6 daddr ::1 return comment "vessel: ::1 is relayed in userland, br_netfilter drops answers to it (docs/networking.md)"');
  for (const net of nets) {
    const c = networkRuleComment(net.name);
    // Published ports reached at 127.0.0.1: after DNAT in output the packet leaves through the
    // bridge with a loopback source, which the bridge only routes with route_localnet=1 and which
    // the container cannot answer unless it is rewritten to the gateway. ::1 likewise (the bridge's
    // `local ::1` route takes the place of route_localnet, linux/bridge.ts).
    post.push(`ip saddr 127.0.0.0/8 oifname "${net.bridge}" masquerade comment "${c}"`);
    if (net.subnet6 !== undefined && opts.loopback6) post.push(`ip6 saddr ::1 oifname "${net.bridge}" masquerade comment "${c}"`);
    // Hairpin: a member reaching a published port of a member of the same network through the host
    // would get the answer straight from the peer (same subnet) and drop it; make the host the source.
    post.push(`ip saddr ${net.subnet} oifname "${net.bridge}" ct status dnat masquerade comment "${c}"`);
    if (net.subnet6 !== undefined) post.push(`ip6 saddr ${net.subnet6} oifname "${net.bridge}" ct status dnat masquerade comment "${c}"`);
    // Outbound: private IPv4 and ULA IPv6 are not routed beyond the host.
    post.push(`ip saddr ${net.subnet} oifname != "${net.bridge}" masquerade comment "${c}"`);
    if (net.subnet6 !== undefined) post.push(`ip6 saddr ${net.subnet6} oifname != "${net.bridge}" masquerade comment "${c}"`);
    const leases = Object.values(net.leases).sort((a, b) => a.container.localeCompare(b.container));
    // a container being stopped takes no new connections (its established ones keep their conntrack entry)
    for (const l of leases) if (l.withdrawn === undefined) publish.push(...publishRules(l));
  }
  const chain = (name: string, head: string[], rules: string[]) =>
    [`\tchain ${name} {`, ...head.map((h) => `\t\t${h}`), ...rules.map((r) => `\t\t${r}`), '\t}'];
  out.push(
    `table inet ${table} {`,
    // `fib daddr type local`: only traffic for one of the host's own addresses is redirected, on
    // any interface (prerouting: from outside and from containers; output: from the host itself).
    ...chain('prerouting', ['type nat hook prerouting priority dstnat; policy accept;'], ['fib daddr type local jump publish']),
    // nft 1.0.6 accepts the name "dstnat" only for prerouting; -100 is the same priority.
    ...chain('output', ['type nat hook output priority -100; policy accept;'], ['fib daddr type local jump publish']),
    ...chain('publish', [], publish),
    ...chain('postrouting', ['type nat hook postrouting priority srcnat; policy accept;'], post),
    '}',
  );
  return out.join('\n') + '\n';
}

export async function applyRuleset(text: string): Promise<void> {
  await run(['nft', '-f', '-'], { input: text });
}
