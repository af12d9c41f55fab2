/** `vessel doctor`: per feature, can this host run it, and what to do if not. */
import { config, hostOs, type OsName } from '../util/index.js';
import type { DoctorReport } from './types.js';

export type * from './types.js';
export { renderDoctor } from './render.js';

export async function runDoctor(opts: { os?: OsName; env?: NodeJS.ProcessEnv; nodeVersion?: string } = {}): Promise<DoctorReport> {
  const env = opts.env ?? process.env;
  const os = opts.os ?? hostOs(env);
  const node = opts.nodeVersion ?? process.version;
  if (os === 'freebsd') {
    const { freebsdChecks } = await import('./freebsd.js');
    return { os, checks: await freebsdChecks(env, node) };
  }
  const { linuxChecks } = await import('./linux.js');
  return { os, checks: await linuxChecks(config().libexec, node) };
}
