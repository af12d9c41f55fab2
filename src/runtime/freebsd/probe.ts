import { VesselError, run, type HostResult } from '../../util/index.js';
import type { ContainerConfig } from '../types.js';
import { checkPortaclModule, checkReservedHigh, checkVnetPortacl, PORTACL_SYSCTL, RESERVEDHIGH } from './mac.js';
import { checkAnchorsReferenced, checkForwarding, checkPfEnabled, DEFAULT_ROUTE_PROBE, FORWARDING_PROBE, parseDefaultRoute, PF_INFO_PROBE, PF_NAT_PROBE } from './pf.js';
import { checkRacct, hasLimits, RACCT_PROBE } from './rctl.js';
import { jailName } from './names.js';
import { initBinary } from '../monitor-spawn.js';
import { checkJailOption, JAIL_OPTION_PROBES } from './vnet.js';
import { checkFileVolumes, isFileVolume, OSRELDATE_PROBE } from './mount.js';
import { chooseRuleset, rulesetCandidates, showRulesetArgv } from './devfs.js';

/**
 * What the running FreeBSD has, asked before anything is created, so a missing kernel feature is
 * a one-line error and the host is left untouched: racct for limits, each [jail] parameter,
 * VIMAGE, mac_portacl, the parent jail, the image snapshot.
 */
export interface HostFacts {
  /** The kernel has VIMAGE (security.jail.param.vnet exists): VNET jails, else lo1 aliases. */
  vimage: boolean;
  /** Interface outbound NAT goes out of. */
  extIf: string;
  /** What the jail's parent (a jail, or the host) holds it to; unknown in a plan. */
  floor?: JailFloor;
  /** The free devfs ruleset chosen for a VNET container (devfs.ts); unknown in a plan. */
  devfsRuleset?: number;
}

/**
 * kern_jail.c kern_jail_set refuses a jail below its parent: `if (slevel < ppr->pr_securelevel)`
 * and `if (enforce < ppr->pr_enforce_statfs)` → EPERM. The host is prison0, whose securelevel is
 * kern.securelevel and whose enforce_statfs is 0.
 */
export interface JailFloor {
  of: string;
  securelevel: number;
  enforceStatfs: number;
}

export function parseParentFloor(parent: string, stdout: string): JailFloor {
  const [, sl, es] = stdout.trim().split(/\s+/).map(Number);
  return { of: `parent jail ${parent}`, securelevel: Number.isFinite(sl) ? sl! : -1, enforceStatfs: Number.isFinite(es) ? es! : 0 };
}

interface Probe {
  argv: string[];
  /** Throws a VesselError when the answer rules the start out; may record a fact. */
  check: (r: HostResult, facts: HostFacts) => void;
}

function needsNetworkStack(cfg: ContainerConfig): boolean {
  return cfg.network.mode === 'bridge' || cfg.network.mode === 'none';
}

