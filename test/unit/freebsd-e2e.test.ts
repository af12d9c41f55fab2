import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * A container spec all the way through vessel's real code path on a (model) FreeBSD host: spec
 * text → parseSpecText → the real Supervisor (leftovers, resolveSpec, net/ leases and its FreeBSD
 * backend, the jail driver, state file) → stop / crash / `vessel gc`. VESSEL_OS=freebsd is the
 * test seam that picks the FreeBSD driver and network backend on Linux; every host command goes to
 * the model host (test/helpers/freebsd-e2e.ts), whose transcript (argv and stdin) is compared with
 * test/fixtures/freebsd/e2e-*. UPDATE_GOLDEN=1 rewrites them; review the diff before committing.
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-freebsd-e2e-'));
process.env.VESSEL_ROOT = root;
process.env.VESSEL_OS = 'freebsd';
delete process.env.VESSEL_EXT_IF;
delete process.env.VESSEL_NETWORK_POOL;
delete process.env.VESSEL_NETWORK_PREFIX;
// Networks are dual-stack (the model host has IPv6 forwarding on): a fixed IPv6 prefix keeps the
// transcripts the same on every run (otherwise a random one is drawn per state root).
process.env.VESSEL_NETWORK_ULA = 'fd00:77::/48';
afterAll(() => rmSync(root, { recursive: true, force: true }));

import { setHostRunner } from '../../src/util/host.js';
import { parseSpecText } from '../../src/spec/parse.js';
import { Supervisor } from '../../src/supervise/supervisor.js';
import { gc, removeContainer } from '../../src/supervise/gc.js';
import { stopContainer } from '../../src/supervise/control.js';
import { readState, writeState } from '../../src/supervise/state.js';
import { importImage } from '../../src/image/index.js';
import { makeOciArchive, makeTar } from '../helpers/image.js';
import { createNetwork, listLeases, listNetworkInfo, removeNetwork } from '../../src/net/index.js';
import { expectGolden, normalizeRoot } from '../helpers/freebsd.js';
import { LiveFreeBSD, importModelImage } from '../helpers/freebsd-e2e.js';

/** Per-test root → /var/lib/vessel; the image's layer digest (tar-version dependent) → <diffid>. */
const norm = (s: string) => normalizeRoot(s, root).replace(/layers\/[0-9a-f]{64}/g, 'layers/<diffid>').replace(/^( {2}\| run-id )[0-9a-f]{8}$/gm, '$1<run>');

beforeAll(() => importModelImage(root));

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

function install(): LiveFreeBSD {
  const fake = new LiveFreeBSD();
  restore = setHostRunner(fake);
  return fake;
}

function spec(file: string, text: string) {
  return parseSpecText(text, { file: `/usr/local/etc/vessel/vassals/${file}` });
}

const PLAIN = `[container]
image = busybox:latest
command = /bin/httpd -f -p 80 -h /www
`;

const NETWORKED = `[container]
image = busybox:latest
command = /bin/httpd -f -p 80 -h /www
env[] = GREETING=hello
stop_timeout = 5

[network]
name = front
publish[] = 8080:80

[limits]
memory = 64M
maxproc = 50
cpu = 50%
`;

function jailConf(name: string): string {
  return norm(readFileSync(join(root, 'containers', name, 'jail.conf'), 'utf8'));
}

/** A pid that is certainly not running: the supervisor of a crashed run. */
function deadPid(): number {
  const p = spawnSync('true');
  return p.pid ?? 999_999_999;
}

