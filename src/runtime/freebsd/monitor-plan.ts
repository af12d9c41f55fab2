import { VesselError } from '../../util/index.js';
import type { ContainerConfig } from '../types.js';
import type { PlanRecord } from '../plan-records.js';
import type { Identity } from './identity.js';
import { commandEnv } from './jail-exec.js';
import { jailName } from './names.js';

/**
 * The FreeBSD records of the monitor's plan (native/common/plan.h): the jail the command is
 * attached to, its numeric identity (read from the image by identity.ts: no getpwnam(3) inside
 * the jail), working directory, jail semantics (wait), exactly its environment and argv. The
 * monitor's starter (native/freebsd/starter.c) does jail_attach(2), setgroups/setgid/setuid,
 * chdir and execve(2) with them, for every run and restart. Pure.
 */
export function freebsdMonitorRecords(cfg: ContainerConfig, identity: Identity | undefined): PlanRecord[] {
  const jail = jailName(cfg);
  if (cfg.argv.length === 0) throw new VesselError('E_SPEC', `container ${jail}: no command to run`, { hint: 'set [container] command, or use an image with a CMD' });
  const id = identity;
  const r: PlanRecord[] = [
    ['jail', jail],
    ['uid', id ? String(id.uid) : `<uid of ${cfg.user}>`],
    ['gid', id ? String(id.gid) : `<gid of ${cfg.user}>`],
    ['groups', id ? id.groups.join(',') : `<groups of ${cfg.user}>`],
    ['cwd', cfg.workdir !== '' ? cfg.workdir : '/'],
    ['wait', cfg.wait],
  ];
  for (const e of commandEnv(cfg.env, id?.home)) r.push(['env', e]);
  for (const a of cfg.argv) r.push(['arg', a]);
  return r;
}
