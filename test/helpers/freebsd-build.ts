import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LiveFreeBSD } from './freebsd-e2e.js';
import { isMonitor, LIBEXEC } from './freebsd.js';
import { planForTranscript, readPlan, spawnChrootMonitor } from './freebsd-monitor.js';
import type { HostOptions, HostResult, HostRunner, SpawnedProcess, SpawnOptions } from '../../src/util/host.js';

/**
 * The model FreeBSD host (freebsd-e2e.ts) with real root filesystems, for a build's RUN step:
 * everything a FreeBSD start runs is recorded as before (the transcript), and what makes or reads
 * a root also happens for real, with what Linux has in its place:
 *
 *   - `mount -t nullfs -o ro LOWER ROOT`, `mount -t unionfs -o ro LOWER ROOT` and then the
 *     writable `mount -t unionfs UPPER ROOT` (runtime/freebsd/mount.ts) make one real overlayfs
 *     mount of those lowers under that upper directory: a union filesystem whose deletions are
 *     not files tar could read, as unionfs's are not;
 *   - the image's layer datasets (`zfs create`, `zfs clone` of the chain below) are real
 *     directories the layers are applied onto for real, and the container's `zfs clone` is an
 *     overlay over its snapshot's directory: a copy-on-write root that keeps the inode numbers
 *     and times of what it was cloned from until something is written, as a ZFS clone does
 *     (overlayfs on one filesystem reports the lower inode; a copy-up gets a new ctime);
 *   - `umount` and `zfs destroy` of such a root unmount it, after a snapshot of what it holds
 *     (`roots`: what the step left, to compare with the image built from it);
 *   - tar (the FreeBSD forms name it bsdtar off FreeBSD) runs for real; the transcript shows
 *     `tar`, the program FreeBSD runs;
 *   - the monitor of a build container runs its command for real, chrooted into the root
 *     (freebsd-monitor.ts spawnChrootMonitor).
 */
export class RealRootFreeBSD extends LiveFreeBSD {
  /** What each root held just before it was unmounted, by its path. */
  readonly roots = new Map<string, Map<string, string>>();
  private readonly lowers = new Map<string, string[]>();
  private readonly dsMounts = new Map<string, string>();
  private readonly overlays = new Set<string>();

  constructor(private readonly real: HostRunner, private readonly scratch: string) {
    super();
  }

  override async run(argv: readonly string[], opts: HostOptions = {}): Promise<HostResult> {
    const a = [...argv];
    if (a[0] === 'bsdtar' || a[0] === 'tar') {
      this.calls.push({ argv: ['tar', ...a.slice(1)] });
      return this.real.run(['bsdtar', ...a.slice(1)], opts);
    }
    if (a[0] === 'mkdir') for (const d of a.slice(1).filter((x) => !x.startsWith('-'))) mkdirSync(d, { recursive: true });
    if (a[0] === 'mount' && a[1] === '-t') this.mount(a);
    if (a[0] === 'umount') this.unmount(a[a.length - 1]!);
    if (a[0] === 'zfs') this.zfs(a);
    return super.run(argv, opts);
  }

  override spawn(argv: readonly string[], opts: SpawnOptions = {}): SpawnedProcess {
    if (isMonitor(argv)) {
      const jail = readPlan(argv[2]!).find((r) => r[0] === 'jail')?.[1] ?? '';
      const path = this.jails.get(jail)?.path;
      if (jail.startsWith('vessel-build-') && path !== undefined) {
        this.calls.push({ argv: [...argv], input: planForTranscript(argv[2]!) });
        return spawnChrootMonitor(argv[2]!, path);
      }
    }
    if (argv[0] === 'bsdtar' || argv[0] === 'tar') {
      this.calls.push({ argv: ['tar', ...argv.slice(1)] });
      return this.real.spawn(['bsdtar', ...argv.slice(1)], opts);
    }
    // The tar gate (image/gate.ts) runs for real, as it would on the host; it starts the unpacker
    // itself (bsdtar here, `tar` on FreeBSD), so the transcript shows both as FreeBSD would run them.
    if (basename(argv[0] ?? '') === 'vessel-tar-gate') {
      this.calls.push({ argv: [join(LIBEXEC, 'vessel-tar-gate'), ...argv.slice(1).map((a) => (a === 'bsdtar' ? 'tar' : a))] });
      return this.real.spawn(argv, opts);
    }
    return super.spawn(argv, opts);
  }

