import { VesselError } from '../util/index.js';
import { driverFor } from '../runtime/index.js';
import { effectiveStatus, isLive } from './state.js';
import { mustState, refOf } from './control.js';
import { mergeEnv } from './resolve.js';

/** `vessel exec`: the container's environment (image + spec) plus -e, its user and workdir unless overridden. */
export async function execIn(
  name: string,
  argv: string[],
  o: { tty?: boolean; interactive?: boolean; env?: string[]; workdir?: string; user?: string },
): Promise<number> {
  const s = await mustState(name);
  if (!isLive(s) || s.status !== 'running') throw new VesselError('E_STATE', `container ${name} is not running (${effectiveStatus(s)})`);
  const { resolveImage } = await import('../image/index.js');
  let imageEnv: string[] = [];
  let imageUser: string | undefined;
  let imageWorkdir: string | undefined;
  try {
    const img = await resolveImage(s.spec.image);
    imageEnv = img.record.config.env ?? [];
    imageUser = img.record.config.user;
    imageWorkdir = img.record.config.workdir;
  } catch { /* image removed since: the spec's own settings still apply */ }
  const extra: Array<[string, string]> = (o.env ?? []).map((e) => {
    const i = e.indexOf('=');
    if (i <= 0) throw new VesselError('E_USAGE', `--env: "${e}" is not K=V`);
    return [e.slice(0, i), e.slice(i + 1)];
  });
  const driver = await driverFor();
  const user = o.user ?? s.spec.user ?? imageUser;
  const workdir = o.workdir ?? s.spec.workdir ?? imageWorkdir;
  return driver.exec(refOf(s), {
    argv,
    env: mergeEnv(imageEnv, [...s.spec.env, ...extra]),
    ...(workdir === undefined ? {} : { workdir }),
    ...(user === undefined ? {} : { user }),
    tty: o.tty ?? false,
    interactive: o.interactive ?? false,
    security: s.spec.security,
  });
}
