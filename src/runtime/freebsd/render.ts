import { join } from 'node:path';
import { VesselError } from '../../util/index.js';
import type { ContainerConfig, Resource } from '../types.js';
import { loadRulesetSteps, renderDevfsRules } from './devfs.js';
import { ancestors, createStep, raiseChildrenSteps } from './jail8.js';
import { createSecurelevel, finalSecurelevel, ownChildrenMax, renderJailConf, type JailNet } from './jailconf.js';
import { jailSysctlArgv } from './jail-exec.js';
import { PORTACL_SYSCTL, RESERVEDHIGH, mergeRules, portaclRules } from './mac.js';
import { jailMountResources, mountPointSteps, nullfsRoot, renderFstab } from './mount.js';
import { devfsRulesetNumber, epairNames, instanceName, jailName, natAnchor, rdrAnchor, runDataset, runDir, runFiles, runTag } from './names.js';
import { bareAddress, loadSteps, rdrResource, renderNat, renderRdr, subnet6Of, subnetOf } from './pf.js';
import type { HostFacts } from './probe.js';
import { addRuleSteps, rctlRules } from './rctl.js';
import type { Step, Vars } from './steps.js';
import { bridgeSteps, epairSteps, insideSteps, loopbackSteps } from './vnet.js';
import { cloneStep } from './zfs.js';

/**
 * The jail of a FreeBSD container and everything around it, rendered without touching the host:
 * the files, the steps in order and every resource they create. A start runs exactly this before
 * the container's monitor runs the command in the jail (start.ts); `vessel plan` prints it.
 */
export interface RenderedFile {
  path: string;
  content: string;
}

export interface StartPlan {
  jail: string;
  /** Written before anything runs (they are also the leftover record of the portacl rules). */
  files: RenderedFile[];
  /** Build the root filesystem. */
  rootSteps: Step[];
  /** Written into the root once it exists. */
  rootFiles: RenderedFile[];
  steps: Step[];
  resources: Resource[];
  /** pf rulesets, for `vessel plan` (they are also the stdin of their pfctl steps). */
  rulesets: RenderedFile[];
}

/** The lo(4) clone that carries container addresses when the kernel has no VIMAGE. */
export const ALIAS_IF = 'lo1';

function jailNet(cfg: ContainerConfig, facts: HostFacts): JailNet {
  const n = cfg.network;
  switch (n.mode) {
    case 'host':
      return { kind: 'inherit' };
    case 'none':
      return facts.vimage ? { kind: 'vnet' } : { kind: 'disabled' };
    case 'bridge':
      return facts.vimage
        ? { kind: 'vnet', iface: n.containerIf }
        : { kind: 'alias', iface: ALIAS_IF, address: `${bareAddress(n.address)}/32`, ...(n.address6 !== undefined ? { address6: `${bareAddress(n.address6)}/128` } : {}) };
  }
}

function checkIfName(name: string): void {
  // ifconfig(8): interface names are at most 15 characters (IFNAMSIZ 16 with the NUL).
  if (!/^[A-Za-z][A-Za-z0-9_]{0,14}$/.test(name)) throw new VesselError('E_NETWORK', `interface name ${JSON.stringify(name)}: at most 15 letters, digits or "_"`);
}