describe('FreeBSD end to end: spec → Supervisor → jail driver + net backend (model host)', () => {
  it('plain: start, running, stop, nothing left', async () => {
    const fake = install();
    const sup = new Supervisor(spec('plain.ini', PLAIN), { mode: 'foreground' });
    await sup.start();
    expect((await readState('plain'))?.status).toBe('running');
    expect([...fake.jails.keys()]).toEqual(['plain']);
    expectGolden('e2e-plain', 'jail.conf', jailConf('plain'));
    const status = await sup.stop();
    expect(status.code).toBe(143);
    expect((await readState('plain'))).toMatchObject({ status: 'exited', resources: [] });
    expect(fake.leftovers()).toEqual({});
    expectGolden('e2e-plain', 'commands.txt', norm(fake.transcript()));
  });

  it('nullfs store, an image whose upper layer deletes files: the chain flattened once into one read-only nullfs lower (unionfs reads no whiteouts)', async () => {
    const base = await makeTar([{ name: 'www', type: 'directory' }, { name: 'www/index.html', content: 'old\n' }, { name: 'www/keep.html', content: 'keep\n' }]);
    const top = await makeTar([{ name: 'www', type: 'directory' }, { name: 'www/.wh.index.html' }]);
    const file = join(root, 'layered.tar');
    writeFileSync(file, await makeOciArchive({ layers: [base, top], config: { Cmd: ['/bin/sh'] }, os: 'freebsd' }));
    await importImage(file, 'layered:1'); // for real (bsdtar), before the model host is installed
    const fake = install();
    const text = PLAIN.replace('busybox:latest', 'layered:1');
    for (let i = 0; i < 2; i++) {
      const sup = new Supervisor(spec('flatweb.ini', text), { mode: 'foreground' });
      await sup.start();
      await sup.stop();
    }
    expect(fake.leftovers()).toEqual({});
    // made at the first start only: the second mounts the same directory
    expectGolden('e2e-flat', 'commands.txt', norm(fake.transcript()).replace(/flat\/[0-9a-f]{64}/g, 'flat/<chainid>').replace(/tmp\/flat-\d+-[0-9a-f]{12}/g, 'tmp/flat-<staging>'));
    await removeContainer('flatweb'); // the gc case below sees only its own containers
  });

  it('beforeExec (a build\'s RUN step lists its root there): after jail -c, before the monitor; when it fails, nothing is left', async () => {
    const fake = install();
    let seen: string[] = [];
    const sup = new Supervisor(spec('hooked.ini', PLAIN), { mode: 'foreground', beforeExec: async () => { seen = fake.calls.map((c) => c.argv[0]!.split('/').pop()!); } });
    await sup.start();
    expect(seen).toContain('jail');
    expect(seen).not.toContain('vessel-init');
    expect(fake.calls.some((c) => c.argv[1] === 'monitor')).toBe(true);
    await sup.stop();
    const failing = new Supervisor(spec('hooked.ini', PLAIN), { mode: 'foreground', beforeExec: async () => { throw new Error('listing failed'); } });
    await expect(failing.start()).rejects.toThrow('listing failed');
    expect(fake.leftovers()).toEqual({});
    expect(await readState('hooked')).toMatchObject({ resources: [] });
    await removeContainer('hooked');
  });

  it('run -d: the monitor outlives its CLI (restart table, release command in its plan); vessel stop ends it, then releases the jail', async () => {
    const fake = install();
    const sup = new Supervisor(spec('bg.ini', PLAIN), {
      mode: 'detached',
      detached: true,
      monitor: { service: '/var/run/vessel/vessel.sock', releaseArgv: ['/usr/local/bin/node', '/usr/local/lib/vessel/bin/vessel.js', '_release', 'bg'] },
    });
    await sup.start();
    const running = (await readState('bg'))!;
    expect(running).toMatchObject({ status: 'running', supervisorPid: sup.monitorPid });
    expect([...fake.jails.keys()]).toEqual(['bg']);
    const stopped = await stopContainer('bg', 5);
    expect(stopped).toMatchObject({ status: 'exited', resources: [], lastExit: { code: 143 } });
    expect(fake.leftovers()).toEqual({});
    expectGolden('e2e-detached', 'commands.txt', norm(fake.transcript()));
  });

  it('network front, published port, limits: lease, bridge, epair, anchors, rctl; all released at stop', async () => {
    const fake = install();
    const sup = new Supervisor(spec('web.ini', NETWORKED), { mode: 'foreground' });
    await sup.start();
    // 10.77.0.0/24 is routed on the host (netstat): the automatic subnet skips it.
    const [net] = await listNetworkInfo();
    expect(net).toMatchObject({ name: 'front', subnet: '10.77.1.0/24', bridge: 'vbr2d8d6931', auto: true });
    // Dual stack: a /64 of VESSEL_NETWORK_ULA, the IPv6 address with the IPv4 host number.
    expect(net!.subnet6).toMatch(/^fd00:77:0:[0-9a-f]+::\/64$/);
    expect(net!.containers).toEqual([{ name: 'web', address: '10.77.1.2', address6: net!.subnet6!.replace('::/64', '::2'), publish: ['8080:80/tcp'] }]);
    // The names net/ leased are the ones the driver created.
    expect([...fake.interfaces].sort()).toEqual(['em0', 'lo0', 'vbr2d8d6931', 'vsl4b5e57f6a']);
    expect([...fake.anchors.keys()].sort()).toEqual(['vessel-nat/front', 'vessel-rdr/web']);
    expect(fake.rctl).toEqual(['jail:web:memoryuse:deny=67108864', 'jail:web:maxproc:deny=50', 'jail:web:pcpu:deny=50']);
    const recorded = (await readState('web'))!.resources.map((r) => `${r.kind} ${r.id}`);
    expect(recorded.filter((r) => r.startsWith('lease') || r.startsWith('interface') || r.startsWith('pf-anchor')))
      .toEqual(['lease web', 'interface vsl4b5e57f6a', 'pf-anchor vessel-rdr/web']);
    expectGolden('e2e-network', 'jail.conf', jailConf('web'));
    expectGolden('e2e-network', 'rootfs-hosts', norm(readFileSync(join(root, 'containers', 'web', 'rootfs', 'etc', 'hosts'), 'utf8')));
    await sup.stop();
    expect(fake.leftovers()).toEqual({});
    expect(await listLeases()).toEqual([]);
    expect(await listNetworkInfo()).toEqual([]);
    expectGolden('e2e-network', 'commands.txt', norm(fake.transcript()));
  });

  it('explicit network: kept after its container stops; `network rm` flushes vessel-nat/NET and destroys the bridge', async () => {
    const fake = install();
    await createNetwork('back', { subnet: '10.99.0.0/24' });
    const sup = new Supervisor(spec('db.ini', `[container]\nimage = busybox:latest\ncommand = /bin/sleep 3600\n\n[network]\nname = back\n`), { mode: 'foreground' });
    await sup.start();
    await sup.stop();
    expect(fake.leftovers()).toEqual({ interfaces: ['vbr3c482346'], anchors: ['vessel-nat/back'] });
    expect((await listNetworkInfo()).map((n) => n.name)).toEqual(['back']);
    await removeNetwork('back');
    expect(fake.leftovers()).toEqual({});
    expect(await listNetworkInfo()).toEqual([]);
    expectGolden('e2e-network-rm', 'commands.txt', norm(fake.transcript()));
  });

  it('hierarchical: a parent jail and its child (parent.child), stopped child first', async () => {
    const fake = install();
    const parent = new Supervisor(spec('app.ini', `${PLAIN}\n[jail]\nchildren.max = 2\n`), { mode: 'foreground' });
    await parent.start();
    const child = new Supervisor(spec('worker.ini', `[container]\nimage = busybox:latest\ncommand = /bin/sleep 3600\nparent = app\n`), { mode: 'foreground' });
    await child.start();
    expect([...fake.jails.keys()]).toEqual(['app', 'app.worker']);
    expectGolden('e2e-hierarchical', 'jail.conf', jailConf('app'));
    expectGolden('e2e-hierarchical', 'worker-jail.conf', jailConf('worker'));
    await child.stop();
    await parent.stop();
    expect(fake.leftovers()).toEqual({});
    expectGolden('e2e-hierarchical', 'commands.txt', norm(fake.transcript()));
  });

  it('ZFS store (VESSEL_ZFS_DATASET): layer snapshots made once by ChainID, each start a clone, destroyed at stop', async () => {
    const fake = install();
    process.env.VESSEL_ZFS_DATASET = 'zroot/vessel';
    try {
      for (let i = 0; i < 2; i++) {
        const sup = new Supervisor(spec('zfsweb.ini', PLAIN), { mode: 'foreground' });
        await sup.start();
        expect([...fake.datasets].sort()).toEqual([expect.stringMatching(/^zroot\/vessel\/containers\/zfsweb$/), expect.stringMatching(/^zroot\/vessel\/layers\/[0-9a-f]{32}$/)]);
        if (i === 0) expectGolden('e2e-zfs', 'jail.conf', jailConf('zfsweb'));
        await sup.stop();
      }
      // What stays is the image's layer dataset (mounted read-only where it was written), nothing of the container's.
      const left = fake.leftovers();
      expect(Object.keys(left).sort()).toEqual(['datasets', 'mounts']);
      expect(left.datasets).toEqual([expect.stringMatching(/^zroot\/vessel\/layers\//)]);
      expect(left.mounts).toEqual([expect.stringMatching(new RegExp(`^${root}/images/zfs/[0-9a-f]{32}$`))]);
      expectGolden('e2e-zfs', 'commands.txt', norm(fake.transcript()).replace(/[0-9a-f]{32}/g, '<chainid>'));
    } finally {
      delete process.env.VESSEL_ZFS_DATASET;
    }
  });

  it('named volume on a ZFS store: a dataset made on first use, nullfs-mounted into the jail, kept after the container until volume rm', async () => {
    const fake = install();
    process.env.VESSEL_ZFS_DATASET = 'zroot/vessel';
    const { removeVolume, listVolumes } = await import('../../src/volume/index.js');
    try {
      const text = `${PLAIN}volume[] = site:/www:ro\n`;
      for (let i = 0; i < 2; i++) {
        const sup = new Supervisor(spec('volweb.ini', text), { mode: 'foreground' });
        await sup.start();
        if (i === 0) {
          expectGolden('e2e-zfs-volume', 'jail.conf', jailConf('volweb'));
          expectGolden('e2e-zfs-volume', 'fstab', norm(readFileSync(join(root, 'containers', 'volweb', 'fstab'), 'utf8')));
        }
        await sup.stop();
      }
      expect(fake.datasets.has('zroot/vessel/volumes/site')).toBe(true);
      expect(await listVolumes()).toEqual([expect.objectContaining({ name: 'site', driver: 'zfs', dataset: 'zroot/vessel/volumes/site', createdBy: 'first use' })]);
      await removeVolume('site', async () => []);
      expect(fake.datasets.has('zroot/vessel/volumes/site')).toBe(false);
      expect(existsSync(join(root, 'volumes', 'site'))).toBe(false);
      expectGolden('e2e-zfs-volume', 'commands.txt', norm(fake.transcript()).replace(/[0-9a-f]{32}/g, '<chainid>'));
      // The later gc cases see every container of this root: this one is not theirs.
      rmSync(join(root, 'containers', 'volweb'), { recursive: true, force: true });
    } finally {
      delete process.env.VESSEL_ZFS_DATASET;
    }
  });

  it('VESSEL_ZFS_DATASET not ending in /vessel: a clear error, nothing created', async () => {
    const fake = install();
    process.env.VESSEL_ZFS_DATASET = 'zroot/jails';
    try {
      const sup = new Supervisor(spec('zfsbad.ini', PLAIN), { mode: 'foreground' });
      await expect(sup.start()).rejects.toThrow('VESSEL_ZFS_DATASET=zroot/jails: expected a dataset named vessel, POOL[/…]/vessel');
      expect(fake.leftovers()).toEqual({});
      expect(fake.calls.filter((c) => !['zfs list', 'jls --libxo', 'mount -p', 'devfs rule', 'ifconfig -l', 'rctl', 'pfctl -a'].some((p) => c.argv.join(' ').startsWith(p)))).toEqual([]);
    } finally {
      delete process.env.VESSEL_ZFS_DATASET;
    }
  });

  it('supervisor crashed: the next start of the same name removes the leftovers first', async () => {
    const fake = install();
    const first = new Supervisor(spec('web.ini', NETWORKED), { mode: 'foreground' });
    await first.start();
    fake.crash();
    // The vassal is respawned by the Emperor: a new process, a new Supervisor.
    writeState({ ...(await readState('web'))!, supervisorPid: deadPid() });
    fake.calls.length = 0;
    const second = new Supervisor(spec('web.ini', NETWORKED), { mode: 'foreground' });
    await second.start();
    expect([...fake.jails.keys()]).toEqual(['web']);
    expect((await listNetworkInfo())[0]!.containers.map((c) => c.name)).toEqual(['web']);
    await second.stop();
    expect(fake.leftovers()).toEqual({});
    expect(await listLeases()).toEqual([]);
    expect(await listNetworkInfo()).toEqual([]);
    expectGolden('e2e-crash-restart', 'commands.txt', norm(fake.transcript()));
  });

  it('supervisor crashed, no restart: vessel gc removes jail, epair, anchors, rctl, mounts, lease and network', async () => {
    // gc looks at every state file: only this case's container has one, whatever ran before.
    for (const other of ['plain', 'bg', 'db', 'app', 'worker', 'zfsweb', 'zfsbad']) rmSync(join(root, 'containers', other), { recursive: true, force: true });
    const fake = install();
    const sup = new Supervisor(spec('web.ini', NETWORKED), { mode: 'foreground' });
    await sup.start();
    fake.crash();
    writeState({ ...(await readState('web'))!, supervisorPid: deadPid() });
    fake.calls.length = 0;
    const report = await gc();
    expect(report).toEqual({ cleaned: ['web'], removed: [], errors: [] });
    expect(fake.leftovers()).toEqual({});
    expect(await listLeases()).toEqual([]);
    expect(await listNetworkInfo()).toEqual([]);
    expect((await readState('web'))).toMatchObject({ status: 'exited', resources: [] });
    expectGolden('e2e-gc', 'commands.txt', norm(fake.transcript()));
  });
});
