import { run } from '../../util/index.js';
import type { PortPublish } from '../../spec/index.js';
import { networkRuleComment, ruleComment } from '../names.js';
import type { NetworkRecord } from '../types.js';

/**
 * vessel's nftables table, rendered whole from the network records and swapped in atomically
 * (`add table` + `delete table` + the new table, one `nft -f -` transaction). The table is always
 * exactly what the records say: a crash between a lease and its rules, or a lease removed by
 * `vessel gc`, is repaired by the next apply. No other table is ever read, flushed or changed.
 *
 * Every rule of a container carries the comment "vessel:NAME" and every rule of a network
 * "vessel-net:NAME", so `nft list table` shows who owns what.
 */

function dnatRule(p: PortPublish, address: string, comment: string): string {
  const match = `${p.hostIp && p.hostIp !== '0.0.0.0' ? `ip daddr ${p.hostIp} ` : ''}${p.protocol} dport ${p.hostPort}`;
  return `${match} dnat to ${address}:${p.containerPort} comment "${comment}"`;
}

export function renderRuleset(table: string, networks: NetworkRecord[]): string {
  const out: string[] = [`add table ip ${table}`, `delete table ip ${table}`];
  if (networks.length === 0) return out.join('\n') + '\n';
  const nets = [...networks].sort((a, b) => a.name.localeCompare(b.name));
  const publish: string[] = [];
  const post: string[] = [];
  for (const net of nets) {
    const c = networkRuleComment(net.name);
    // Published ports reached at 127.0.0.1: after DNAT in output the packet leaves through the
    // bridge with a loopback source, which the bridge only routes with route_localnet=1 and which
    // the container cannot answer unless it is rewritten to the gateway.
    post.push(`ip saddr 127.0.0.0/8 oifname "${net.bridge}" masquerade comment "${c}"`);
    // Hairpin: a member reaching a published port of a member of the same network through the host
    // would get the answer straight from the peer (same subnet) and drop it; make the host the source.
    post.push(`ip saddr ${net.subnet} oifname "${net.bridge}" ct status dnat masquerade comment "${c}"`);
    post.push(`ip saddr ${net.subnet} oifname != "${net.bridge}" masquerade comment "${c}"`);
    const leases = Object.values(net.leases).sort((a, b) => a.container.localeCompare(b.container));
    for (const l of leases) for (const p of l.publish) publish.push(dnatRule(p, l.address, ruleComment(l.container)));
  }
  const chain = (name: string, head: string[], rules: string[]) =>
    [`\tchain ${name} {`, ...head.map((h) => `\t\t${h}`), ...rules.map((r) => `\t\t${r}`), '\t}'];
  out.push(
    `table ip ${table} {`,
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
