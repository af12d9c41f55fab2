import { appendFileSync } from 'node:fs';

/**
 * The network of the model FreeBSD host (test/helpers/freebsd.ts), kept from the commands vessel
 * runs — ifconfig(8) on the host and with -j inside a jail, route(8) -j, pfctl(8) anchors — so a
 * probe's connection succeeds only where FreeBSD would route it:
 *
 *   - an epair(4) is a pair: `ifconfig epair create` prints epairNa, whose peer is epairNb, and
 *     renaming an end (`name`, also in the creating command) keeps the pair;
 *   - a jail reaches a host address ADDR when one of its interfaces is an epair end whose peer is
 *     up and a member (`addm`) of a bridge that has ADDR (`ifconfig BRIDGE inet ADDR/N`);
 *   - the host reaches a port a jail publishes through pf's rdr (pf.conf(5) TRANSLATION): pf
 *     enabled, `rdr-anchor "vessel-rdr/*"` in the main ruleset, the rule loaded in the container's
 *     anchor, and — the connection being the host's own — net.pf.filter_local=1, to the external
 *     interface's address.
 */

export interface HostListener {
  address: string;
  port: number;
  /** The report file of the host's probe (`-o FILE`). */
  out: string;
  /** The connection is answered and the listener ends (exit 0). */
  accepted: (peer: string, line: string) => void;
}

export interface JailServer {
  hostname: string;
}

const bare = (cidr: string): string => cidr.split('/')[0]!;

export class ModelNetwork {
  /** Host interfaces' IPv4 addresses (CIDR), bridges' included. */
  readonly addresses = new Map<string, string[]>();
  readonly members = new Map<string, Set<string>>();
  readonly up = new Set<string>();
  readonly peers = new Map<string, string>();
  /** Per jail: its interfaces' IPv4 addresses, in the order configured, and its default route. */
  readonly jailAddresses = new Map<string, Array<{ iface: string; cidr: string }>>();
  readonly jailGateway = new Map<string, string>();
  readonly listeners = new Map<number, HostListener>();
  readonly servers = new Map<string, JailServer>();
  private nextPort = 40000;

  /** `ifconfig epair create` made epairNa/epairNb. */
  paired(a: string, b: string): void {
    this.peers.set(a, b).set(b, a);
  }

  renamed(from: string, to: string): void {
    const peer = this.peers.get(from);
    if (peer !== undefined) {
      this.peers.delete(from);
      this.peers.set(to, peer).set(peer, to);
    }
  }

  destroyed(iface: string): void {
    const peer = this.peers.get(iface);
    for (const i of [iface, ...(peer !== undefined ? [peer] : [])]) {
      this.peers.delete(i);
      this.addresses.delete(i);
      this.members.delete(i);
      this.up.delete(i);
      for (const m of this.members.values()) m.delete(i);
    }
  }

  /** ifconfig(8) on the host: `IF inet CIDR [up|alias]`, `IF addm MEMBER`, `IF up`. */
  hostIfconfig(args: string[]): void {
    const [iface, verb, value] = args as [string, string | undefined, string | undefined];
    if (verb === 'inet' && value !== undefined) this.addresses.set(iface, [...(this.addresses.get(iface) ?? []), value]);
    if (verb === 'addm' && value !== undefined) this.members.set(iface, (this.members.get(iface) ?? new Set()).add(value));
    if (args.includes('up')) this.up.add(iface);
  }

  /** `ifconfig -j JAIL IF inet CIDR up` and `route -j JAIL add -inet default GW`. */
  jailIfconfig(jail: string, args: string[]): void {
    const [iface, verb, value] = args as [string, string | undefined, string | undefined];
    if (verb === 'inet' && value !== undefined) this.jailAddresses.set(jail, [...(this.jailAddresses.get(jail) ?? []), { iface, cidr: value }]);
  }

  jailRoute(jail: string, args: string[]): void {
    if (args[0] === 'add' && args[1] === '-inet' && args[2] === 'default' && args[3] !== undefined) this.jailGateway.set(jail, args[3]);
  }

  jailRemoved(jail: string): void {
    this.jailAddresses.delete(jail);
    this.jailGateway.delete(jail);
    for (const k of [...this.servers.keys()]) if (k.startsWith(`${jail} `)) this.servers.delete(k);
  }

  /** The bridge an interface of JAIL is plugged into through its epair, and the jail's address there. */
  private bridgeOf(jail: string): { bridge: string; source: string } | undefined {
    for (const { iface, cidr } of this.jailAddresses.get(jail) ?? []) {
      const peer = this.peers.get(iface);
      if (peer === undefined || !this.up.has(peer)) continue;
      const bridge = [...this.members].find(([, m]) => m.has(peer))?.[0];
      if (bridge !== undefined) return { bridge, source: bare(cidr) };
    }
    return undefined;
  }

  /** A jail's connection to a host address: the listener's reply, or the errno the probe reports. */
  connectFromJail(jail: string, hostname: string, address: string, port: number): { reply: string } | { error: string } {
    const via = this.bridgeOf(jail);
    if (via === undefined || !(this.addresses.get(via.bridge) ?? []).some((c) => bare(c) === address)) return { error: 'ETIMEDOUT' };
    const l = this.listeners.get(port);
    if (l === undefined || (l.address !== address && l.address !== '0.0.0.0')) return { error: 'ECONNREFUSED' };
    l.accepted(via.source, `hello from ${hostname}`);
    return { reply: 'hello from the host' };
  }

  /** The host's probe listening on ADDR (port 0: one the model picks). */
  listen(address: string, port: number, out: string, onAccept: () => void): HostListener {
    const l: HostListener = {
      address,
      port: port === 0 ? this.nextPort++ : port,
      out,
      accepted: (peer, line) => {
        this.listeners.delete(l.port);
        appendFileSync(out, `accepted ${peer} ${line}\n`);
        onAccept();
      },
    };
    this.listeners.set(l.port, l);
    appendFileSync(out, `listening ${l.port}\n`);
    return l;
  }

  /**
   * The host's own connection to ADDR:PORT through pf rdr: the redirected address and port, or
   * the errno. `pf` is what the model's pfctl knows.
   */
  redirect(address: string, port: number, pf: { enabled: boolean; mainAnchors: string[]; anchors: Map<string, string>; filterLocal: boolean; extAddress: string }): { address: string; port: number } | { error: string } {
    const evaluated = pf.enabled && pf.mainAnchors.some((l) => l.startsWith('rdr-anchor "vessel-rdr/*"'));
    if (!evaluated || !pf.filterLocal || address !== pf.extAddress) return { error: 'ECONNREFUSED' };
    for (const [anchor, rules] of pf.anchors) {
      if (!anchor.startsWith('vessel-rdr/')) continue;
      for (const line of rules.split('\n')) {
        const m = /^rdr pass on \S+ inet proto tcp from any to \S+ port (\d+) -> (\S+) port (\d+)/.exec(line);
        if (m && Number(m[1]) === port) return { address: m[2]!, port: Number(m[3]) };
      }
    }
    return { error: 'ECONNREFUSED' };
  }

  /** The jail that has ADDR on one of its interfaces. */
  jailWith(address: string): string | undefined {
    return [...this.jailAddresses].find(([, as]) => as.some((a) => bare(a.cidr) === address))?.[0];
  }
}
