import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { VesselError, errorMessage, config, containerPaths } from '../util/index.js';
import type { ContainerSpec, PortPublish } from '../spec/index.js';
import type { ResolvedImage } from '../image/index.js';
import { hostOs } from '../runtime/index.js';
import { checkImagePlatform } from './platform.js';
import { commandOf, containerConfig, hostnameOf, type ConfigFacts } from './config.js';
import { resolveHealth } from './health.js';
import type { BindMount, ContainerConfig, Mount, RuntimeNetwork, Resource } from '../runtime/index.js';
import type { NetAttachment } from '../net/index.js';

export interface Resolved {
  cfg: ContainerConfig;
  image: ResolvedImage;
  /** Resources of the network attachment (lease, interfaces, rules), to record before start. */
  netResources: Resource[];
  /** The attachment's firewall rules being applied (net's NetAttachment.rules); settled when none. */
  rules: Promise<void>;
}

export { commandOf, mergeEnv } from './config.js';

/**
 * The spec's volumes as mounts. A named volume is mounted from its directory in the volume store:
 * `make` creates a missing one (a start: docker's "created on first use"); otherwise only its path
 * is named (the watcher's check, a plan), so nothing is created for a spec that does not start.
 */
async function volumes(spec: ContainerSpec, make: boolean): Promise<Mount[]> {
  const out: Mount[] = [];
  for (const v of spec.volumes) {
    if (v.kind === 'tmpfs') {
      out.push({ kind: 'tmpfs', target: v.target, ...(v.sizeBytes === undefined ? {} : { sizeBytes: v.sizeBytes }), ...(v.mode === undefined ? {} : { mode: v.mode }) });
      continue;
    }
    if (v.kind === 'named') {
      const store = await import('../volume/index.js');
      const source = make ? (await store.ensureVolume(v.name, zfsVolumeStore())).mountpoint : store.volumeMountpoint(v.name);
      out.push({ kind: 'bind', source, target: v.target, readonly: v.readonly });
      continue;
    }
    if (!existsSync(v.source)) {
      throw new VesselError('E_SPEC', `${spec.source ?? 'volume'}: volume ${v.source}:${v.target}: source ${v.source} does not exist`, {
        hint: 'create the directory first; vessel does not create host paths',
      });
    }
    out.push({ kind: 'bind', source: v.source, target: v.target, readonly: v.readonly });
  }
  return out;
}

/** /etc/hosts (and for host networking /etc/resolv.conf) for containers without a vessel network. */
function basicNetworkMounts(dir: string, spec: ContainerSpec): BindMount[] {
  const mounts: BindMount[] = [{ kind: 'bind', source: join(dir, 'hosts'), target: '/etc/hosts', readonly: true }];
  if (spec.network.mode === 'host' && existsSync('/etc/resolv.conf')) {
    mounts.push({ kind: 'bind', source: '/etc/resolv.conf', target: '/etc/resolv.conf', readonly: true });
  }
  return mounts;
}

