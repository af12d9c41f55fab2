import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { VesselError, errorMessage, config, containerPaths } from '../util/index.js';
import type { ContainerSpec } from '../spec/index.js';
import type { ImageConfig, ResolvedImage } from '../image/index.js';
import { hostOs } from '../runtime/index.js';
import { checkImagePlatform } from './platform.js';
import type { BindMount, ContainerConfig, Mount, RuntimeNetwork, Resource } from '../runtime/index.js';

export interface Resolved {
  cfg: ContainerConfig;
  image: ResolvedImage;
  /** Resources of the network attachment (lease, interfaces, rules), to record before start. */
  netResources: Resource[];
  /** For bridge networks: plumbing to run once the container's init exists. */
  plug?: (pid: number) => Promise<void>;
}

/** docker's rule: an entrypoint given by the spec drops the image's CMD. */
export function commandOf(spec: ContainerSpec, img: ImageConfig): string[] {
  const entrypoint = spec.entrypoint ?? img.entrypoint ?? [];
  const cmd = spec.command ?? (spec.entrypoint ? [] : img.cmd ?? []);
  return [...entrypoint, ...cmd];
}

export function mergeEnv(imageEnv: string[] = [], specEnv: Array<[string, string]>): string[] {
  const m = new Map<string, string>();
  for (const e of imageEnv) {
    const i = e.indexOf('=');
    if (i > 0) m.set(e.slice(0, i), e.slice(i + 1));
  }
  for (const [k, v] of specEnv) m.set(k, v);
  return [...m].map(([k, v]) => `${k}=${v}`);
}

function volumes(spec: ContainerSpec): Mount[] {
  return spec.volumes.map((v) => {
    if (v.kind === 'tmpfs') return { kind: 'tmpfs', target: v.target, ...(v.sizeBytes === undefined ? {} : { sizeBytes: v.sizeBytes }), ...(v.mode === undefined ? {} : { mode: v.mode }) };
    if (!existsSync(v.source)) {
      throw new VesselError('E_SPEC', `${spec.source ?? 'volume'}: volume ${v.source}:${v.target}: source ${v.source} does not exist`, {
        hint: 'create the directory first; vessel does not create host paths',
      });
    }
    return { kind: 'bind', source: v.source, target: v.target, readonly: v.readonly };
  });
}

/** /etc/hosts (and for host networking /etc/resolv.conf) for containers without a vessel network. */
function basicNetworkFiles(dir: string, spec: ContainerSpec, hostname: string): BindMount[] {
  mkdirSync(dir, { recursive: true });
  const hosts = join(dir, 'hosts');
  const names = [...new Set([hostname, spec.name])].join(' ');
  writeFileSync(hosts, `127.0.0.1\tlocalhost ${names}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
  const mounts: BindMount[] = [{ kind: 'bind', source: hosts, target: '/etc/hosts', readonly: true }];
  if (spec.network.mode === 'host' && existsSync('/etc/resolv.conf')) {
    mounts.push({ kind: 'bind', source: '/etc/resolv.conf', target: '/etc/resolv.conf', readonly: true });
  }
  return mounts;
}

/**
 * FreeBSD on a ZFS store (VESSEL_ZFS_DATASET=POOL[/…]/vessel, docs/freebsd.md): the image's layer
 * chain as snapshots (made on first use, by ChainID, image/zfs.ts) and the container's root a
 * clone of the top one, which the jail driver makes. The dataset must end in /vessel: the driver
 * finds a crashed run's clone by the name …/vessel/containers/NAME.
 */
async function zfsRoot(name: string, image: ResolvedImage): Promise<{ zfsSnapshot?: string; zfsDataset?: string }> {
  const ds = process.env.VESSEL_ZFS_DATASET;
  if (!ds || hostOs() !== 'freebsd') return {};
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_.:-]+)*\/vessel$/.test(ds)) {
    throw new VesselError('E_CONFIG', `VESSEL_ZFS_DATASET=${ds}: expected a dataset named vessel, POOL[/…]/vessel`, {
      hint: 'e.g. zroot/vessel; vessel keeps layers/ and containers/ under it',
    });
  }
  const { ensureZfsLayers } = await import('../image/index.js');
  const snapshot = await ensureZfsLayers(`${ds}/layers`, join(config().images, 'zfs'), image.record.layers);
  return { zfsSnapshot: snapshot, zfsDataset: `${ds}/containers/${name}` };
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
  volumes(spec);
}

/**
 * Turn a spec into what a driver runs: the image resolved to layer directories, the final argv,
 * env, user and mounts, and the network leased. Throws (changing nothing but a lease, which the
 * caller records and releases) when the image is missing or a volume source does not exist.
 */
export async function resolveSpec(
  spec: ContainerSpec,
  opts: { ephemeral: boolean; output: ContainerConfig['output']; runId?: string },
): Promise<Resolved> {
  const { resolveImage } = await import('../image/index.js');
  const image = await resolveImage(spec.image);
  await imageForThisHost(spec, image);
  const argv = commandOf(spec, image.record.config);
  if (argv.length === 0) {
    throw new VesselError('E_SPEC', `${spec.source ?? spec.name}: no command: image ${spec.image} has no CMD and the spec gives none`);
  }
  const mounts = volumes(spec);
  const dir = containerPaths(config(), spec.name).dir;
  const hostname = spec.hostname ?? spec.name.slice(0, 63);
  let network: RuntimeNetwork = spec.network.mode === 'host' ? { mode: 'host' } : { mode: 'none' };
  let netResources: Resource[] = [];
  let plug: Resolved['plug'];
  // FreeBSD: the jail driver writes a bridged jail's /etc/hosts and /etc/resolv.conf into its root
  // from the RuntimeNetwork, and other jails keep the image's; its fstab volumes are directories
  // (file nullfs mounts are FreeBSD 14+ only). So no network file mounts there.
  const fileMounts = hostOs() !== 'freebsd';
  if (spec.network.mode === 'bridge') {
    const net = await import('../net/index.js');
    const att = await net.prepareNetwork(spec, spec.name);
    network = att.network;
    netResources = att.resources;
    if (fileMounts) mounts.push(...att.mounts);
    plug = (pid: number) => net.plugNetwork(att, spec.name, pid);
  } else if (fileMounts) {
    mounts.push(...basicNetworkFiles(dir, spec, hostname));
  }
  const cfg: ContainerConfig = {
    name: spec.name,
    runId: opts.runId ?? randomBytes(4).toString('hex'),
    dir,
    root: { layers: image.layerDirs, ...(await zfsRoot(spec.name, image)), ephemeral: opts.ephemeral },
    argv,
    env: mergeEnv(image.record.config.env, spec.env),
    workdir: spec.workdir ?? image.record.config.workdir ?? '/',
    user: spec.user ?? image.record.config.user ?? '',
    hostname,
    mounts,
    limits: spec.limits,
    wait: spec.wait,
    tty: spec.tty,
    interactive: spec.interactive,
    network,
    stopSignal: spec.stopSignal,
    jail: spec.jail,
    security: spec.security,
    ...(spec.parent === undefined ? {} : { parent: spec.parent }),
    output: opts.output,
  };
  return { cfg, image, netResources, ...(plug ? { plug } : {}) };
}
