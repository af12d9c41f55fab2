import { PassThrough } from 'node:stream';
import { FakeFreeBSD } from './freebsd.js';
import type { HostOptions, HostResult, SpawnedProcess, SpawnOptions } from '../../src/util/host.js';

/**
 * The model FreeBSD host of test/helpers/freebsd.ts, with processes that live until they are
 * killed: a command started with vessel-jail-exec runs until `pkill -j` or `jail -r` ends its jail's processes, and
 * pwait(1) blocks until the pids it waits for are gone. That is what the supervisor needs to be
 * run for real (start, running, stop). `crash()` models a SIGKILLed supervisor: whatever was
 * waiting on the host's processes never hears of them again.
 *
 * netstat(1) answers with a LAN route on 10.77.0.0/24, so address management must skip it.
 */
export class LiveFreeBSD extends FakeFreeBSD {
  private nextPid = 4000;
  private waiters: Array<{ done: () => boolean; resolve: () => void }> = [];

  routes = [
    { destination: 'default', gateway: '192.0.2.1', flags: 'UGS', 'interface-name': 'em0' },
    { destination: '10.77.0.0/24', gateway: 'link#2', flags: 'U', 'interface-name': 'em1' },
    { destination: '127.0.0.1', gateway: 'link#3', flags: 'UH', 'interface-name': 'lo0' },
    { destination: '192.0.2.0/24', gateway: 'link#1', flags: 'U', 'interface-name': 'em0' },
  ];

  override async run(argv: readonly string[], opts: HostOptions = {}): Promise<HostResult> {
    if (argv[0] === 'netstat') {
      this.calls.push({ argv: [...argv] });
      const doc = { statistics: { 'route-information': { 'route-table': { 'rt-family': [{ 'address-family': 'Internet', 'rt-entry': this.routes }] } } } };
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
    if ((argv[0] ?? '').endsWith('/vessel-jail-exec')) {
      this.calls.push({ argv: [...argv] });
      const jail = argv[argv.indexOf('-j') + 1]!;
      const pid = this.nextPid++;
      this.procs.set(jail, [...(this.procs.get(jail) ?? []), pid]);
      const alive = () => [...this.procs.values()].some((p) => p.includes(pid));
      const exited = this.until(() => !alive()).then(() => ({ code: null, signal: 'SIGTERM' as NodeJS.Signals }));
      return { pid, pipes: [], exited, kill: () => undefined, unref: () => undefined };
    }
    if (argv[0] === 'pwait') {
      this.calls.push({ argv: [...argv] });
      const pids = argv.slice(1).map(Number);
      const gone = () => !pids.some((p) => [...this.procs.values()].some((l) => l.includes(p)));
      const exited = this.until(gone).then(() => ({ code: 0, signal: null }));
      return { pid: this.nextPid++, pipes: [], exited, kill: () => undefined, unref: () => undefined };
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

  /** The supervisor was SIGKILLed: nothing waits on the jail's processes any more. */
  crash(): void {
    this.waiters = [];
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

  private until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ done, resolve }));
  }

  private wake(): void {
    const ready = this.waiters.filter((w) => w.done());
    this.waiters = this.waiters.filter((w) => !w.done());
    for (const w of ready) w.resolve();
  }
}
