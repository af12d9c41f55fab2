import { run, type HostResult } from '../util/index.js';
import { NULLFS_FILE_OSRELDATE, OSRELDATE_PROBE } from '../runtime/freebsd/index.js';
import { nodeCheck, uwsgiCheck } from './common.js';
import type { Check } from './types.js';

/**
 * The FreeBSD host's features, each asked with the FreeBSD tool that owns it. No FreeBSD runs
 * here: these are verified by golden transcripts (test/fixtures/freebsd/doctor-*), each answer
 * shaped as the cited man page or source says the tool prints it.
 */

const ask = (argv: string[]): Promise<HostResult> => run(argv, { allowFailure: true });
const out = (r: HostResult): string => r.stdout.trim();

/** jail(2) parameters vessel's rendered jail.conf sets on every jail (jail.conf pseudo-parameters excluded). */
export const KERNEL_JAIL_PARAMS = ['path', 'host.hostname', 'persist', 'securelevel', 'enforce_statfs', 'devfs_ruleset', 'children.max', 'allow.raw_sockets', 'sysvshm'];

/** vessel's per-container devfs rulesets (runtime/freebsd/names.ts: 1000 + hash mod 64000). */
const RULESET_RANGE = [1000, 64999] as const;

async function vimage(): Promise<Check> {
  // The same probe the jail driver makes: the vnet jail parameter exists only in VIMAGE kernels
  // (sys/kern/kern_jail.c declares it under #ifdef VIMAGE); GENERIC has VIMAGE since 12.0.
  const r = await ask(['sysctl', '-d', 'security.jail.param.vnet']);
  const base = { id: 'vimage', feature: 'VNET networks ([network] name)' };
  return r.exitCode === 0
    ? { ...base, status: 'ok', detail: 'the kernel has VIMAGE (security.jail.param.vnet)' }
    : { ...base, status: 'warn', detail: 'no VIMAGE: bridged containers get an lo1 alias instead of their own stack', fix: 'build a kernel with `options VIMAGE` (GENERIC has it)' };
}

async function racct(): Promise<Check> {
  // rctl(8): accounting is off unless the kern.racct.enable loader(8) tunable is 1 — set at boot only.
  const r = await ask(['sysctl', '-n', 'kern.racct.enable']);
  const base = { id: 'racct', feature: 'limits ([limits] memory, maxproc, cpu)' };
  if (r.exitCode !== 0) return { ...base, status: 'missing', detail: 'the kernel has no RACCT (kern.racct.enable does not exist)', fix: 'a kernel with `options RACCT` and `options RCTL` (GENERIC has both)' };
  if (out(r) !== '1') return { ...base, status: 'missing', detail: 'kern.racct.enable=0', fix: 'add kern.racct.enable=1 to /boot/loader.conf and reboot (it is a boot-time tunable)' };
  return { ...base, status: 'ok', detail: 'kern.racct.enable=1' };
}

async function nullfsFile(): Promise<Check> {
  // The same probe a start with a file volume makes (runtime/freebsd/mount.ts): nullfs mounts a
  // file on a file from 13.2 (D37478); before, the kernel answers ENOTDIR and jail -c aborts.
  const r = await ask(OSRELDATE_PROBE);
  const base = { id: 'nullfs-file', feature: 'single-file volumes (nullfs file mounts)' };
  const rel = Number(out(r));
  if (r.exitCode !== 0 || !Number.isInteger(rel)) return { ...base, status: 'missing', detail: 'kern.osreldate could not be read', fix: 'sysctl kern.osreldate must answer' };
  return rel >= NULLFS_FILE_OSRELDATE
    ? { ...base, status: 'ok', detail: `kern.osreldate ${rel} (13.2 or later)` }
    : { ...base, status: 'missing', detail: `kern.osreldate ${rel}: nullfs mounts files from 13.2 (${NULLFS_FILE_OSRELDATE})`, fix: 'mount the directory that holds the file, or upgrade to 13.2 or later' };
}

