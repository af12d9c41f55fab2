import { VesselError, run } from '../../util/index.js';
import type { Resource } from '../types.js';
import { epairNames, natAnchor } from './names.js';
import { removeAnchor } from './pf.js';
import type { Step } from './steps.js';

/**
 * VNET networking (epair(4), if_bridge(4), ifconfig(8), route(8)). The epair's host end gets the
 * short name recorded before creation in the same ifconfig(8) process that creates it, so a
 * SIGKILL of vessel can never leave an anonymous `epairNa` behind, and the wrong epair is never
 * destroyed: destroying the named end destroys its peer (epair(4)), whatever the peer is called.
 */

export function epairSteps(container: string, names: { host: string; jail: string }, bridge: string): Step[] {
  return [
    // sbin/ifconfig/ifconfig.c ifconfig(): after `create` the clone callback runs first "so the new
    // device is created and can be used for any remaining arguments" — `name` renames the new
    // epairNa; ifclone.c ifclonecreate prints that name first ("epairNa"), whose peer is epairNb.
    { argv: ['ifconfig', 'epair', 'create', 'name', names.host], capture: { name: 'epair', parse: (r) => (r.stdout.trim().split('\n')[0] ?? '').replace(/a$/, '') } },
    { argv: ['ifconfig', '${epair}b', 'name', names.jail] },
    { argv: ['ifconfig', names.host, 'description', `vessel:${container}`] },
    { argv: ['ifconfig', bridge, 'addm', names.host] },
    { argv: ['ifconfig', names.host, 'up'] },
  ];
}

/**
 * IPv6 on an interface vessel made, before its address: ifconfig(8) `-ifdisabled` (rc.d's
 * network.subr sets `ifdisabled` on new interfaces unless ipv6_activate_all_interfaces, and devd
 * may run it for them), `-accept_rtadv` (a container must not give routes to its peers or the
 * host with a router advertisement; nd6.c already leaves it off on if_bridge), and `no_dad`
 * (sbin/ifconfig/af_inet6.c, ND6_IFF_NO_DAD: the address is leased, so unique, and DAD would keep
 * it tentative for net.inet6.ip6.dad_count seconds).
 */
function inet6Flags(ifconfig: string[]): Step {
  return { argv: [...ifconfig, 'inet6', '-ifdisabled', '-accept_rtadv', 'no_dad'] };
}

/**
 * The network's bridge with its gateway address(es), created by the first container that needs it.
 * ifconfig(8) `alias`: "Establish an additional network address for this interface" — the IPv6
 * gateway joins the IPv4 one instead of replacing it.
 */
export function bridgeSteps(network: string, bridge: string, gatewayCidr: string, gateway6Cidr?: string): Step[] {
  return [
    { argv: ['ifconfig', bridge], probe: true, capture: { name: 'bridge_exists', parse: (r) => (r.exitCode === 0 ? 'yes' : '') } },
    // named in the creating ifconfig(8) process, as the epair (epairSteps): never an anonymous bridgeN
    { argv: ['ifconfig', 'bridge', 'create', 'name', bridge], unless: 'bridge_exists' },
    { argv: ['ifconfig', bridge, 'description', `vessel network ${network}`], unless: 'bridge_exists' },
    { argv: ['ifconfig', bridge, 'inet', gatewayCidr, 'up'], unless: 'bridge_exists' },
    ...(gateway6Cidr !== undefined
      ? [{ ...inet6Flags(['ifconfig', bridge]), unless: 'bridge_exists' }, { argv: ['ifconfig', bridge, 'inet6', gateway6Cidr, 'alias'], unless: 'bridge_exists' }]
      : []),
  ];
}

/**
 * Does this FreeBSD's ifconfig(8) / route(8) take `-j JAIL`? The release that added them is not
 * pinned (13.3/14.0 is believed), so the tool is asked itself, without touching anything: run
 * with `-j` and no value, getopt(3) answers "option requires an argument -- j" where the option
 * exists and "illegal option -- j" where it does not.
 */
