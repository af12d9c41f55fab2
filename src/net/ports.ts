import { VesselError } from '../util/index.js';
import { formatHostIp, portCount, type PortPublish } from '../spec/index.js';
import { listNetworks } from './store.js';

/**
 * The ports a container publishes, as its lease records them (every host port chosen): what
 * `vessel port`, `vessel ps` and `vessel inspect` show. Pure formatting apart from one read.
 */
export interface PublishedPorts {
  container: string;
  network: string;
  /** The network has IPv6: a mapping without an address answers on both families. */
  dualStack: boolean;
  publish: PortPublish[];
}

export async function publishedPorts(): Promise<PublishedPorts[]> {
  return (await listNetworks()).flatMap((n) =>
    Object.values(n.leases).map((l) => ({ container: l.container, network: n.name, dualStack: n.subnet6 !== undefined, publish: l.publish })),
  );
}

/** The host addresses a mapping answers at, as docker prints them (`0.0.0.0`, `[::]`, `[::1]`). */
function shownAddresses(p: PortPublish, dualStack: boolean): string[] {
  if (p.hostIp === undefined) return dualStack ? ['0.0.0.0', '[::]'] : ['0.0.0.0'];
  return [formatHostIp(p.hostIp)];
}

/**
 * `docker port` lines: one per container port and address, `80/tcp -> 0.0.0.0:32768`; `filter`
 * (`80` or `80/udp`, docker's PRIVATE_PORT[/PROTO]) keeps that port only.
 */
export function portLines(ports: PublishedPorts, filter?: string): string[] {
  let want: { port: number; protocol: string } | undefined;
  if (filter !== undefined) {
    const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(filter);
    if (!m) throw new VesselError('E_USAGE', `port ${JSON.stringify(filter)}: expected PORT or PORT/PROTO, e.g. 80/tcp`);
    want = { port: Number(m[1]), protocol: m[2] ?? 'tcp' };
  }
  const out: string[] = [];
  for (const p of ports.publish) {
    for (let i = 0; i < portCount(p); i++) {
      const c = p.containerPort + i;
      if (want && (want.port !== c || want.protocol !== p.protocol)) continue;
      for (const a of shownAddresses(p, ports.dualStack)) out.push(`${c}/${p.protocol} -> ${a}:${p.hostPort + i}`);
    }
  }
  if (want && out.length === 0) {
    throw new VesselError('E_NOT_FOUND', `container ${ports.container}: no public port ${want.port}/${want.protocol} published`, { hint: `vessel port ${ports.container}` });
  }
  return out;
}

/** `vessel ps`'s PORTS: `8080->80/tcp, [::1]:8000-8010->8000-8010/udp` (no address: every address). */
export function portsSummary(publish: PortPublish[]): string {
  const range = (first: number, n: number) => (n === 1 ? String(first) : `${first}-${first + n - 1}`);
  return publish
    .map((p) => `${p.hostIp === undefined ? '' : `${formatHostIp(p.hostIp)}:`}${range(p.hostPort, portCount(p))}->${range(p.containerPort, portCount(p))}/${p.protocol}`)
    .join(', ');
}