export function probes(cfg: ContainerConfig, env: NodeJS.ProcessEnv = process.env): Probe[] {
  const list: Probe[] = [];
  const jail = jailName(cfg);
  list.push({
    // A jail of this name, even a dying one (jls -d), makes `jail -c` fail: say why first.
    argv: ['jls', '--libxo', 'json', '-v', '-d', '-j', jail],
    check: (r) => {
      if (r.exitCode !== 0) return;
      const dying = /"state"\s*:\s*"DYING"/.test(r.stdout);
      throw new VesselError('E_EXISTS', dying
        ? `jail ${jail} is still dying (jls -d): the kernel frees the name when its last reference goes`
        : `jail ${jail} already exists`, {
        hint: dying ? 'wait a moment and start again; sockets in TIME_WAIT can hold a dying jail for a while' : `a leftover of an earlier run, or another jail manager's: \`vessel gc\`, or \`jail -r ${jail}\``,
      });
    },
  });
  list.push({
    // The container's monitor and every command in a jail are vessel-init's (native/freebsd): built or not?
    argv: ['test', '-x', initBinary()],
    check: (r) => {
      if (r.exitCode !== 0) {
        throw new VesselError('E_UNSUPPORTED', `${initBinary()} is missing: vessel runs every container's monitor and every command in a jail with it`, {
          hint: 'build it on this FreeBSD host: sh native/build.sh (npm run build does), or set VESSEL_LIBEXEC to where it is',
        });
      }
    },
  });
  if (hasLimits(cfg.limits)) list.push({ argv: RACCT_PROBE, check: (r) => checkRacct(r.stdout, r.exitCode) });
  for (const key of Object.keys(cfg.jail).sort()) {
    list.push({
      argv: ['sysctl', '-d', `security.jail.param.${key}`],
      check: (r) => {
        if (r.exitCode !== 0) {
          throw new VesselError('E_UNSUPPORTED', `[jail] ${key}: this FreeBSD has no jail parameter ${key} (sysctl -d security.jail.param.${key} failed)`, {
            hint: 'parameters of kernel modules exist only while the module is loaded; `sysctl -d security.jail.param` lists what this kernel has',
          });
        }
      },
    });
  }
  if (needsNetworkStack(cfg)) {
    list.push({ argv: ['sysctl', '-d', 'security.jail.param.vnet'], check: (r, f) => { f.vimage = r.exitCode === 0; } });
    // A VNET container's loopback and address are set with ifconfig -j, its route with route -j.
    for (const p of JAIL_OPTION_PROBES.filter((x) => x.tool === 'ifconfig' || cfg.network.mode === 'bridge')) {
      list.push({ argv: p.argv, check: (r, f) => { if (f.vimage) checkJailOption(p.tool, r.stderr); } });
    }
  }
  if (cfg.network.mode === 'bridge') {
    if (!env.VESSEL_EXT_IF) list.push({ argv: DEFAULT_ROUTE_PROBE, check: (r, f) => { f.extIf = parseDefaultRoute(r.stdout, r.exitCode); } });
    // Anchors load fine into a disabled pf or one whose pf.conf never refers to them (pf.ts).
    const publishes = cfg.network.publish.length > 0;
    list.push({ argv: PF_INFO_PROBE, check: (r) => checkPfEnabled(r.stdout, r.exitCode) });
    list.push({ argv: PF_NAT_PROBE, check: (r) => checkAnchorsReferenced(r.stdout, publishes) });
    list.push({ argv: FORWARDING_PROBE, check: (r) => checkForwarding(r.stdout, r.exitCode) });
  }
  if (cfg.parent !== undefined) {
    const parent = cfg.parent;
    list.push({
      argv: ['jls', '-j', parent, 'jid', 'securelevel', 'enforce_statfs'],
      check: (r, f) => {
        if (r.exitCode !== 0) {
          throw new VesselError('E_RUNTIME', `container ${cfg.name}: parent jail ${parent} is not running`, { hint: `start the parent container ${parent} first` });
        }
        f.floor = parseParentFloor(parent, r.stdout);
      },
    });
  } else {
    list.push({
      argv: ['sysctl', '-n', 'kern.securelevel'],
      check: (r, f) => {
        const level = r.stdout.trim();
        f.floor = { of: 'the host (kern.securelevel)', securelevel: r.exitCode === 0 && /^-?\d+$/.test(level) ? Number(level) : -1, enforceStatfs: 0 };
      },
    });
  }
  // After the securelevel floor: a VNET container's portacl depends on it.
  if (cfg.security.portacl.length > 0) {
    list.push({ argv: ['sysctl', PORTACL_SYSCTL], check: (r) => checkPortaclModule(r.exitCode) });
    // Per VNET: the host's value matters only to a jail on the host's stack (mac.ts).
    list.push({
      argv: ['sysctl', '-n', RESERVEDHIGH],
      check: (r, f) => {
        if (needsNetworkStack(cfg) && f.vimage) checkVnetPortacl(f.floor?.securelevel ?? -1, f.floor?.of ?? 'the host');
        else checkReservedHigh(r.stdout, cfg);
      },
    });
  }
  if (cfg.mounts.some(isFileVolume)) list.push({ argv: OSRELDATE_PROBE, check: (r) => checkFileVolumes(cfg, r.stdout) });
  if (cfg.root.zfsSnapshot !== undefined) {
    const snap = cfg.root.zfsSnapshot;
    list.push({
      argv: ['zfs', 'list', '-H', '-o', 'name', '-t', 'snapshot', snap],
      check: (r) => {
        if (r.exitCode !== 0) throw new VesselError('E_IMAGE', `image snapshot ${snap} does not exist`, { hint: 'pull or import the image again' });
      },
    });
  }
  return list;
}

/** What `vessel plan` shows of the devfs ruleset search (probeHost runs it, see devfs.ts). */
export function rulesetProbe(cfg: ContainerConfig): string[][] {
  return needsNetworkStack(cfg) ? [[...showRulesetArgv(rulesetCandidates(cfg.name)[0]!), '# until an empty one; the next numbers after it']] : [];
}

/** What `vessel plan` assumes without asking: a VIMAGE kernel, and the NAT interface named as a placeholder. */
export function assumedFacts(env: NodeJS.ProcessEnv = process.env): HostFacts {
  return { vimage: true, extIf: env.VESSEL_EXT_IF || '<ext_if>' };
}

export async function probeHost(cfg: ContainerConfig, env: NodeJS.ProcessEnv = process.env): Promise<HostFacts> {
  const facts: HostFacts = { vimage: true, extIf: env.VESSEL_EXT_IF || '' };
  for (const p of probes(cfg, env)) p.check(await run(p.argv, { allowFailure: true }), facts);
  if (needsNetworkStack(cfg) && facts.vimage) facts.devfsRuleset = await chooseRuleset(cfg.name);
  return facts;
}
