import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { VesselError, errorMessage, isIPv4, type Log } from '../util/index.js';
import { effectiveStatus, listStates, sampleUsage } from '../supervise/index.js';
import { renderMetrics, type ContainerSnapshot, type MetricsInput } from './metrics.js';
import { fetchStats } from './stats.js';

/**
 * The metrics endpoint `vessel up` serves when asked (`--metrics ADDR`, VESSEL_METRICS): GET
 * /metrics answers with the Prometheus text of this moment, collected per scrape from the state
 * files, each running container's usage (its driver) and the Emperor's stats socket. Loopback
 * only unless told otherwise: the page names every container, its image and what it uses.
 */

export interface MetricsOptions {
  /** HOST:PORT or [IPV6]:PORT. */
  address: string;
  allowRemote: boolean;
  /** Where the address came from, for error lines: `--metrics`, `VESSEL_METRICS` … */
  source: string;
  /** The Emperor's stats socket. */
  statsSocket: string;
  log?: Log;
}

export interface MetricsServer {
  /** The address actually bound (PORT 0 picks a free one). */
  url: string;
  close(): Promise<void>;
}

/** Prometheus' own content type for the text format 0.0.4. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIPv4(host) && host.startsWith('127.'));
}

/** `127.0.0.1:9101`, `[::1]:9101`, `localhost:9101`; a host other than loopback only with allowRemote. */
export function parseMetricsAddress(text: string, allowRemote: boolean, source: string): { host: string; port: number } {
  const where = `${source} ${JSON.stringify(text)}`;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new VesselError('E_USAGE', `${where}: expected HOST:PORT, e.g. 127.0.0.1:9101 or [::1]:9101`);
  const host = m[1] ?? m[2] ?? '';
  if (host === '') throw new VesselError('E_USAGE', `${where}: name the address to listen on, e.g. 127.0.0.1:${port}`);
  if (!allowRemote && !isLoopback(host)) {
    throw new VesselError('E_USAGE', `${where}: ${host} is not a loopback address, and the metrics name every container, its image and its usage`, {
      hint: 'listen on 127.0.0.1 or [::1] (and scrape through a proxy), or allow it with --metrics-allow-remote (VESSEL_METRICS_ALLOW_REMOTE=1)',
    });
  }
  return { host, port };
}

/** Everything the page shows, read now. Never throws: what cannot be read is left out (vessel_emperor_up 0). */
export async function collectMetrics(statsSocket: string): Promise<MetricsInput> {
  const states = await listStates();
  const containers = await Promise.all(states.map(async (state): Promise<ContainerSnapshot> => {
    const status = effectiveStatus(state);
    const sample = status === 'running' ? await sampleUsage(state) : undefined;
    return { state, status, ...(sample ? { stats: sample.stats } : {}) };
  }));
  const emperor = await fetchStats(statsSocket, 1000).catch(() => undefined);
  return { containers, ...(emperor ? { emperor } : {}) };
}

export async function serveMetrics(opts: MetricsOptions): Promise<MetricsServer> {
  const { host, port } = parseMetricsAddress(opts.address, opts.allowRemote, opts.source);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('vessel metrics are at /metrics\n');
      return;
    }
    collectMetrics(opts.statsSocket).then(
      (input) => {
        const body = renderMetrics(input);
        res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (e: unknown) => {
        opts.log?.warn({ err: errorMessage(e) }, 'metrics: cannot collect');
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${errorMessage(e)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(new VesselError(e.code === 'EADDRINUSE' ? 'E_IN_USE' : 'E_HOST', `${opts.source} ${opts.address}: cannot listen: ${e.code ?? e.message}`));
    });
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}/metrics`;
  opts.log?.info({ url }, 'metrics served');
  return {
    url,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
