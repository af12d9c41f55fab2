import { run } from '../../util/index.js';
import { parseRoutes, parseRoutes6, type HostRoute, type HostRoute6 } from '../ipam.js';

/** Every IPv4 route of the host, all tables: what an automatic subnet must not overlap. */
export async function hostRoutes(): Promise<HostRoute[]> {
  const r = await run(['ip', '-j', '-4', 'route', 'show', 'table', 'all']);
  return parseRoutes(r.stdout);
}

/** Every IPv6 route of the host, all tables (the host's own addresses are /128 local routes). */
export async function hostRoutes6(): Promise<HostRoute6[]> {
  const r = await run(['ip', '-j', '-6', 'route', 'show', 'table', 'all']);
  return parseRoutes6(r.stdout);
}
