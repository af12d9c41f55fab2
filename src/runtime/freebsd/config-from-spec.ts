import { config, containerPaths } from '../../util/index.js';
import type { ContainerSpec } from '../../spec/index.js';
import type { ContainerConfig, RuntimeNetwork } from '../types.js';
import { bridgeName, epairNames } from './names.js';

/**
 * A ContainerConfig for `vessel plan`, from a spec alone: what the supervisor would resolve
 * (image layers, leased address) is filled with visible placeholders unless given, so the plan
 * never pretends to know what only a start can know. Pure.
 */
export interface ConfigFromSpecOptions {
  /** Image layer directories, base first; default `<images>/IMAGE/layer`. */
  layers?: string[];
  /** A ZFS store: snapshot to clone and dataset to clone into. */
  zfs?: { snapshot: string; dataset: string };
  /** Leased address with prefix and gateway, when known. */
  address?: string;
  gateway?: string;
  /** The image's CMD/ENTRYPOINT and env, when known. */
  imageArgv?: string[];
  imageEnv?: string[];
  dir?: string;
}

export function configFromSpec(spec: ContainerSpec, opts: ConfigFromSpecOptions = {}): ContainerConfig {
  const n = spec.network;
  let network: RuntimeNetwork;
  if (n.mode === 'bridge') {
    const name = n.name ?? 'default';
    const ep = epairNames(spec.name);
    network = {
      mode: 'bridge',
      network: name,
      bridge: bridgeName(name),
      address: opts.address ?? '<address>/24',
      gateway: opts.gateway ?? '<gateway>',
      hostIf: ep.host,
      containerIf: ep.jail,
      publish: n.publish,
      hosts: [],
      dns: [],
    };
  } else network = { mode: n.mode };
  const argv = spec.entrypoint !== undefined || spec.command !== undefined
    ? [...(spec.entrypoint ?? []), ...(spec.command ?? [])]
    : (opts.imageArgv ?? ['<image CMD>']);
  return {
    name: spec.name,
    runId: 'plan',
    dir: opts.dir ?? containerPaths(config(), spec.name).dir,
    root: {
      layers: opts.layers ?? (opts.zfs ? [] : [`<images>/${spec.image}/layer`]),
      ...(opts.zfs ? { zfsSnapshot: opts.zfs.snapshot, zfsDataset: opts.zfs.dataset } : {}),
      ephemeral: false,
    },
    argv,
    env: [...(opts.imageEnv ?? []), ...spec.env.map(([k, v]) => `${k}=${v}`)],
    workdir: spec.workdir ?? '/',
    user: spec.user ?? 'root',
    hostname: spec.hostname ?? spec.name,
    mounts: spec.volumes.map((v) => ({ ...v })),
    limits: spec.limits,
    wait: spec.wait,
    tty: spec.tty,
    interactive: spec.interactive,
    network,
    stopSignal: spec.stopSignal,
    jail: spec.jail,
    security: spec.security,
    ...(spec.parent !== undefined ? { parent: spec.parent } : {}),
    output: { kind: 'inherit' },
  };
}