async function pf(): Promise<Check[]> {
  const base = { id: 'pf', feature: 'NAT and published ports (pf)' };
  // pfctl(8) -s info: "Status: Enabled|Disabled"; without the module /dev/pf does not exist.
  const info = await ask(['pfctl', '-s', 'info']);
  if (info.exitCode !== 0) {
    return [{ ...base, status: 'missing', detail: 'pf is not loaded (pfctl -s info failed)', fix: 'sysrc pf_enable=YES; add the anchors (vessel setup pf) to /etc/pf.conf; service pf start' }];
  }
  const checks: Check[] = [];
  if (!/Status:\s+Enabled/.test(info.stdout)) {
    checks.push({ ...base, status: 'missing', detail: 'pf is loaded but disabled: vessel\'s anchors would never be evaluated', fix: 'sysrc pf_enable=YES; service pf start (or pfctl -e)' });
  } else {
    checks.push({ ...base, status: 'ok', detail: 'pf is enabled' });
  }
  // Anchors load fine even when the main ruleset never calls them (pf.conf(5) ANCHORS): look for
  // the anchor points themselves in the loaded translation rules.
  const nat = await ask(['pfctl', '-s', 'nat']);
  const missing = ['nat-anchor "vessel-nat/*"', 'rdr-anchor "vessel-rdr/*"'].filter((a) => !nat.stdout.includes(a));
  checks.push(missing.length === 0
    ? { id: 'pf-anchors', feature: 'vessel\'s anchors in the main ruleset', status: 'ok', detail: 'nat-anchor "vessel-nat/*" and rdr-anchor "vessel-rdr/*" are loaded' }
    : { id: 'pf-anchors', feature: 'vessel\'s anchors in the main ruleset', status: 'missing', detail: `not in the loaded ruleset: ${missing.join(', ')}`, fix: 'add the lines `vessel setup pf` prints to /etc/pf.conf, then pfctl -f /etc/pf.conf' });
  const fwd = await ask(['sysctl', '-n', 'net.inet.ip.forwarding']);
  checks.push(out(fwd) === '1'
    ? { id: 'forwarding', feature: 'routing for container networks', status: 'ok', detail: 'net.inet.ip.forwarding=1' }
    : { id: 'forwarding', feature: 'routing for container networks', status: 'missing', detail: `net.inet.ip.forwarding=${out(fwd) || '?'}: containers cannot reach beyond their bridge`, fix: 'sysrc gateway_enable=YES; sysctl net.inet.ip.forwarding=1' });
  return checks;
}

async function filterLocal(): Promise<Check> {
  // pf's rdr rules see packets arriving on an interface; the host's own connections to a published
  // port never cross one. net.pf.filter_local asks pf to translate those too; the first release
  // with it is not pinned, so this probes the sysctl rather than the version.
  const r = await ask(['sysctl', '-n', 'net.pf.filter_local']);
  const base = { id: 'pf-filter-local', feature: 'published ports from this host itself' };
  if (r.exitCode !== 0) return { ...base, status: 'warn', detail: 'this FreeBSD has no net.pf.filter_local: published ports answer other hosts, not this host\'s own connections', fix: 'open the page from another machine, or use the container\'s own address from here' };
  if (out(r) !== '1') return { ...base, status: 'warn', detail: 'net.pf.filter_local=0: published ports answer other hosts only', fix: 'sysctl net.pf.filter_local=1, and add it to /etc/sysctl.conf' };
  return { ...base, status: 'ok', detail: 'net.pf.filter_local=1' };
}

async function portacl(): Promise<Check> {
  // kldstat(8): -q exits 0 when the module is loaded or compiled in.
  const r = await ask(['kldstat', '-q', '-m', 'mac_portacl']);
  const base = { id: 'mac-portacl', feature: 'low ports for non-root users ([security] portacl)' };
  return r.exitCode === 0
    ? { ...base, status: 'ok', detail: 'mac_portacl is loaded' }
    : { ...base, status: 'missing', detail: 'mac_portacl is not loaded', fix: 'kldload mac_portacl; sysrc -f /boot/loader.conf mac_portacl_load=YES' };
}