export function renderStart(cfg: ContainerConfig, facts: HostFacts): StartPlan {
  const jail = jailName(cfg);
  const f = runFiles(cfg);
  // `NAME`, or `NAME@RUNID` for a run beside the running one (names.ts)
  const instance = instanceName(cfg);
  const net = jailNet(cfg, facts);
  const vnet = net.kind === 'vnet';
  // A VNET container's own ruleset, chosen free at start (devfs.ts); a plan shows the first candidate.
  const ruleset = vnet ? (facts.devfsRuleset ?? devfsRulesetNumber(cfg.name)) : 4;
  const files: RenderedFile[] = [];
  const rootFiles: RenderedFile[] = [];
  const rulesets: RenderedFile[] = [];
  const rootSteps: Step[] = [];
  const steps: Step[] = [];
  const resources: Resource[] = [];

  // A run beside the running one lives in its own directory, created first and removed last (with
  // nothing mounted under it any more: leftovers.ts removeRunDir).
  if (runTag(cfg) !== undefined) resources.push({ kind: 'dir', id: runDir(cfg), detail: { run: cfg.runId } });

  // Files first: jail.conf names everything else, and a crash right after leaves them to find.
  const acl = portaclRules(cfg);
  // mac_portacl in a VNET jail: its own reservedhigh is set to 0 first (mac.ts), at securelevel 0.
  const vnetPortacl = vnet && acl.length > 0;
  const confInput = { cfg, net, devfsRuleset: ruleset, raiseSecurelevelLater: vnetPortacl, ...(facts.floor !== undefined ? { floor: facts.floor } : {}) };
  files.push({ path: f.conf, content: renderJailConf(confInput) });
  if (cfg.mounts.length > 0) files.push({ path: f.fstab, content: renderFstab(cfg) });
  if (vnet) files.push({ path: f.devfsRules, content: renderDevfsRules(instance, ruleset) });
  if (acl.length > 0) files.push({ path: f.portacl, content: acl.join('\n') + '\n' });
  resources.push({ kind: 'jail-conf', id: f.conf, detail: { files: files.map((x) => x.path).join(',') } });

  // Root filesystem.
  const dataset = runDataset(cfg);
  if (cfg.root.zfsSnapshot !== undefined) {
    if (dataset === undefined) throw new VesselError('E_RUNTIME', `container ${cfg.name}: a ZFS root needs the dataset to clone into`);
    rootSteps.push(cloneStep(cfg.root.zfsSnapshot, dataset, f.rootfs));
    resources.push({ kind: 'dataset', id: dataset, detail: { origin: cfg.root.zfsSnapshot } });
  } else {
    const r = nullfsRoot(cfg);
    rootSteps.push(...r.steps);
    resources.push(...r.resources);
  }

  if (cfg.parent !== undefined) steps.push(...raiseChildrenSteps(cfg.parent, ownChildrenMax(cfg)));
  steps.push(...mountPointSteps(cfg));
  if (vnet) {
    steps.push(...loadRulesetSteps(ruleset));
    // Named by its record: the number is the start's choice among free ones (a plan's is a guess),
    // written into devfs.rules before its first rule, and the ruleset is deleted by the number that
    // file names (devfs.ts: never a number derived from the name alone).
    resources.push({ kind: 'devfs-ruleset', id: f.devfsRules, detail: { ruleset: String(ruleset) } });
  }

  const n = cfg.network;
  if (n.mode === 'bridge') {
    const subnet = subnetOf(n.address);
    const gatewayCidr = `${n.gateway}/${n.address.split('/')[1]}`;
    const gateway6Cidr = n.address6 !== undefined && n.gateway6 !== undefined ? `${n.gateway6}/${n.address6.split('/')[1]}` : undefined;
    if (net.kind === 'vnet') {
      checkIfName(n.bridge);
      checkIfName(n.hostIf);
      checkIfName(n.containerIf);
      steps.push(...bridgeSteps(n.network, n.bridge, gatewayCidr, gateway6Cidr));
      steps.push(...epairSteps(cfg.name, { host: n.hostIf, jail: n.containerIf }, n.bridge));
      resources.push({ kind: 'interface', id: n.hostIf, detail: { peer: n.containerIf, type: 'epair' } });
    } else {
      steps.push(...loopbackSteps(ALIAS_IF));
    }
    const nat = renderNat(n.network, subnet, n.address6 !== undefined ? subnet6Of(n.address6) : undefined);
    rulesets.push({ path: `pf anchor ${natAnchor(n.network)}`, content: nat });
    steps.push(...loadSteps(natAnchor(n.network), nat, { ext_if: facts.extIf }));
    const own = [n.address, ...(n.address6 !== undefined ? [n.address6] : [])].map((a) => `${bareAddress(a)}\t${cfg.hostname}`);
    rootFiles.push({ path: join(f.rootfs, 'etc', 'hosts'), content: ['127.0.0.1\tlocalhost', '::1\tlocalhost', ...own, ...n.hosts].join('\n') + '\n' });
    // Without resolvers from the network the image's own resolv.conf stays.
    if (n.dns.length > 0) rootFiles.push({ path: join(f.rootfs, 'etc', 'resolv.conf'), content: n.dns.map((d) => `nameserver ${d}`).join('\n') + '\n' });
  }

  // jail -c mounts the fstab volumes and devfs: recorded before it runs.
  resources.push(...jailMountResources(cfg));
  steps.push(createStep(f.conf, jail));
  resources.push({ kind: 'jail', id: jail, detail: { conf: f.conf } });

  if (net.kind === 'vnet') {
    if (n.mode === 'bridge') steps.push(...insideSteps(jail, n.containerIf, n.address, n.gateway, n.address6, n.gateway6));
    else steps.push(...insideSteps(jail));
  }

  if (vnetPortacl) {
    steps.push({ argv: jailSysctlArgv(jail, RESERVEDHIGH, 0) });
    const final = finalSecurelevel(confInput);
    if (createSecurelevel(confInput) !== final) steps.push({ argv: ['jail', '-m', `name=${jail}`, `securelevel=${final}`] });
  }

  const rules = rctlRules(jail, cfg.limits);
  if (rules.length > 0) {
    // rctl(8) rules name the jail, so they can only be added once it exists.
    resources.push({ kind: 'rctl', id: `jail:${jail}` });
    steps.push(...addRuleSteps(rules));
  }

  if (acl.length > 0) {
    resources.push({ kind: 'portacl', id: acl.join(','), detail: { file: f.portacl } });
    steps.push(
      { argv: ['sysctl', '-n', PORTACL_SYSCTL], capture: { name: 'portacl', parse: (r) => mergeRules(r.stdout, acl) } },
      { argv: ['sysctl', `${PORTACL_SYSCTL}=\${portacl}`] },
    );
  }

  if (n.mode === 'bridge' && n.publish.length > 0) {
    const rdr = renderRdr(instance, n.address, n.publish, n.address6);
    rulesets.push({ path: `pf anchor ${rdrAnchor(instance)}`, content: rdr });
    resources.push(rdrResource(instance, n.address, n.address6));
    steps.push(...loadSteps(rdrAnchor(instance), rdr, { ext_if: facts.extIf }));
  }

  return { jail, files, rootSteps, rootFiles, steps, resources, rulesets };
}

/** How `vessel plan` shows values that exist only once commands have run. */
export function planPlaceholders(cfg: ContainerConfig): Vars {
  const acl = cfg.security.portacl.length > 0 ? portaclRules(cfg) : [];
  return {
    epair: 'epair<N>',
    bridge_exists_what: cfg.network.mode === 'bridge' ? `bridge ${cfg.network.bridge}` : 'bridge',
    lo_exists_what: ALIAS_IF,
    ...Object.fromEntries((cfg.parent !== undefined ? ancestors(cfg.parent) : []).map((j, i) => [
      `children_max_${i}`, i === 0
        ? `<max(children.max, children.cur+1${ownChildrenMax(cfg) > 0 ? `, ${ownChildrenMax(cfg) + 1}` : ''}) of ${j}>`
        : `<max(children.max, children.cur+1, children_max_${i - 1}+1) of ${j}>`,
    ])),
    portacl: `<current rules>,${acl.join(',')}`,
  };
}

/** Default interface names when the network layer has not chosen them (plan from a spec). */
export { epairNames };
