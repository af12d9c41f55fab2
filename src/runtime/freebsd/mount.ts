import { lstatSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { VesselError, hasErrno, run } from '../../util/index.js';
import type { ContainerConfig, Mount, Resource } from '../types.js';
import { runFiles } from './names.js';
import type { Step } from './steps.js';

/**
 * Mounts: the nullfs root of a non-ZFS store (mount_nullfs(8), mount_unionfs(8)), and the
 * volumes, which jail(8) mounts itself from `mount.fstab` before the jail is created and unmounts
 * after it is removed.
 */

/** fstab(5): fields are separated by blanks; a blank inside a path is written \040 (tab \011). */
function fstabField(s: string): string {
  return s.replace(/\\/g, '\\134').replace(/ /g, '\\040').replace(/\t/g, '\\011').replace(/\n/g, '\\012');
}

/** Where a container path lands on the host. */
export function hostTarget(rootfs: string, target: string): string {
  return join(rootfs, posix.normalize('/' + target));
}

export function fstabOptions(m: Mount): { source: string; fstype: string; options: string } {
  if (m.kind === 'bind') return { source: m.source, fstype: 'nullfs', options: m.readonly ? 'ro' : 'rw' };
  // tmpfs(5): size in bytes, mode of the root in octal.
  const opts = ['rw'];
  if (m.sizeBytes !== undefined) opts.push(`size=${m.sizeBytes}`);
  opts.push(`mode=${(m.mode ?? 0o1777).toString(8)}`);
  return { source: 'tmpfs', fstype: 'tmpfs', options: opts.join(',') };
}

export function renderFstab(cfg: ContainerConfig): string {
  const { rootfs } = runFiles(cfg);
  const lines = [`# vessel: volumes of container ${cfg.name}. fstab(5); jail(8) mounts them (mount.fstab) at create, unmounts them at remove.`];
  for (const m of cfg.mounts) {
    const o = fstabOptions(m);
    lines.push([o.source, hostTarget(rootfs, m.target), o.fstype, o.options, '0', '0'].map(fstabField).join('\t'));
  }
  return lines.join('\n') + '\n';
}

/** The mounts jail -c makes (volumes in fstab order, then devfs on /dev), as resources. */
export function jailMountResources(cfg: ContainerConfig): Resource[] {
  const { rootfs } = runFiles(cfg);
  return [
    ...cfg.mounts.map((m): Resource => ({ kind: 'mount', id: hostTarget(rootfs, m.target), detail: { fstype: fstabOptions(m).fstype, by: 'jail' } })),
    { kind: 'mount', id: join(rootfs, 'dev'), detail: { fstype: 'devfs', by: 'jail' } },
  ];
}

/**
 * A nullfs root: the base layer read-only, each higher layer stacked read-only with unionfs, and
 * the container's writable layer on top (on tmpfs when the container is ephemeral). OCI
 * whiteouts are not interpreted by unionfs — see docs/freebsd.md for why ZFS clones are preferred.
 */
export function nullfsRoot(cfg: ContainerConfig): { steps: Step[]; resources: Resource[] } {
  const { rootfs, upper } = runFiles(cfg);
  const layers = cfg.root.layers;
  if (layers.length === 0) throw new VesselError('E_RUNTIME', `container ${cfg.name}: the image has no layers`);
  const steps: Step[] = [{ argv: ['mkdir', '-p', rootfs, upper] }];
  const resources: Resource[] = [];
  if (cfg.root.ephemeral) {
    steps.push({ argv: ['mount', '-t', 'tmpfs', 'tmpfs', upper] });
    resources.push({ kind: 'mount', id: upper, detail: { fstype: 'tmpfs' } });
  }
  steps.push({ argv: ['mount', '-t', 'nullfs', '-o', 'ro', layers[0]!, rootfs] });
  resources.push({ kind: 'mount', id: rootfs, detail: { fstype: 'nullfs' } });
  for (const layer of layers.slice(1)) {
    steps.push({ argv: ['mount', '-t', 'unionfs', '-o', 'ro', layer, rootfs] });
    resources.push({ kind: 'mount', id: rootfs, detail: { fstype: 'unionfs' } });
  }
  steps.push({ argv: ['mount', '-t', 'unionfs', upper, rootfs] });
  resources.push({ kind: 'mount', id: rootfs, detail: { fstype: 'unionfs' } });
  return { steps, resources };
}

/** A bind volume whose host source is a regular file (a missing source is left to jail -c to report). */
export function isFileVolume(m: Mount): boolean {
  if (m.kind !== 'bind') return false;
  try {
    return statSync(m.source).isFile();
  } catch (e) {
    if (hasErrno(e, 'ENOENT') || hasErrno(e, 'ENOTDIR') || hasErrno(e, 'EACCES')) return false;
    throw e;
  }
}

/**
 * nullfs mounts a file on a file since FreeBSD 13.2 (D37478; before it the kernel answers
 * ENOTDIR): kern.osreldate 1302000 is 13.2-RELEASE, and every 14.x and 15.x release has it.
 */
export const NULLFS_FILE_OSRELDATE = 1302000;
export const OSRELDATE_PROBE = ['sysctl', '-n', 'kern.osreldate'];

export function checkFileVolumes(cfg: ContainerConfig, stdout: string): void {
  const rel = Number(stdout.trim());
  const files = cfg.mounts.filter(isFileVolume);
  if (files.length > 0 && Number.isFinite(rel) && rel < NULLFS_FILE_OSRELDATE) {
    const m = files[0]! as Extract<Mount, { kind: 'bind' }>;
    throw new VesselError('E_UNSUPPORTED', `[container] volume ${m.source}:${m.target}: a single-file volume needs nullfs file mounts, which FreeBSD has from 13.2 (kern.osreldate ${NULLFS_FILE_OSRELDATE}); this host is ${rel}`, {
      hint: 'mount the directory that holds the file instead, or upgrade to 13.2 or later',
    });
  }
}

/**
 * Mount points the volumes and devfs need inside the root: a directory for a directory volume,
 * an empty file for a file volume — a directory there would make nullfs refuse the file mount
 * and `jail -c` abort (mount.fstab fails).
 */
export function mountPointSteps(cfg: ContainerConfig): Step[] {
  const { rootfs } = runFiles(cfg);
  const files = cfg.mounts.filter(isFileVolume).map((m) => hostTarget(rootfs, m.target));
  const dirs = cfg.mounts.filter((m) => !isFileVolume(m)).map((m) => hostTarget(rootfs, m.target));
  const parents = [...new Set(files.map((f) => dirname(f)))].filter((d) => !dirs.includes(d));
  const steps: Step[] = [{ argv: ['mkdir', '-p', join(rootfs, 'dev'), ...dirs, ...parents] }];
  if (files.length > 0) steps.push({ argv: ['touch', ...files] });
  return steps;
}

/**
 * A symlink inside the image on the way to a mount point or a file vessel writes would send the
 * mount (or the write) outside the container's root: refuse before anything is mounted. Parts
 * that do not exist yet are fine (mkdir creates plain directories).
 */
export function assertNoSymlinks(rootfs: string, paths: string[]): void {
  for (const m of paths) {
    let p = rootfs;
    for (const part of posix.normalize('/' + m).split('/').filter(Boolean)) {
      p = join(p, part);
      let isLink: boolean;
      try {
        isLink = lstatSync(p).isSymbolicLink();
      } catch (e) {
        if (hasErrno(e, 'ENOENT') || hasErrno(e, 'ENOTDIR')) break;
        throw e;
      }
      if (isLink) throw new VesselError('E_RUNTIME', `${m}: ${p} is a symbolic link inside the image; refusing to mount or write through it`);
    }
  }
}

export function assertMountPointsInside(cfg: ContainerConfig): void {
  assertNoSymlinks(runFiles(cfg).rootfs, [...cfg.mounts.map((x) => x.target), '/dev']);
}

/** `mount -p` (fstab format): the mount points, in mount order, with \040-style escapes decoded. */
export async function mountedPaths(): Promise<string[]> {
  const r = await run(['mount', '-p'], { allowFailure: true });
  if (r.exitCode !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[1])
    .filter((p): p is string => p !== undefined && p !== '')
    .map((p) => p.replace(/\\([0-7]{3})/g, (_w, o: string) => String.fromCharCode(parseInt(o, 8))));
}

export async function unmount(path: string): Promise<void> {
  // -f: a crashed run may have left processes with files open under the mount.
  await run(['umount', '-f', path]);
}

/** Mounts under the container's directory, in mount order (cleanup's reverse order unmounts the newest first). */
export async function mountLeftovers(dir: string): Promise<Resource[]> {
  return (await mountedPaths()).filter((p) => p === dir || p.startsWith(dir + '/')).map((id): Resource => ({ kind: 'mount', id }));
}

/**
 * Unmounts what is still mounted, reading `mount -p` once per cleanup: after the jail is gone
 * (jail -r unmounts its own fstab and devfs), so those are skipped rather than failing. `forget`:
 * a jail was removed since (a cleanup of two runs removes a jail after it unmounted the other
 * run's root), so the list is read again before the next unmount.
 */
export function unmounter(): { unmount: (path: string) => Promise<void>; forget: () => void } {
  let mounted: string[] | undefined;
  return {
    unmount: async (path) => {
      mounted ??= await mountedPaths();
      const i = mounted.lastIndexOf(path);
      if (i < 0) return;
      await unmount(path);
      mounted.splice(i, 1);
    },
    forget: () => {
      mounted = undefined;
    },
  };
}
