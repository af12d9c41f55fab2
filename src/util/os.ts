import { platform } from 'node:os';
import { VesselError } from './errors.js';

export type OsName = 'linux' | 'freebsd';

/**
 * The OS this process runs containers for. VESSEL_OS=freebsd|linux overrides the platform — a
 * TEST SEAM only: it lets the FreeBSD code path run on Linux against a model host
 * (test/unit/freebsd-e2e.test.ts); on a real host it would drive commands that do not exist.
 * In util/ so the image store (which stamps imported images with the OS) and the runtime agree.
 */
export function hostOs(env: NodeJS.ProcessEnv = process.env): OsName {
  const forced = env.VESSEL_OS;
  if (forced !== undefined && forced !== '') {
    if (forced === 'linux' || forced === 'freebsd') return forced;
    throw new VesselError('E_CONFIG', `VESSEL_OS=${forced}: expected freebsd or linux (a test seam; leave it unset)`);
  }
  const p = platform();
  if (p === 'linux' || p === 'freebsd') return p;
  throw new VesselError('E_UNSUPPORTED', `vessel runs containers on FreeBSD and Linux, not on ${p}`);
}
