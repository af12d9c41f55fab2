import { hostOs } from '../util/index.js';
import type { Digest, ImageConfig, ImageHealthcheck } from './types.js';

/**
 * The OCI image configuration (image-spec config.md) and its mapping to vessel's ImageConfig.
 * Only the fields vessel uses are typed; anything else read from a foreign config is kept as is.
 */
export interface OciImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, object>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
    Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
  };
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean }>;
  [key: string]: unknown;
}

/** Go's GOARCH names, which OCI uses. */
export function hostArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}

/** The OS imported images are stamped with and pulled for: the host's (util/os, VESSEL_OS seam). */
export { hostOs };

export function toOciConfig(c: ImageConfig): NonNullable<OciImageConfig['config']> {
  const out: NonNullable<OciImageConfig['config']> = {};
  if (c.user !== undefined) out.User = c.user;
  if (c.exposedPorts?.length) out.ExposedPorts = Object.fromEntries(c.exposedPorts.map((p) => [p, {}]));
  if (c.env?.length) out.Env = [...c.env];
  if (c.entrypoint !== undefined) out.Entrypoint = [...c.entrypoint];
  if (c.cmd !== undefined) out.Cmd = [...c.cmd];
  if (c.volumes?.length) out.Volumes = Object.fromEntries(c.volumes.map((v) => [v, {}]));
  if (c.workdir !== undefined) out.WorkingDir = c.workdir;
  if (c.labels && Object.keys(c.labels).length) out.Labels = { ...c.labels };
  if (c.stopSignal !== undefined) out.StopSignal = c.stopSignal;
  if (c.healthcheck !== undefined) {
    const h = c.healthcheck;
    // docker's field names and omitempty: a zero duration is not written.
    out.Healthcheck = {
      Test: [...h.test],
      ...(h.interval ? { Interval: h.interval } : {}),
      ...(h.timeout ? { Timeout: h.timeout } : {}),
      ...(h.startPeriod ? { StartPeriod: h.startPeriod } : {}),
      ...(h.retries ? { Retries: h.retries } : {}),
    };
  }
  return out;
}

export function fromOciConfig(o: OciImageConfig['config'] | undefined): ImageConfig {
  const c: ImageConfig = {};
  if (!o) return c;
  const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? [...(v as string[])] : undefined);
  if (typeof o.User === 'string' && o.User) c.user = o.User;
  if (o.ExposedPorts && typeof o.ExposedPorts === 'object') c.exposedPorts = Object.keys(o.ExposedPorts);
  const env = strings(o.Env);
  if (env?.length) c.env = env;
  const ep = strings(o.Entrypoint);
  if (ep) c.entrypoint = ep;
  const cmd = strings(o.Cmd);
  if (cmd) c.cmd = cmd;
  if (o.Volumes && typeof o.Volumes === 'object') c.volumes = Object.keys(o.Volumes);
  if (typeof o.WorkingDir === 'string' && o.WorkingDir) c.workdir = o.WorkingDir;
  if (o.Labels && typeof o.Labels === 'object') c.labels = { ...o.Labels };
  if (typeof o.StopSignal === 'string' && o.StopSignal) c.stopSignal = o.StopSignal;
  const health = healthcheckOf(o.Healthcheck);
  if (health) c.healthcheck = health;
  return c;
}

/**
 * A foreign config's Healthcheck, kept only when docker would run it: Test ["NONE"], ["CMD", …]
 * or ["CMD-SHELL", script]; durations and retries only when they are whole non-negative numbers.
 * An empty Test is docker's "inherit", which for an image means no check of its own.
 */
function healthcheckOf(h: unknown): ImageHealthcheck | undefined {
  if (!h || typeof h !== 'object') return undefined;
  const r = h as Record<string, unknown>;
  const test = r.Test;
  if (!Array.isArray(test) || !test.every((x): x is string => typeof x === 'string')) return undefined;
  const [kind, ...rest] = test;
  const valid = (kind === 'NONE' && rest.length === 0) || (kind === 'CMD' && rest.length > 0) || (kind === 'CMD-SHELL' && rest.length === 1);
  if (!valid) return undefined;
  const out: ImageHealthcheck = { test: [...test] };
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined);
  const interval = num(r.Interval);
  const timeout = num(r.Timeout);
  const startPeriod = num(r.StartPeriod);
  const retries = num(r.Retries);
  if (interval !== undefined) out.interval = interval;
  if (timeout !== undefined) out.timeout = timeout;
  if (startPeriod !== undefined) out.startPeriod = startPeriod;
  if (retries !== undefined) out.retries = retries;
  return out;
}

/** Key-order-stable JSON, so the same config always has the same digest. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(sortKeys(v));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  }
  return v;
}
