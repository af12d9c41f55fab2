import { setTimeout as sleep } from 'node:timers/promises';
import { VesselError, errorMessage, isVesselError } from '../util/index.js';

/**
 * Back-off on transient failures: a dropped connection, a server restarting, 5xx and 429
 * answers, throttling. Everything else — wrong credentials, a missing object, a digest
 * mismatch, a full disk — fails at once: retrying cannot fix it and only hides the reason.
 */
const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENOTCONN', 'ETRUNCATED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET',
  'ERR_SSH_CHANNEL_CLOSED',
]);

export class TransientError extends Error {
  readonly transient = true;
}

export function isTransient(e: unknown): boolean {
  if (e instanceof TransientError) return true;
  if (isVesselError(e)) return false;
  const o = e as { code?: unknown; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; name?: string; message?: string; level?: string; cause?: unknown } | null;
  if (!o || typeof o !== 'object') return false;
  if (typeof o.code === 'string' && TRANSIENT_CODES.has(o.code)) return true;
  const status = o.$metadata?.httpStatusCode;
  if (typeof status === 'number' && (status >= 500 || status === 429)) return true;
  if (o.$retryable) return true;
  if (o.name === 'TimeoutError' || o.name === 'RequestTimeout') return true;
  const msg = o.message ?? '';
  if (/socket hang up|ECONNRESET|ECONNREFUSED|EPIPE|premature close|Not connected|No response from server|Connection lost|closed the connection|None of the configured nodes|aborted/i.test(msg)) return true;
  if (o.level === 'client-socket') return true; // ssh2: the socket died
  return o.cause !== undefined && o.cause !== e ? isTransient(o.cause) : false;
}

/**
 * A failure a rerun can continue from: the registry stayed unreachable (withRetry gave up on a
 * transient error). What was fetched and verified so far is kept for it; after any other
 * failure (tampering, a full disk, a corrupt layer) nothing is.
 */
export function isResumable(e: unknown): boolean {
  return isVesselError(e) && e.code === 'E_REGISTRY' && isTransient(e.cause);
}

export interface RetryOptions {
  /** What is being done, for the final message: "upload blob sha256:…". */
  what: string;
  /** The registry, for the final message. */
  where: string;
  attempts?: number;
  baseMs?: number;
  maxMs?: number;
  onRetry?: (attempt: number, e: unknown, delayMs: number) => void;
  /**
   * Once aborted, nothing is tried again and no back-off is waited out: the failure is the
   * signal's reason (whatever the aborted attempt threw on its way out — a reset socket looks
   * transient), so the caller sees a stop from outside, not a registry that went away.
   */
  signal?: AbortSignal;
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const attempts = o.attempts ?? Number(process.env.VESSEL_REGISTRY_ATTEMPTS ?? 5);
  const base = o.baseMs ?? 250;
  const max = o.maxMs ?? 8_000;
  for (let i = 1; ; i++) {
    o.signal?.throwIfAborted();
    try {
      return await fn(i);
    } catch (e) {
      if (o.signal?.aborted) throw o.signal.reason;
      if (!isTransient(e)) throw e;
      if (i >= attempts) {
        throw new VesselError('E_REGISTRY', `${o.where}: ${o.what}: ${errorMessage(e) || String((e as { code?: string }).code)} (gave up after ${attempts} attempts)`, {
          hint: 'the registry is unreachable or keeps dropping the connection; a rerun resumes where this stopped',
          cause: e,
        });
      }
      // Full jitter: concurrent clients hitting a restarting server do not retry in lockstep.
      const delay = Math.round(Math.random() * Math.min(max, base * 2 ** (i - 1)));
      o.onRetry?.(i, e, delay);
      await sleep(delay, undefined, o.signal ? { signal: o.signal } : {}).catch((err: unknown) => {
        throw o.signal?.aborted ? o.signal.reason : err;
      });
    }
  }
}
