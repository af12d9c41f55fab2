import type { ContainerConfig, ExecOptions } from '../types.js';
import { effectiveCapabilities } from './capabilities.js';

/**
 * Renders the configuration vessel-init reads (native/vessel-init.c): records of a key and a fixed
 * number of fields, each NUL-terminated, so no path or value ever needs quoting. Pure.
 */
type Rec = readonly string[];

function encode(records: Rec[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) for (const f of r) parts.push(Buffer.from(f + '\0'));
  return Buffer.concat(parts);
}

export interface RunPaths {
  rootfs: string;
  upper: string;
  work: string;
  scratch: string;
}

export function renderRunConfig(cfg: ContainerConfig, paths: RunPaths, cgroupDirs: string[], opts: { ppid: number; sync: boolean }): Buffer {
  const r: Rec[] = [['ppid', String(opts.ppid)]];
  for (const d of cgroupDirs) r.push(['cgroup', d]);
  r.push(['rootfs', paths.rootfs]);
  for (const l of cfg.root.layers) r.push(['lower', l]);
  if (cfg.root.ephemeral) r.push(['scratch', paths.scratch]);
  else r.push(['upper', paths.upper], ['work', paths.work]);
  r.push(['hostname', cfg.hostname]);
  for (const m of cfg.mounts) {
    if (m.kind === 'bind') r.push(['bind', m.source, m.target, m.readonly ? 'ro' : 'rw']);
    else r.push(['tmpfs', m.target, m.sizeBytes === undefined ? '' : String(m.sizeBytes), m.mode === undefined ? '' : m.mode.toString(8)]);
  }
  r.push(...common(cfg.env, cfg.argv, cfg.workdir, cfg.user, cfg.tty));
  r.push(['wait', cfg.wait]);
  r.push(['net', cfg.network.mode === 'host' ? 'host' : 'own']);
  if (opts.sync) r.push(['sync', '1']);
  r.push(['nnp', cfg.security.noNewPrivileges ? '1' : '0']);
  if (cfg.limits.openfiles !== undefined) r.push(['nofile', String(cfg.limits.openfiles)]);
  r.push(...caps(cfg.security.capAdd, cfg.security.capDrop));
  return encode(r);
}

export function renderExecConfig(targetPid: number, cgroupDirs: string[], opts: ExecOptions, security: { capAdd: string[]; capDrop: string[]; noNewPrivileges: boolean }): Buffer {
  const r: Rec[] = [['target', String(targetPid)]];
  for (const d of cgroupDirs) r.push(['cgroup', d]);
  r.push(...common(opts.env, opts.argv, opts.workdir ?? '/', opts.user ?? '', opts.tty));
  r.push(['nnp', security.noNewPrivileges ? '1' : '0']);
  r.push(...caps(security.capAdd, security.capDrop));
  return encode(r);
}

function common(env: string[], argv: string[], workdir: string, user: string, tty: boolean): Rec[] {
  const r: Rec[] = [];
  for (const e of env) r.push(['env', e]);
  for (const a of argv) r.push(['arg', a]);
  r.push(['cwd', workdir || '/']);
  if (user) r.push(['user', user]);
  if (tty) r.push(['tty', '1']);
  return r;
}

function caps(add: string[], drop: string[]): Rec[] {
  const nums = effectiveCapabilities(add, drop);
  return nums.length === 0 ? [['nocaps', '1']] : nums.map((n) => ['cap', String(n)]);
}