async function zfs(env: NodeJS.ProcessEnv): Promise<Check> {
  const base = { id: 'zfs', feature: 'ZFS clone roots (VESSEL_ZFS_DATASET)' };
  const ds = env.VESSEL_ZFS_DATASET;
  if (ds) {
    const r = await ask(['zfs', 'list', '-H', '-o', 'name', ds]);
    return r.exitCode === 0
      ? { ...base, status: 'ok', detail: `dataset ${ds} exists` }
      : { ...base, status: 'missing', detail: `VESSEL_ZFS_DATASET=${ds} does not exist`, fix: `zfs create -p ${ds}` };
  }
  const pools = await ask(['zpool', 'list', '-H', '-o', 'name']);
  const names = pools.exitCode === 0 ? out(pools).split('\n').filter(Boolean) : [];
  if (names.length === 0) return { ...base, status: 'info', detail: 'no ZFS pool: container roots are nullfs mounts of the image layers' };
  return { ...base, status: 'info', detail: `not used (pools: ${names.join(', ')}): container roots are nullfs mounts`, fix: `zfs create -p ${names[0]}/vessel; VESSEL_ZFS_DATASET=${names[0]}/vessel` };
}

async function devfsRulesets(): Promise<Check> {
  // devfs(8) `rule showsets`: the numbers of every ruleset in the kernel, one per line. Rulesets
  // are global and unowned: a number in vessel's range that vessel did not make is another manager's.
  const r = await ask(['devfs', 'rule', 'showsets']);
  const base = { id: 'devfs', feature: 'per-container devfs rulesets' };
  if (r.exitCode !== 0) return { ...base, status: 'missing', detail: 'devfs rule showsets failed', fix: 'devfs(8) must be usable by root' };
  const sets = out(r).split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  const inRange = sets.filter((n) => n >= RULESET_RANGE[0] && n <= RULESET_RANGE[1]);
  const shown = inRange.length === 0 ? '' : ` (${inRange.slice(0, 8).join(', ')}${inRange.length > 8 ? ', …' : ''}: vessel's own containers', or another manager's)`;
  return { ...base, status: 'ok', detail: `${sets.length} rulesets in use, ${inRange.length} in vessel's range ${RULESET_RANGE[0]}-${RULESET_RANGE[1]}${shown}` };
}

async function jailParams(): Promise<Check> {
  // sysctl -N lists names only; every parameter the kernel knows is a security.jail.param.NAME
  // node (lib/libjail/jail.c reads them the same way).
  const r = await ask(['sysctl', '-N', 'security.jail.param']);
  const base = { id: 'jail-params', feature: 'jail parameters vessel sets' };
  if (r.exitCode !== 0) return { ...base, status: 'missing', detail: 'sysctl -N security.jail.param failed: no jail support', fix: 'a kernel with jails (GENERIC)' };
  const known = new Set(out(r).split('\n').map((l) => l.trim().replace(/^security\.jail\.param\./, '').replace(/\.$/, '')).filter(Boolean));
  const missing = KERNEL_JAIL_PARAMS.filter((p) => !known.has(p));
  return missing.length === 0
    ? { ...base, status: 'ok', detail: `all ${KERNEL_JAIL_PARAMS.length} known (${known.size} parameters in this kernel)` }
    : { ...base, status: 'missing', detail: `unknown to this kernel: ${missing.join(', ')}`, fix: 'the module providing them must be loaded (sysctl security.jail.param lists what is there)' };
}

async function linux64(): Promise<Check> {
  const r = await ask(['kldstat', '-q', '-m', 'linux64']);
  return { id: 'linux64', feature: 'Linux images', status: 'info', detail: r.exitCode === 0 ? 'linux64 is loaded; vessel still refuses os: linux images (FreeBSD images only)' : 'refused (os: linux); linux64 is not loaded' };
}

export async function freebsdChecks(env: NodeJS.ProcessEnv, nodeVersion: string): Promise<Check[]> {
  const pkg = 'pkg install -y www/node20 www/npm-node20 www/uwsgi (sh scripts/setup.sh does it)';
  return [
    await jailParams(),
    await vimage(),
    await racct(),
    ...(await pf()),
    await filterLocal(),
    await portacl(),
    await nullfsFile(),
    await devfsRulesets(),
    await zfs(env),
    await linux64(),
    await uwsgiCheck(pkg),
    nodeCheck(nodeVersion, pkg),
  ];
}
