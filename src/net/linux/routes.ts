import { run } from '../../util/index.js';
import { parseRoutes, type HostRoute } from '../ipam.js';

/** Every IPv4 route of the host, all tables: what an automatic subnet must not overlap. */
export async function hostRoutes(): Promise<HostRoute[]> {
  const r = await run(['ip', '-j', '-4', 'route', 'show', 'table', 'all']);
  return parseRoutes(r.stdout);
}
