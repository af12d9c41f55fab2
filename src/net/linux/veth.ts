/**
 * A container's veth pair, in `ip`'s words. The container's monitor makes it with netlink calls
 * (native/linux/netlink.c, the same steps in the same order); these renderings are what `vessel
 * plan` shows. The container end is created directly inside the container's network namespace
 * (`peer name eth0 netns PID`), so it never exists on the host under a name that could clash; the
 * host end is named after the container and joins the bridge with hairpin on, so a container can
 * reach its own published port through the host.
 */
export interface VethPlan {
  hostIf: string;
  containerIf: string;
  bridge: string;
  /** With prefix: 10.77.0.2/24. */
  address: string;
  gateway: string;
  /** Dual-stack: with prefix, fd12:3456:789a:1::2/64, and the bridge's IPv6 address. */
  address6?: string;
  gateway6?: string;
  /** The container's init (a plan shows `<pid>`). */
  pid: number | string;
}

export function renderHostBatch(p: VethPlan): string {
  return [
    `link add ${p.hostIf} type veth peer name ${p.containerIf} netns ${p.pid}`,
    `link set ${p.hostIf} master ${p.bridge}`,
    `link set ${p.hostIf} type bridge_slave hairpin on`,
    `link set ${p.hostIf} up`,
  ].join('\n') + '\n';
}

/** `nodad`: the lease store makes the address unique, and DAD would hold it tentative for a second. */
export function renderContainerBatch(p: VethPlan): string {
  const v6 = p.address6 !== undefined && p.gateway6 !== undefined;
  return [
    `addr add ${p.address} dev ${p.containerIf}`,
    ...(v6 ? [`addr add ${p.address6} dev ${p.containerIf} nodad`] : []),
    `link set ${p.containerIf} up`,
    'link set lo up',
    `route add default via ${p.gateway}`,
    ...(v6 ? [`route add default via ${p.gateway6}`] : []),
  ].join('\n') + '\n';
}
