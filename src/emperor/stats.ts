import { connect, type Socket } from 'node:net';
import { VesselError } from '../util/index.js';

/**
 * Client of the Emperor's stats socket (`emperor-stats`). Each connection gets one JSON document
 * and is closed by the Emperor; it also wakes the Emperor's loop, which rescans its directory —
 * that side effect is what `poke()` is for (a rendered file is noticed at once instead of at the
 * next emperor-freq tick).
 */

/** One vassal as uWSGI 2.0.21 reports it (core/emperor.c emperor_send_stats); times are epoch s. */
export interface VassalStats {
  id: string;
  pid: number;
  born: number;
  last_mod: number;
  last_heartbeat: number;
  loyal: number;
  ready: number;
  accepting: number;
  last_loyal: number;
  last_ready: number;
  last_accepting: number;
  first_run: number;
  last_run: number;
  /** Non-zero (the time it was cursed) while the vassal is being stopped. */
  cursed: number;
  zerg: number;
  on_demand: string;
  uid: number;
  gid: number;
  monitor: string;
  respawns: number;
}

export interface BlacklistStats {
  id: string;
  /** Microseconds added to the respawn delay; grows by emperor-throttle ms per unloyal death. */
  throttle_level: number;
  attempt: number;
  first_attempt: number;
  last_attempt: number;
}

export interface EmperorStats {
  version: string;
  pid: number;
  emperor: string[];
  emperor_tyrant?: number;
  throttle_level?: number;
  vassals: VassalStats[];
  blacklist: BlacklistStats[];
}

/** A TCP address (`HOST:PORT`) or a unix socket path, as emperor-stats takes it. */
function connectTo(address: string): Socket {
  const m = /^(.*):(\d+)$/.exec(address);
  if (m && !address.startsWith('/')) return connect({ host: m[1] || '127.0.0.1', port: Number(m[2]) });
  return connect({ path: address });
}

function readAll(address: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connectTo(address);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new VesselError('E_HOST', `emperor stats ${address}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new VesselError('E_HOST', `emperor stats ${address}: ${e.code ?? e.message}`, {
          hint: e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is the Emperor running? start it with `vessel up`' : undefined,
        }),
      );
    });
    sock.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/** Parse the Emperor's stats document; pure, so it is tested on captured output. */
export function parseStats(text: string, source = 'emperor stats'): EmperorStats {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new VesselError('E_HOST', `${source}: not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { vassals?: unknown }).vassals)) {
    throw new VesselError('E_HOST', `${source}: no "vassals" list — is this an Emperor's stats socket?`);
  }
  const d = doc as Partial<EmperorStats> & { vassals: VassalStats[] };
  return {
    version: String(d.version ?? ''),
    pid: Number(d.pid ?? 0),
    emperor: Array.isArray(d.emperor) ? d.emperor.map(String) : [],
    ...(d.emperor_tyrant === undefined ? {} : { emperor_tyrant: Number(d.emperor_tyrant) }),
    ...(d.throttle_level === undefined ? {} : { throttle_level: Number(d.throttle_level) }),
    vassals: d.vassals,
    blacklist: Array.isArray(d.blacklist) ? d.blacklist : [],
  };
}

export async function fetchStats(address: string, timeoutMs = 2000): Promise<EmperorStats> {
  return parseStats(await readAll(address, timeoutMs), `emperor stats ${address}`);
}

/**
 * Wake the Emperor so it rescans its directory now. Never throws: an Emperor that is not running
 * yet will scan the directory when it starts anyway.
 */
export async function poke(address: string, timeoutMs = 1000): Promise<boolean> {
  try {
    await readAll(address, timeoutMs);
    return true;
  } catch {
    return false;
  }
}