function writeBasicHosts(dir: string, spec: ContainerSpec): void {
  mkdirSync(dir, { recursive: true });
  const names = [...new Set([hostnameOf(spec), spec.name])].join(' ');
  writeFileSync(join(dir, 'hosts'), `127.0.0.1\tlocalhost ${names}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
}

/**
 * FreeBSD on a ZFS store (VESSEL_ZFS_DATASET=POOL[/…]/vessel, docs/freebsd.md): the image's layer
 * chain as snapshots (made on first use, by ChainID, image/zfs.ts) and the container's root a
 * clone of the top one, which the jail driver makes. The dataset must end in /vessel: the driver
 * finds a crashed run's clone by the name …/vessel/containers/NAME.
 */
function zfsStore(): string | undefined {
  const ds = process.env.VESSEL_ZFS_DATASET;
  if (!ds || hostOs() !== 'freebsd') return undefined;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_.:-]+)*\/vessel$/.test(ds)) {
    throw new VesselError('E_CONFIG', `VESSEL_ZFS_DATASET=${ds}: expected a dataset named vessel, POOL[/…]/vessel`, {
      hint: 'e.g. zroot/vessel; vessel keeps layers/ and containers/ under it',
    });
  }
  return ds;
}

/** On a FreeBSD ZFS store, named volumes are datasets under it (volume/zfs.ts). */
export function zfsVolumeStore(): { zfsStore?: string } {
  const ds = zfsStore();
  return ds === undefined ? {} : { zfsStore: ds };
}

/** `make`: create the missing layer snapshots (a start); otherwise only name them (a plan). */
async function zfsRoot(name: string, image: ResolvedImage, make: boolean): Promise<ConfigFacts['zfs']> {
  const ds = zfsStore();
  if (ds === undefined) return undefined;
  const { ensureZfsLayers, planZfsLayers } = await import('../image/index.js');
  const mountRoot = join(config().images, 'zfs');
  const snapshot = make
    ? await ensureZfsLayers(`${ds}/layers`, mountRoot, image.record.layers)
    : planZfsLayers(`${ds}/layers`, mountRoot, image.record.layers, new Set()).snapshot;
  return { zfsSnapshot: snapshot, zfsDataset: `${ds}/containers/${name}` };
}

/**
 * The layer directories a root is stacked from. FreeBSD without a ZFS store stacks them with
 * nullfs and unionfs, which read no OCI deletions: a chain with deletions is flattened once
 * (image/flat.ts). `make`: false only names it (a plan).
 */
async function rootLayers(image: ResolvedImage, zfs: ConfigFacts['zfs'], make: boolean): Promise<string[]> {
  if (hostOs() !== 'freebsd' || zfs !== undefined) return image.layerDirs;
  const { unionLowerDirs } = await import('../image/index.js');
  return unionLowerDirs(image.record.layers, { make });
}

/** An image built for another OS is refused before anything is created, naming the spec's key. */
async function imageForThisHost(spec: ContainerSpec, image: ResolvedImage): Promise<void> {
  await checkImagePlatform(image.record).catch((e: unknown) => {
    if (!(e instanceof VesselError)) throw e;
    throw new VesselError(e.code, `${spec.source ?? spec.name}: [container] image: ${e.message}`, e.hint === undefined ? {} : { hint: e.hint });
  });
}

/**
 * Could this spec start on this host? Its image is in the store and its volume sources exist.
 * No side effects: the watcher calls it so a spec that must fail never replaces a running one.
 */
export async function checkStartable(spec: ContainerSpec): Promise<void> {
  const { resolveImage } = await import('../image/index.js');
  const image = await resolveImage(spec.image).catch((e: unknown) => {
    throw new VesselError('E_SPEC', `${spec.source ?? spec.name}: [container] image: ${errorMessage(e)}`, {
      hint: 'vessel image import FILE NAME, or vessel pull NAME; then save the spec again',
    });
  });
  await imageForThisHost(spec, image);
  resolveHealth(spec, image.record.config);
  await volumes(spec, false);
}

/** The image of a spec, in the store and built for this host, with a command to run. */
async function imageOf(spec: ContainerSpec): Promise<ResolvedImage> {
  const { resolveImage } = await import('../image/index.js');
  const image = await resolveImage(spec.image);
  await imageForThisHost(spec, image);
  if (commandOf(spec, image.record.config).length === 0) {
    throw new VesselError('E_SPEC', `${spec.source ?? spec.name}: no command: image ${spec.image} has no CMD and the spec gives none`);
  }
  // A [health] with nothing to run fails here, before the network is leased (containerConfig resolves it again).
  resolveHealth(spec, image.record.config);
  return image;
}

// FreeBSD: the jail driver writes a bridged jail's /etc/hosts and /etc/resolv.conf into its root
// from the RuntimeNetwork, and other jails keep the image's; its fstab volumes are directories
// (file nullfs mounts are FreeBSD 14+ only). So no network file mounts there.
export const networkFileMounts = (): boolean => hostOs() !== 'freebsd';

/**
 * Turn a spec into what a driver runs: the image resolved to layer directories, the final argv,
 * env, user and mounts, and the network leased (its firewall rules applied). Throws (changing nothing but a lease, which the
 * caller records and releases) when the image is missing or a volume source does not exist.
 */
export async function resolveSpec(
  spec: ContainerSpec,
  opts: {
    ephemeral: boolean;
    output: ContainerConfig['output'];
    runId?: string;
    /**
     * A zero-downtime reload's next container: its lease key beside the running one, its own layer
     * directory, and the ports that move to it (default: the running container's).
     */
    beside?: { leaseKey: string; layerDir: string; publish?: PortPublish[] };
    /** Return while the network's rules are being applied (Resolved.rules). */
    overlapRules?: boolean;
  },
): Promise<Resolved> {
  const image = await imageOf(spec);
  const mounts = await volumes(spec, true);
  const dir = containerPaths(config(), spec.name).dir;
  let network: RuntimeNetwork = spec.network.mode === 'host' ? { mode: 'host' } : { mode: 'none' };
  let netResources: Resource[] = [];
  let rules = Promise.resolve();
  if (spec.network.mode === 'bridge') {
    const net = await import('../net/index.js');
    const att = await net.prepareNetwork(spec, spec.name, {
      ...(opts.beside ? { beside: opts.beside.leaseKey, ...(opts.beside.publish ? { besidePublish: opts.beside.publish } : {}) } : {}),
      ...(opts.overlapRules ? { overlapRules: true } : {}),
    });
    network = att.network;
    netResources = att.resources;
    if (att.rules) rules = att.rules;
    if (networkFileMounts()) mounts.push(...att.mounts);
  } else if (networkFileMounts()) {
    writeBasicHosts(dir, spec);
    mounts.push(...basicNetworkMounts(dir, spec));
  }
  const zfs = await zfsRoot(spec.name, image, true);
  const layerDirs = await rootLayers(image, zfs, true);
  const cfg = containerConfig(spec, {
    image: image.record.config === undefined ? { layerDirs, config: {} } : { layerDirs, config: image.record.config },
    ...(zfs ? { zfs } : {}),
    network,
    mounts,
    dir,
    runId: opts.runId ?? randomBytes(4).toString('hex'),
    ephemeral: opts.ephemeral,
    output: opts.output,
  });
  if (opts.beside) {
    cfg.root.layerDir = opts.beside.layerDir;
    cfg.beside = true;
  }
  return { cfg, image, netResources, rules };
}

/**
 * The config a start of this spec would hand the driver, for `vessel plan`: the same facts and
 * the same pure containerConfig(), but nothing leased, written or created. An image that is not
 * in the store, has no command or is for another OS is an error here too: a plan never shows a
 * command that will not run.
 */
export async function planSpecConfig(spec: ContainerSpec): Promise<{ cfg: ContainerConfig; attachment: NetAttachment }> {
  const image = await imageOf(spec).catch((e: unknown) => {
    if (e instanceof VesselError && e.code !== 'E_NOT_FOUND') throw e;
    throw new VesselError('E_SPEC', `${spec.source ?? spec.name}: [container] image: ${errorMessage(e)}`, {
      hint: 'vessel image import FILE NAME, or vessel pull NAME; then plan again',
    });
  });
  const mounts = await volumes(spec, false);
  const dir = containerPaths(config(), spec.name).dir;
  const { planNetwork } = await import('../net/index.js');
  const att = await planNetwork(spec, spec.name);
  if (networkFileMounts()) mounts.push(...(spec.network.mode === 'bridge' ? att.mounts : basicNetworkMounts(dir, spec)));
  const zfs = await zfsRoot(spec.name, image, false);
  const cfg = containerConfig(spec, {
    image: { layerDirs: await rootLayers(image, zfs, false), config: image.record.config },
    ...(zfs ? { zfs } : {}),
    network: att.network,
    mounts,
    dir,
    runId: 'plan',
    ephemeral: false,
    output: { kind: 'inherit' },
  });
  return { cfg, attachment: att };
}