  /** Unmount what is still mounted for real (a test that failed half-way). */
  dispose(): void {
    for (const p of [...this.overlays].reverse()) execFileSync('umount', ['-l', p], { stdio: 'ignore' });
    this.overlays.clear();
  }

  private mount(a: string[]): void {
    const fstype = a[2]!;
    const [source, target] = a.slice(-2) as [string, string];
    const ro = a.includes('-o') && a[a.indexOf('-o') + 1] === 'ro';
    if ((fstype === 'nullfs' || fstype === 'unionfs') && ro) {
      this.lowers.set(target, [...(this.lowers.get(target) ?? []), source]);
    } else if (fstype === 'unionfs') {
      this.overlay(this.lowers.get(target) ?? [], source, target);
      this.lowers.delete(target);
    }
  }

  private overlay(lowers: string[], upper: string, target: string): void {
    const work = join(this.scratch, `work-${this.overlays.size}-${Date.now()}`);
    mkdirSync(work, { recursive: true });
    mkdirSync(upper, { recursive: true });
    // overlayfs lists its lowers top first; unionfs stacks them bottom first
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...lowers].reverse().join(':')},upperdir=${upper},workdir=${work}`, target]);
    this.overlays.add(target);
  }

  private unmount(target: string): void {
    if (!this.overlays.has(target)) return;
    this.roots.set(target, snapshotTree(target));
    execFileSync('umount', [target]);
    this.overlays.delete(target);
  }

  private zfs(a: string[]): void {
    const ds = a[a.length - 1]!;
    const mountpoint = a.find((x) => x.startsWith('mountpoint='))?.slice('mountpoint='.length);
    if (a[1] === 'create' && mountpoint) {
      mkdirSync(mountpoint, { recursive: true });
      this.dsMounts.set(ds, mountpoint);
    } else if (a[1] === 'clone' && mountpoint) {
      const origin = this.dsMounts.get(a[a.length - 2]!.split('@')[0]!);
      if (origin === undefined) throw new Error(`model zfs clone: no dataset behind ${a[a.length - 2]}`);
      mkdirSync(mountpoint, { recursive: true });
      if (ds.includes('/containers/')) {
        this.overlay([origin], join(this.scratch, `clone-${ds.replace(/\//g, '_')}-${Date.now()}`), mountpoint);
      } else {
        // a layer chain's dataset: a clone of the chain below, written once, then only read
        execFileSync('cp', ['-a', `${origin}/.`, `${mountpoint}/`]);
      }
      this.dsMounts.set(ds, mountpoint);
    } else if (a[1] === 'destroy') {
      const mp = this.dsMounts.get(ds);
      if (mp !== undefined) this.unmount(mp);
      this.dsMounts.delete(ds);
    }
  }
}

/**
 * What a root holds, path by path (names as bytes, latin1): kind, mode, owner, and a file's
 * content, a link's target or a device's numbers — what an image must give back exactly.
 * Directories' sizes and every time are left out (they differ between filesystems and copies).
 * `dev` is left out: the jail's devfs, not the step's.
 */
export function snapshotTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const rootBytes = Buffer.from(root);
  const walk = (rel: string) => {
    const abs = Buffer.concat([rootBytes, Buffer.from(rel ? `/${rel}` : '', 'latin1')]);
    for (const n of readdirSync(abs, { encoding: 'buffer' })) {
      const r = (rel ? `${rel}/` : '') + n.toString('latin1');
      if (r === 'dev') continue;
      const p = Buffer.concat([rootBytes, Buffer.from(`/${r}`, 'latin1')]);
      const st = lstatSync(p);
      const head = `${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isFile()) out.set(r, `${head} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`);
      else if (st.isSymbolicLink()) out.set(r, `${head} -> ${readlinkSync(p, { encoding: 'buffer' }).toString('latin1')}`);
      else if (st.isCharacterDevice() || st.isBlockDevice()) out.set(r, `${head} ${st.rdev}`);
      else out.set(r, head);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}