export const JAIL_OPTION_PROBES: Array<{ tool: 'ifconfig' | 'route'; argv: string[] }> = [
  { tool: 'ifconfig', argv: ['ifconfig', '-j'] },
  { tool: 'route', argv: ['route', '-j'] },
];

export function checkJailOption(tool: string, stderr: string): void {
  if (/illegal option -- j/.test(stderr)) {
    throw new VesselError('E_UNSUPPORTED', `VNET networking: this FreeBSD's ${tool}(8) has no -j option, which vessel uses to configure the container's end of its epair from the host`, {
      hint: 'ifconfig -j and route -j are in recent releases (believed from 13.3 / 14.0; not pinned): upgrade, or use [network] mode = host',
    });
  }
}

/**
 * Configure the jail's end from the host: ifconfig -j / route -j (probed: JAIL_OPTION_PROBES). A
 * dual-stack network adds the IPv6 address (`alias`, beside the IPv4 one) and route(8)'s
 * `-inet6 default` through the bridge's IPv6 address.
 */
export function insideSteps(jail: string, jailIf?: string, address?: string, gateway?: string, address6?: string, gateway6?: string): Step[] {
  const steps: Step[] = [{ argv: ['ifconfig', '-j', jail, 'lo0', 'inet', '127.0.0.1/8', 'up'] }];
  if (jailIf !== undefined && address !== undefined) steps.push({ argv: ['ifconfig', '-j', jail, jailIf, 'inet', address, 'up'] });
  if (jailIf !== undefined && address6 !== undefined) {
    steps.push(inet6Flags(['ifconfig', '-j', jail, jailIf]), { argv: ['ifconfig', '-j', jail, jailIf, 'inet6', address6, 'alias'] });
  }
  if (gateway !== undefined) steps.push({ argv: ['route', '-j', jail, 'add', '-inet', 'default', gateway] });
  if (gateway6 !== undefined) steps.push({ argv: ['route', '-j', jail, 'add', '-inet6', 'default', gateway6] });
  return steps;
}

/** Kernels without VIMAGE: the address becomes an alias on a cloned lo1 (jail(8) ip4.addr "lo1|ADDR"). */
export function loopbackSteps(iface: string): Step[] {
  return [
    { argv: ['ifconfig', iface], probe: true, capture: { name: 'lo_exists', parse: (r) => (r.exitCode === 0 ? 'yes' : '') } },
    { argv: ['ifconfig', iface, 'create'], unless: 'lo_exists' },
    { argv: ['ifconfig', iface, 'up'], unless: 'lo_exists' },
  ];
}

export async function interfaceExists(name: string): Promise<boolean> {
  return (await run(['ifconfig', name], { allowFailure: true })).exitCode === 0;
}

/** Destroying either end of an epair destroys both (epair(4)). */
export async function destroyInterface(name: string): Promise<void> {
  await run(['ifconfig', name, 'destroy']);
}

export async function listInterfaces(): Promise<string[]> {
  const r = await run(['ifconfig', '-l'], { allowFailure: true });
  return r.exitCode === 0 ? r.stdout.trim().split(/\s+/).filter(Boolean) : [];
}

/** The container's epair if a crashed run left it: by the names epairNames() gave it before creation. */
export async function epairLeftovers(container: string): Promise<Resource[]> {
  const ep = epairNames(container);
  const ifs = await listInterfaces();
  if (ifs.includes(ep.host)) return [{ kind: 'interface', id: ep.host, detail: { peer: ep.jail, type: 'epair' } }];
  if (ifs.includes(ep.jail)) return [{ kind: 'interface', id: ep.jail, detail: { type: 'epair' } }];
  return [];
}

/** Destroy an interface vessel created (an epair end: both go, epair(4)); absent is fine. */
export async function removeEpair(name: string): Promise<void> {
  if (await interfaceExists(name)) await destroyInterface(name);
}

/**
 * A network's own resources, for the network layer (`vessel network rm`, an unused automatic
 * network): its NAT anchor and its bridge. Idempotent.
 */
export async function removeNetworkPlumbing(network: string, bridge: string, subnet?: string, subnet6?: string): Promise<void> {
  await removeAnchor(natAnchor(network), subnet, subnet6);
  await removeEpair(bridge);
}
