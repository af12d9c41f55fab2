import { VesselError } from '../../util/index.js';
import { initBinary } from '../monitor-spawn.js';
import type { Identity } from './identity.js';

/**
 * The argv of vessel's own jail exec helper (native/freebsd/jail-exec.c, a verb of vessel-init),
 * which replaces jexec(8) for `vessel exec` (the container's own command is started by its
 * monitor, with the same calls: native/freebsd/starter.c):
 *
 *   vessel-init jail-exec -j JAIL -d DIR -u UID -g GID -G GIDS [-e NAME=VALUE]... -- ARGV...
 *
 * Why not jexec: `-d` is absent from jexec(8) as it stood from 2016 (releng/11.3 page, "Dd April
 * 24, 2016": only -l, -u, -U) and "illegal option -- d" ends every start there; `-U NAME` is
 * resolved by getpwnam(3) inside the jail (jexec.c GET_USER_INFO, i.e. pwd.db) and followed by
 * setusercontext(LOGIN_SETALL …), which takes PATH, umask and environment from login.conf(5).
 * The helper attaches with jail_attach(2), sets numeric ids and execve(2)s with exactly -e.
 */
/**
 * The environment the command gets: the spec's, plus PATH and HOME when the spec has none — the
 * same defaults vessel-init gives on Linux, so both drivers run a command from /usr/local/bin.
 * Without PATH, execvp(3) would fall back to _PATH_DEFPATH, "/usr/bin:/bin".
 */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function commandEnv(env: string[], home: string | undefined): string[] {
  const has = (k: string) => env.some((e) => e.startsWith(`${k}=`));
  const out = [...env];
  if (!has('PATH')) out.push(DEFAULT_PATH);
  if (!has('HOME')) out.push(`HOME=${home ?? '/'}`);
  return out;
}

export interface JailExecInput {
  jail: string;
  argv: string[];
  env: string[];
  workdir?: string;
  /** Resolved from the image (identity.ts); undefined only in a plan that cannot read it yet. */
  identity: Identity | undefined;
  /** The spec's user, shown in a plan when the identity is not known yet. */
  user: string;
}

export function jailExecArgv(x: JailExecInput): string[] {
  if (x.argv.length === 0) throw new VesselError('E_SPEC', `container ${x.jail}: no command to run`, { hint: 'set [container] command, or use an image with a CMD' });
  const id = x.identity;
  const uid = id ? String(id.uid) : `<uid of ${x.user}>`;
  const gid = id ? String(id.gid) : `<gid of ${x.user}>`;
  const groups = id ? id.groups.join(',') : `<groups of ${x.user}>`;
  const dir = x.workdir !== undefined && x.workdir !== '' ? x.workdir : '/';
  return [
    initBinary(), 'jail-exec', '-j', x.jail, '-d', dir, '-u', uid, '-g', gid, '-G', groups,
    ...commandEnv(x.env, id?.home).flatMap((e) => ['-e', e]),
    '--', ...x.argv,
  ];
}

/**
 * Set one integer sysctl of the jail's own VNET from inside it (native/freebsd/sysctl.c says why
 * the host cannot): `vessel-init jail-exec -j JAIL -s NAME=VALUE`.
 */
export function jailSysctlArgv(jail: string, name: string, value: number): string[] {
  return [initBinary(), 'jail-exec', '-j', jail, '-s', `${name}=${value}`];
}
