import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { importRootfsTarball } from '../../src/image/index.js';
import { FakeFreeBSD, isMonitor } from './freebsd.js';
import { crashModelMonitors, planForTranscript, spawnModelMonitor } from './freebsd-monitor.js';
import type { HostOptions, HostResult, SpawnedProcess, SpawnOptions } from '../../src/util/host.js';

/**
 * The model FreeBSD host of test/helpers/freebsd.ts, with processes that live until they are
 * killed: the container's monitor (freebsd-monitor.ts) runs its command until `pkill -j` or
 * `jail -r` ends the jail's processes, or until vessel stops it (SIGTERM to the monitor). That is
 * what the supervisor needs to be run for real (start, running, stop). `crash()` models a
 * SIGKILLed supervisor: the waiting CLI and its monitor are gone, the starter killed the
 * container's processes, and nothing else of the run is ever cleaned up by them.
 *
 * netstat(1) answers with a LAN route on 10.77.0.0/24, so address management must skip it.
 */
export class LiveFreeBSD extends FakeFreeBSD {
  private nextPid = 90000;

  routes = [
    { destination: 'default', gateway: '192.0.2.1', flags: 'UGS', 'interface-name': 'em0' },
    { destination: '10.77.0.0/24', gateway: 'link#2', flags: 'U', 'interface-name': 'em1' },
    { destination: '127.0.0.1', gateway: 'link#3', flags: 'UH', 'interface-name': 'lo0' },
    { destination: '192.0.2.0/24', gateway: 'link#1', flags: 'U', 'interface-name': 'em0' },
  ];

  /** netstat -f inet6: link-local and multicast with their zones, loopback, a LAN /64 on em0. */
  routes6 = [
    { destination: 'default', gateway: 'fe80::1%em0', flags: 'UG', 'interface-name': 'em0' },
    { destination: '::1', gateway: 'link#3', flags: 'UHS', 'interface-name': 'lo0' },
    { destination: '2001:db8:1::/64', gateway: 'link#1', flags: 'U', 'interface-name': 'em0' },
    { destination: 'fe80::%lo0/64', gateway: 'link#3', flags: 'U', 'interface-name': 'lo0' },
    { destination: 'ff02::%em0/16', gateway: 'link#1', flags: 'U', 'interface-name': 'em0' },
  ];

  override async run(argv: readonly string[], opts: HostOptions = {}): Promise<HostResult> {
    if (argv[0] === 'netstat') {
      this.calls.push({ argv: [...argv] });
      const v6 = argv.includes('inet6');
      const fam = { 'address-family': v6 ? 'Internet6' : 'Internet', 'rt-entry': v6 ? this.routes6 : this.routes };
      const doc = { statistics: { 'route-information': { 'route-table': { 'rt-family': [fam] } } } };
      return { argv, exitCode: 0, stdout: JSON.stringify(doc) + '\n', stderr: '' };
    }
    const zfs = this.zfsLayers([...argv]);
    if (zfs !== undefined) {
      this.calls.push({ argv: [...argv] });
      return { argv, exitCode: zfs.exitCode, stdout: zfs.stdout, stderr: '' };
    }
    try {
      return await super.run(argv, opts);
    } finally {
      this.wake();
    }
  }

  override spawn(argv: readonly string[], opts: SpawnOptions = {}): SpawnedProcess {
    if (isMonitor(argv)) {
      this.calls.push({ argv: [...argv], input: planForTranscript(argv[2]!) });
      return spawnModelMonitor(this.modelHost(), argv[2]!, false);
    }
    if (argv[0] === 'tar' || argv[0] === 'bsdtar') {
      // Copying a layer onto its ZFS dataset (image/flatten.ts copyTree): a pipe that ends at once.
      // FreeBSD's tar is bsdtar; off FreeBSD the image code runs it under that name (tar-forms.ts
      // programFor), so the transcript shows what FreeBSD runs: `tar`.
      this.calls.push({ argv: ['tar', ...argv.slice(1)] });
      const pipes = [new PassThrough(), new PassThrough(), new PassThrough()];
      pipes[1]!.end();
      pipes[2]!.end();
      return { pid: this.nextPid++, pipes, exited: Promise.resolve({ code: 0, signal: null }), kill: () => undefined, unref: () => undefined };
    }
    return super.spawn(argv, opts);
  }

  /** zfs create / snapshot / set and `list -r` of snapshots, which the base model leaves out. */
  private zfsLayers(argv: string[]): { exitCode: number; stdout: string } | undefined {
    if (argv[0] !== 'zfs') return undefined;
    const last = argv[argv.length - 1]!;
    if (argv[1] === 'create') {
      this.datasets.add(last);
      const mp = argv.find((x) => x.startsWith('mountpoint='))?.slice('mountpoint='.length);
      if (mp) this.mounts.push({ source: last, path: mp, fstype: 'zfs' });
      return { exitCode: 0, stdout: '' };
    }
    if (argv[1] === 'snapshot') {
      if (!this.datasets.has(last.split('@')[0]!)) return { exitCode: 1, stdout: '' };
      this.snapshots.add(last);
      return { exitCode: 0, stdout: '' };
    }
    if (argv[1] === 'set') return { exitCode: this.datasets.has(last) ? 0 : 1, stdout: '' };
    if (argv[1] === 'list' && argv.includes('-r')) {
      const under = [...this.snapshots].filter((x) => x.startsWith(`${last}/`));
      return { exitCode: this.datasets.has(last) || under.length > 0 ? 0 : 1, stdout: under.map((x) => `${x}\n`).join('') };
    }
    return undefined;
  }

  /** The supervisor was SIGKILLed: its monitor with it, whose starter killed the container's processes. */
  crash(): void {
    crashModelMonitors(this.modelHost());
  }

  /** Nothing vessel made is left on the host: what the model holds beyond its own em0 and lo0. */
  leftovers(): Record<string, unknown[]> {
    const out: Record<string, unknown[]> = {
      jails: [...this.jails.keys()],
      interfaces: [...this.interfaces].filter((i) => i !== 'em0' && i !== 'lo0'),
      anchors: [...this.anchors.keys()],
      rctl: this.rctl,
      mounts: this.mounts.map((m) => m.path),
      devfs: [...this.devfs.keys()],
      datasets: [...this.datasets],
    };
    return Object.fromEntries(Object.entries(out).filter(([, v]) => v.length > 0));
  }

  private wake(): void {
    for (const l of [...this.listeners]) l();
  }
}

/**
 * A tiny FreeBSD-looking root filesystem (root and www in its passwd, a page in /www), imported for
 * real as busybox:latest under the state root ROOT — before the model host is installed: it is
 * unpacked by the FreeBSD path's own tar form, with real bsdtar (FreeBSD's tar: tar-forms.ts).
 */
export async function importModelImage(root: string): Promise<void> {
  const rootfs = join(root, 'src-rootfs');
  for (const d of ['bin', 'etc', 'www', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:*:0:0::/root:/bin/sh\nwww:*:80:80::/nonexistent:/sbin/nologin\n');
  writeFileSync(join(rootfs, 'www', 'index.html'), 'hello\n');
  const tar = join(root, 'rootfs.tar');
  const r = spawnSync('tar', ['-C', rootfs, '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', tar, '.']);
  if (r.status !== 0) throw new Error(`tar: ${r.stderr?.toString() ?? ''}`);
  await importRootfsTarball(tar, 'busybox:latest');
}
