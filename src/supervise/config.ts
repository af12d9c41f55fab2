import { mergeEnv, type ContainerSpec } from '../spec/index.js';
import type { ImageConfig } from '../image/index.js';
import type { ContainerConfig, Mount, RuntimeNetwork } from '../runtime/index.js';
import { resolveHealth } from './health.js';

/**
 * What a start knows besides the spec, gathered first (supervise/resolve.ts): by a real start
 * (the network leased, the image's ZFS snapshots made) or by `vessel plan` (nothing created, the
 * unknowable shown as `<placeholders>`). The config is a pure function of the spec and these, so
 * plan and start cannot disagree on the command, env, user, workdir or root.
 */
export interface ConfigFacts {
  image: { layerDirs: string[]; config: ImageConfig };
  /** FreeBSD on a ZFS store: the snapshot to clone and the clone's name. */
  zfs?: { zfsSnapshot: string; zfsDataset: string };
  network: RuntimeNetwork;
  /** Volumes, then the network's files (/etc/hosts, /etc/resolv.conf) where the OS bind-mounts them. */
  mounts: Mount[];
  dir: string;
  runId: string;
  ephemeral: boolean;
  output: ContainerConfig['output'];
}

/** docker's rule: an entrypoint given by the spec drops the image's CMD. */
export function commandOf(spec: ContainerSpec, img: ImageConfig): string[] {
  const entrypoint = spec.entrypoint ?? img.entrypoint ?? [];
  const cmd = spec.command ?? (spec.entrypoint ? [] : img.cmd ?? []);
  return [...entrypoint, ...cmd];
}

/** The image's env, then the spec's, merged by key (spec/env.ts: the one merge). */
export { mergeEnv };

/** The container's hostname: the spec's, else its name cut to what sethostname(2) takes. */
export function hostnameOf(spec: ContainerSpec): string {
  return spec.hostname ?? spec.name.slice(0, 63);
}

export function containerConfig(spec: ContainerSpec, f: ConfigFacts): ContainerConfig {
  const health = resolveHealth(spec, f.image.config);
  return {
    name: spec.name,
    runId: f.runId,
    dir: f.dir,
    root: { layers: f.image.layerDirs, ...(f.zfs ?? {}), ephemeral: f.ephemeral },
    argv: commandOf(spec, f.image.config),
    env: mergeEnv(f.image.config.env, spec.env),
    workdir: spec.workdir ?? f.image.config.workdir ?? '/',
    user: spec.user ?? f.image.config.user ?? '',
    hostname: hostnameOf(spec),
    mounts: f.mounts,
    limits: spec.limits,
    wait: spec.wait,
    tty: spec.tty,
    interactive: spec.interactive,
    network: f.network,
    stopSignal: spec.stopSignal,
    jail: spec.jail,
    security: spec.security,
    ...(spec.parent === undefined ? {} : { parent: spec.parent }),
    ...(health === undefined ? {} : { health }),
    output: f.output,
  };
}
