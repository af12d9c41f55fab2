import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { setHostRunner } from '../../src/util/host.js';
import { VesselError } from '../../src/util/errors.js';
import { FreeBSDDriver, devfsRulesetNumber } from '../../src/runtime/freebsd/index.js';
import { formatPlan } from '../../src/cli/plan.js';
import type { ContainerConfig } from '../../src/runtime/types.js';
import { bridgeNet, expectGolden, FakeFreeBSD, FIXTURES, freebsdConfig, normalizeRoot } from '../helpers/freebsd.js';

/**
 * Golden transcripts of the FreeBSD driver: for each spec of the matrix, the files it renders and
 * the exact argv it runs, against a model FreeBSD host. Reviewed against jail(8), jail.conf(5),
 * rctl(8), zfs(8), mount_nullfs(8), pfctl(8), ifconfig(8), devfs(8)/devfs.rules(5).
 * UPDATE_GOLDEN=1 rewrites test/fixtures/freebsd/; review the diff before committing it.
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-freebsd-golden-'));
process.env.VESSEL_ROOT = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const busybox = join(root, 'images', 'layers', 'busybox');
const app = join(root, 'images', 'layers', 'app');
mkdirSync(join(busybox, 'etc'), { recursive: true });
mkdirSync(app, { recursive: true });
// A single-file volume's source (finding 17).
const siteConf = join(root, 'srv', 'site.conf');
mkdirSync(join(root, 'srv'), { recursive: true });
writeFileSync(siteConf, 'listen 80\n');
writeFileSync(join(busybox, 'etc', 'passwd'), 'root:*:0:0::/root:/bin/sh\nwww:*:80:80::/nonexistent:/sbin/nologin\n');

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

function install(prepare?: (f: FakeFreeBSD) => void): FakeFreeBSD {
  const fake = new FakeFreeBSD();
  fake.snapshots.add('zroot/vessel/images/busybox@base');
  prepare?.(fake);
  restore = setHostRunner(fake);
  return fake;
}

const driver = () => new FreeBSDDriver({ env: {} });
const norm = (s: string) => normalizeRoot(s, root);

const CASES: Record<string, { cfg: () => ContainerConfig; host?: (f: FakeFreeBSD) => void }> = {
  plain: { cfg: () => freebsdConfig(root, { name: 'web' }) },
  volumes: {
    cfg: () => freebsdConfig(root, {
      name: 'web',
      mounts: [
        { kind: 'bind', source: '/srv/www', target: '/www', readonly: true },
        { kind: 'bind', source: '/srv/web data', target: '/var/data', readonly: false },
        { kind: 'tmpfs', target: '/tmp', sizeBytes: 16 << 20 },
        { kind: 'tmpfs', target: '/run', mode: 0o755 },
      ],
    }),
  },
  // Finding 17: a file volume gets an empty file as its mount point (nullfs file mounts, 13.2+).
  'volume-file': {
    cfg: () => freebsdConfig(root, {
      name: 'web',
      mounts: [
        { kind: 'bind', source: siteConf, target: '/etc/site/site.conf', readonly: true },
        { kind: 'bind', source: '/srv/www', target: '/www', readonly: true },
      ],
    }),
  },
  limits: {
    cfg: () => freebsdConfig(root, {
      name: 'web',
      limits: { memoryBytes: 64 << 20, vmemoryBytes: 256 << 20, maxproc: 50, cpuPercent: 50, openfiles: 1024 },
    }),
  },
  'vnet-publish': {
    cfg: () => freebsdConfig(root, {
      name: 'web',
      network: bridgeNet('web', '10.77.3.5/24', [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostIp: '192.0.2.10', hostPort: 5353, containerPort: 53, protocol: 'udp' },
      ]),
    }),
  },
  // Issue 17: a dual-stack network (ifconfig(8) inet6 … alias, route(8) -inet6, pf.conf(5) inet6
  // nat/rdr), docker's port forms as a lease holds them: a range port for port (`port 8000:8010 ->
  // … port 8000:*`), a shifted udp range, one family's wildcard, an IPv6 host address, a host port
  // chosen at start (already a number here).
  'vnet-dual-stack': {
    cfg: () => freebsdConfig(root, {
      name: 'web',
      network: bridgeNet('web', '10.77.3.5/24', [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostPort: 8000, hostPortEnd: 8010, containerPort: 8000, containerPortEnd: 8010, protocol: 'tcp' },
        { hostPort: 9000, hostPortEnd: 9002, containerPort: 7000, containerPortEnd: 7002, protocol: 'udp' },
        { hostIp: '0.0.0.0', hostPort: 8443, containerPort: 443, protocol: 'tcp' },
        { hostIp: '::', hostPort: 8444, containerPort: 443, protocol: 'tcp' },
        { hostIp: '2001:db8:1::10', hostPort: 5353, containerPort: 53, protocol: 'udp' },
        { hostPort: 49731, containerPort: 9090, protocol: 'tcp' },
      ], 'fd00:77:3::5/64'),
    }),
  },
  // Without VIMAGE: the IPv6 address is an alias on lo1 too (jail(8) ip6.addr "lo1|ADDR/128").
  'no-vimage-dual-stack': {
    cfg: () => freebsdConfig(root, { name: 'web', network: bridgeNet('web', '10.77.3.5/24', [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], 'fd00:77:3::5/64') }),
    host: (f) => { f.vimage = false; },
  },
  'no-vimage': {
    cfg: () => freebsdConfig(root, { name: 'web', network: bridgeNet('web', '10.77.3.5/24', [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]) }),
    host: (f) => { f.vimage = false; },
  },
  hierarchical: {
    cfg: () => freebsdConfig(root, { name: 'worker', parent: 'web', argv: ['/bin/sleep', '3600'] }),
    host: (f) => { f.jails.set('web', { jid: 41, path: '/var/lib/vessel/containers/web/rootfs', mounts: [] }); },
  },
  // Finding 11: a.b.c needs a.b's children.max raised, and a's above that (set from the top down).
  'hierarchical-grandchild': {
    cfg: () => freebsdConfig(root, { name: 'c', parent: 'a.b', argv: ['/bin/sleep', '3600'] }),
    host: (f) => {
      f.jails.set('a', { jid: 41, path: '/var/lib/vessel/containers/a/rootfs', mounts: [], childrenMax: 1, securelevel: 2, enforceStatfs: 2 });
      f.jails.set('a.b', { jid: 42, path: '/var/lib/vessel/containers/b/rootfs', mounts: [], childrenMax: 0, securelevel: 2, enforceStatfs: 2 });
    },
  },
  // Finding 11: a child that may have children of its own (children.max = 3) needs its parent's
  // children.max above that (kern_jail.c: `if (childmax >= ppr->pr_childmax)` → EPERM), not just cur+1.
  'hierarchical-child-with-children': {
    cfg: () => freebsdConfig(root, { name: 'worker', parent: 'web', argv: ['/bin/sleep', '3600'], jail: { 'children.max': '3' } }),
    host: (f) => { f.jails.set('web', { jid: 41, path: '/var/lib/vessel/containers/web/rootfs', mounts: [], childrenMax: 2, securelevel: 2, enforceStatfs: 2 }); },
  },
  // A zero-downtime reload of a child (issue 16): its next run is the sibling jail web.worker@RUNID
  // beside web.worker, so the parent needs room for one more child (kern_jail.c: pr_childcount
  // against pr_childmax) — children.max raised to children.cur + 1 — and the run's files and root
  // are in worker/next-RUNID/.
  'hierarchical-beside': {
    cfg: () => freebsdConfig(root, {
      name: 'worker', parent: 'web', argv: ['/bin/sleep', '3600'], runId: '0a1b2c3d', beside: true,
      root: { layers: [join(root, 'images', 'layers', 'busybox')], ephemeral: false, layerDir: join(root, 'containers', 'worker', 'next-0a1b2c3d') },
    }),
    host: (f) => {
      f.jails.set('web', { jid: 41, path: '/var/lib/vessel/containers/web/rootfs', mounts: [], childrenMax: 1, securelevel: 2, enforceStatfs: 2 });
      f.jails.set('web.worker', { jid: 42, path: '/var/lib/vessel/containers/worker/rootfs', mounts: [], childrenMax: 0, securelevel: 2, enforceStatfs: 2 });
    },
  },
  // Finding 10: a parent at securelevel 3 gets children at 3, not vessel's default 2.
  'hierarchical-securelevel': {
    cfg: () => freebsdConfig(root, { name: 'worker', parent: 'web', argv: ['/bin/sleep', '3600'] }),
    host: (f) => { f.jails.set('web', { jid: 41, path: '/var/lib/vessel/containers/web/rootfs', mounts: [], childrenMax: 4, securelevel: 3, enforceStatfs: 2 }); },
  },
  security: {
    cfg: () => freebsdConfig(root, {
      name: 'web',
      user: 'www',
      workdir: '/www',
      network: { mode: 'none' },
      jail: { securelevel: '3', 'allow.raw_sockets': 'false', sysvshm: 'new', 'children.max': '0' },
      security: { portacl: [{ protocol: 'tcp', port: 80 }, { protocol: 'udp', port: 53 }], capAdd: [], capDrop: [], noNewPrivileges: true },
    }),
    host: (f) => { f.portacl = 'uid:25:tcp:25'; },
  },
  'zfs-root': {
    cfg: () => freebsdConfig(root, {
      name: 'web',
      root: { layers: [], zfsSnapshot: 'zroot/vessel/images/busybox@base', zfsDataset: 'zroot/vessel/containers/web', ephemeral: false },
    }),
  },
  'nullfs-root': {
    cfg: () => freebsdConfig(root, { name: 'web', root: { layers: [busybox, app], ephemeral: true } }),
  },
};

/** The goldens a start case writes (other tests keep other files in the same directories). */
const START_GOLDEN = /^(plan\.txt|commands\.txt|jail\.conf|fstab|devfs\.rules|portacl\.rules|rootfs-(hosts|resolv\.conf)|pf-.*\.conf)$/;

describe('FreeBSD golden transcripts: start', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(name, async () => {
      const fake = install(c.host);
      const cfg = c.cfg();
      const d = driver();
      // Every golden this case writes, so that a file the start stopped writing (or a golden
      // nobody produces any more) fails instead of being skipped.
      const compared: string[] = [];
      const golden = (file: string, text: string) => {
        compared.push(file);
        expectGolden(name, file, text);
      };
      golden('plan.txt', norm(formatPlan({ os: 'freebsd', spec: `${cfg.name}.ini`, container: cfg.name, available: true, plan: d.plan(cfg) })));
      const started = await d.start(cfg);
      const status = await started.exited;
      expect(status.code).toBe(0);
      golden('commands.txt', norm(fake.transcript()));
      // The files as start() wrote them, and the pf rulesets as loaded into their anchors.
      for (const f of ['jail.conf', 'fstab', 'devfs.rules', 'portacl.rules']) {
        const p = join(cfg.dir, f);
        if (existsSync(p)) golden(f, norm(readFileSync(p, 'utf8')));
      }
      for (const f of ['etc/hosts', 'etc/resolv.conf']) {
        const p = join(cfg.dir, 'rootfs', f);
        if (existsSync(p)) golden(`rootfs-${basename(f)}`, readFileSync(p, 'utf8'));
      }
      for (const [anchor, text] of fake.anchors) golden(`pf-${anchor.replace('/', '_')}.conf`, text);
      const onDisk = readdirSync(join(FIXTURES, name)).filter((f) => START_GOLDEN.test(f));
      if (process.env.UPDATE_GOLDEN === '1') for (const f of onDisk.filter((x) => !compared.includes(x))) rmSync(join(FIXTURES, name, f));
      else expect(onDisk.sort(), `the golden files of ${name}`).toEqual([...compared].sort());
      rmSync(cfg.dir, { recursive: true, force: true });
    });
  }
});

describe('FreeBSD golden transcripts: stop, kill, death, leftovers', () => {
  const web = () => freebsdConfig(root, { name: 'web', limits: { memoryBytes: 64 << 20 } });
  const running = (f: FakeFreeBSD, pids: number[]) => {
    f.jails.set('web', { jid: 7, path: join(root, 'containers', 'web', 'rootfs'), mounts: [] });
    f.procs.set('web', pids);
  };

  it('stop: the stop signal to every process of the jail, jail -r, rctl rules removed', async () => {
    const fake = install((f) => running(f, [4242, 4243]));
    const d = driver();
    const cfg = web();
    // The jail.conf of the running container: jail -r runs with it (without it, jail -R).
    mkdirSync(cfg.dir, { recursive: true });
    writeFileSync(join(cfg.dir, 'jail.conf'), 'web {\n\tpath = "/x";\n}\n');
    await d.stop({ name: 'web', pid: 4242, resources: d.resources(cfg) }, 'SIGTERM', 10);
    expectGolden('stop', 'commands.txt', norm(fake.transcript()));
    expect(fake.jails.has('web')).toBe(false);
    rmSync(cfg.dir, { recursive: true, force: true });
  });

  it('stop after the timeout: SIGKILL for what ignored the stop signal', async () => {
    const fake = install((f) => running(f, [4242]));
    const d = driver();
    await d.stop({ name: 'web', pid: 4242, resources: d.resources(web()) }, 'SIGQUIT', 0);
    expectGolden('stop-timeout', 'commands.txt', norm(fake.transcript()));
  });

  it('kill: one signal to the main command, one to every process of the jail', async () => {
    const fake = install((f) => running(f, [4242, 4243]));
    const d = driver();
    const ref = { name: 'web', pid: 4242, resources: d.resources(web()) };
    await d.signal(ref, 'SIGHUP', 'main');
    await d.signal(ref, 'KILL', 'all');
    expectGolden('kill', 'commands.txt', norm(fake.transcript()));
  });

  it('exec: vessel-init jail-exec with the running root\'s passwd, not jexec -U (findings 5, 6, 7)', async () => {
    const fake = install((f) => running(f, [4242]));
    const d = driver();
    const cfg = web();
    mkdirSync(join(cfg.dir, 'rootfs', 'etc'), { recursive: true });
    writeFileSync(join(cfg.dir, 'rootfs', 'etc', 'passwd'), 'root:*:0:0::/root:/bin/sh\nwww:*:80:80::/nonexistent:/usr/sbin/nologin\n');
    const code = await d.exec({ name: 'web', pid: 4242, resources: d.resources(cfg) }, { argv: ['ls', '-l'], env: ['A=1'], workdir: '/www', user: 'www', tty: false, interactive: false });
    expect(code).toBe(0);
    expectGolden('exec', 'commands.txt', norm(fake.transcript()));
    rmSync(cfg.dir, { recursive: true, force: true });
  });

  it('leftovers: everything a SIGKILLed supervisor left is found by name and removed', async () => {
    const fake = install();
    const d = driver();
    const cfg = freebsdConfig(root, {
      name: 'web',
      user: 'www',
      mounts: [{ kind: 'bind', source: '/srv/www', target: '/www', readonly: true }],
      limits: { memoryBytes: 64 << 20, maxproc: 50 },
      network: bridgeNet('web', '10.77.3.5/24', [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]),
      security: { portacl: [{ protocol: 'tcp', port: 80 }], capAdd: [], capDrop: [], noNewPrivileges: true },
    });
    fake.procs.set('web', [4242]);
    const started = await d.start({ ...cfg, wait: 'main' });
    await started.exited;
    // Connections pf still tracks (pf_print_state.c): one redirected to the container — its wire
    // key holds the host's address, so `pfctl -k 0.0.0.0/0 -k 10.77.3.5` would miss it — one the
    // container made (NAT), and the admin's own ssh session to the host, which must survive.
    fake.states = [
      { line: 'all tcp 10.77.3.5:80 (192.0.2.10:8080) <- 198.51.100.7:50000       ESTABLISHED:ESTABLISHED', id: '6474d3f900000001/2c95c8fa' },
      { line: 'all tcp 192.0.2.10:61234 (10.77.3.5:40000) -> 203.0.113.9:443       ESTABLISHED:ESTABLISHED', id: '6474d3f900000002/2c95c8fa' },
      { line: 'all tcp 192.0.2.10:22 <- 198.51.100.7:50001       ESTABLISHED:ESTABLISHED', id: '6474d3f900000003/2c95c8fa' },
    ];
    fake.calls.splice(0);
    const left = await d.findLeftovers('web');
    await d.cleanup(left);
    expectGolden('leftovers', 'found.txt', norm(left.map((r) => `${r.kind}\t${r.id}`).join('\n') + '\n'));
    expectGolden('leftovers', 'commands.txt', norm(fake.transcript()));
    expect(await d.findLeftovers('web')).toEqual([]);
    expect(fake.interfaces.has('vbrfront0') || [...fake.interfaces].some((i) => i.startsWith('vbr'))).toBe(true); // the network's bridge stays
    expect(fake.mounts).toEqual([]);
    expect(fake.rctl).toEqual([]);
    expect(fake.portacl).toBe('');
    // Finding 16: the states to and from the dead container are gone, the host's own are not.
    expect(fake.states.map((st) => st.id)).toEqual(['6474d3f900000003/2c95c8fa']);
  });
});

describe('FreeBSD driver: clear errors, nothing created', () => {
  async function startFails(cfg: ContainerConfig, prepare?: (f: FakeFreeBSD) => void): Promise<{ err: VesselError; fake: FakeFreeBSD }> {
    const fake = install(prepare);
    const err = await driver().start(cfg).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(VesselError);
    // Only questions were asked: no jail, mount, interface, rule; no file written.
    for (const c of fake.calls) {
      expect(['sysctl', 'route', 'jls', 'zfs', 'pfctl', 'devfs', 'ifconfig', 'test']).toContain(c.argv[0]);
      // pfctl -s, devfs rule show, ifconfig without a verb: questions only.
      if (c.argv[0] === 'pfctl') expect(c.argv[1]).toBe('-s');
      if (c.argv[0] === 'devfs') expect(c.argv[c.argv.length - 1]).toBe('show');
      if (c.argv[0] === 'ifconfig') expect(c.argv.length).toBeLessThanOrEqual(2);
      expect(c.argv.some((a) => /^[a-z.]+=/.test(a)), `${c.argv.join(' ')} changes the host`).toBe(false);
    }
    expect(existsSync(cfg.dir)).toBe(false);
    return { err: err as VesselError, fake };
  }

  it('a [jail] parameter outside the allowlist', async () => {
    const fake = install();
    const cfg = freebsdConfig(root, { name: 'bad', jail: { 'exec.start': '/bin/sh /etc/rc' } });
    expect(() => driver().plan(cfg)).toThrow(/\[jail\] exec\.start: is set by vessel/);
    await expect(driver().start(cfg)).rejects.toThrow(/\[jail\] exec\.start/);
    expect(() => driver().plan(freebsdConfig(root, { name: 'bad', jail: { 'allow.everything': 'true', 'kern.x': '1' } }))).toThrow(/not an allowed jail parameter/);
    expect(fake.calls.filter((c) => c.argv[0] === 'jail')).toEqual([]);
  });

  it('a [jail] parameter the running FreeBSD does not have', async () => {
    const { err } = await startFails(freebsdConfig(root, { name: 'bad', jail: { 'allow.mount.fusefs': 'true' } }), (f) => {
      f.missingParams.add('allow.mount.fusefs');
    });
    expect(err.code).toBe('E_UNSUPPORTED');
    expect(err.message).toBe('[jail] allow.mount.fusefs: this FreeBSD has no jail parameter allow.mount.fusefs (sysctl -d security.jail.param.allow.mount.fusefs failed)');
    expect(err.hint).toMatch(/module is loaded/);
  });

  it('limits without racct: how to enable it', async () => {
    const { err } = await startFails(freebsdConfig(root, { name: 'bad', limits: { memoryBytes: 1 << 20 } }), (f) => { f.racct = false; });
    expect(err.code).toBe('E_UNSUPPORTED');
    expect(err.message).toMatch(/kern\.racct\.enable is 0/);
    expect(err.hint).toMatch(/kern\.racct\.enable=1 to \/boot\/loader\.conf and reboot/);
  });

  it('portacl without the mac_portacl module', async () => {
    const cfg = freebsdConfig(root, { name: 'bad', user: 'www', security: { portacl: [{ protocol: 'tcp', port: 80 }], capAdd: [], capDrop: [], noNewPrivileges: true } });
    const fake = new FakeFreeBSD();
    const answer = fake.run.bind(fake);
    fake.run = async (argv, opts) => (argv.join(' ') === 'sysctl security.mac.portacl.rules' ? { argv, exitCode: 1, stdout: '', stderr: 'sysctl: unknown oid' } : answer(argv, opts));
    restore = setHostRunner(fake);
    const err = (await driver().start(cfg).catch((e: unknown) => e)) as VesselError;
    expect(err.code).toBe('E_UNSUPPORTED');
    expect(err.message).toMatch(/mac_portacl module is not loaded/);
    expect(err.hint).toMatch(/kldload mac_portacl/);
    expect(existsSync(cfg.dir)).toBe(false);
  });

  const published = () => freebsdConfig(root, { name: 'bad', network: bridgeNet('bad', '10.77.3.5/24', [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]) });

  it('pf loaded but disabled: anchors would load and never be evaluated (finding 13)', async () => {
    const { err } = await startFails(published(), (f) => { f.pfEnabled = false; });
    expect(err.message).toBe('pf is loaded but not enabled (pfctl -s info: Status: Disabled), so vessel\'s NAT and redirects would never be evaluated');
    expect(err.hint).toMatch(/sysrc pf_enable=YES/);
  });

  it('no rdr-anchor for vessel in the main ruleset (finding 13)', async () => {
    const { err } = await startFails(published(), (f) => { f.mainAnchors = ['nat-anchor "vessel-nat/*" all']; });
    expect(err.message).toBe('pf: the main ruleset has no rdr-anchor "vessel-rdr/*", so rules vessel loads into its anchors would never be evaluated');
    expect(err.hint).toMatch(/pf\.conf/);
  });

  it('IP forwarding off (finding 13)', async () => {
    const { err } = await startFails(published(), (f) => { f.forwarding = false; });
    expect(err.message).toMatch(/net\.inet\.ip\.forwarding is 0/);
    expect(err.hint).toBe('sysrc gateway_enable=YES && sysctl net.inet.ip.forwarding=1');
  });

  it('publishing on 127.0.0.1: pf rdr never sees the host\'s own loopback connections (finding 14)', () => {
    install();
    const cfg = freebsdConfig(root, { name: 'bad', network: bridgeNet('bad', '10.77.3.5/24', [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]) });
    expect(() => driver().plan(cfg)).toThrow('[network] publish 127.0.0.1:8080:80: pf rdr does not apply to the host\'s own connections to 127.0.0.1, so nothing would ever reach the container there');
  });

  it('a [jail] securelevel below the parent\'s: kern_jail.c would refuse it (finding 10)', async () => {
    const cfg = freebsdConfig(root, { name: 'worker', parent: 'web', jail: { securelevel: '1' } });
    const { err } = await startFails(cfg, (f) => { f.jails.set('web', { jid: 41, path: '/x', mounts: [], childrenMax: 2, securelevel: 3, enforceStatfs: 2 }); });
    expect(err.message).toBe('[jail] securelevel = 1: below 3, the securelevel of parent jail web; the kernel refuses a jail below its parent (kern_jail.c, EPERM)');
  });

  it('a host at kern.securelevel 3: top-level jails default to 3 (finding 10)', async () => {
    const fake = install((f) => { f.securelevel = 3; });
    const cfg = freebsdConfig(root, { name: 'high' });
    await (await driver().start(cfg)).exited;
    expect(readFileSync(join(cfg.dir, 'jail.conf'), 'utf8')).toContain('\tsecurelevel = "3";');
    expect(fake.jails.has('high')).toBe(true);
    rmSync(cfg.dir, { recursive: true, force: true });
  });

  it('a single-file volume on a FreeBSD before 13.2: nullfs there cannot mount a file (finding 17)', async () => {
    const cfg = freebsdConfig(root, { name: 'bad', mounts: [{ kind: 'bind', source: siteConf, target: '/etc/site.conf', readonly: true }] });
    const { err, fake } = await startFails(cfg, (f) => { f.osreldate = 1301000; });
    expect(err.message).toBe(`[container] volume ${siteConf}:/etc/site.conf: a single-file volume needs nullfs file mounts, which FreeBSD has from 13.2 (kern.osreldate 1302000); this host is 1301000`);
    // The other release's form, beside volume-file/ (14.2): asked, refused, nothing created.
    expectGolden('volume-file-13.1', 'commands.txt', norm(`${fake.transcript()}# ${err.message}\n`));
  });

  const portacl = { portacl: [{ protocol: 'tcp' as const, port: 80 }], capAdd: [], capDrop: [], noNewPrivileges: true };

  it('portacl on the host\'s own stack: the host\'s reservedhigh decides (finding 9)', async () => {
    const cfg = freebsdConfig(root, { name: 'bad', user: 'www', network: { mode: 'none' }, security: portacl });
    const { err } = await startFails(cfg, (f) => { f.vimage = false; f.reservedhigh = 1023; });
    expect(err.message).toMatch(/port 80 is below net\.inet\.ip\.portrange\.reservedhigh \(1023\)/);
  });

  it('portacl in a VNET container: the host\'s reservedhigh is not the jail\'s; its own is set, which needs securelevel 0 first (finding 9)', async () => {
    // The host's 1023 does not stop a VNET container: it sets its own (golden security/).
    const fake = install((f) => { f.reservedhigh = 1023; });
    const cfg = freebsdConfig(root, { name: 'acl', user: 'www', network: { mode: 'none' }, security: portacl });
    await (await driver().start({ ...cfg, wait: 'main' })).exited;
    const t = fake.transcript();
    expect(t).toContain('/usr/local/libexec/vessel/vessel-init jail-exec -j acl -s net.inet.ip.portrange.reservedhigh=0\njail -m name=acl securelevel=2\n');
    expect(fake.jails.get('acl')?.securelevel).toBe(2);
    rmSync(cfg.dir, { recursive: true, force: true });
    // Under a parent above securelevel 0 it cannot be done: said before anything is created.
    const child = freebsdConfig(root, { name: 'acl2', parent: 'web', user: 'www', network: { mode: 'none' }, security: portacl });
    const { err } = await startFails(child, (f) => { f.jails.set('web', { jid: 41, path: '/x', mounts: [], childrenMax: 2, securelevel: 1, enforceStatfs: 2 }); });
    expect(err.message).toBe('[security] portacl: a VNET container must set its own net.inet.ip.portrange.reservedhigh at securelevel 0 before it is raised, and parent jail web is at securelevel 1');
  });

  it('ifconfig(8)/route(8) without -j: one clear line before anything exists (finding 21)', async () => {
    const { err, fake } = await startFails(freebsdConfig(root, { name: 'bad', network: bridgeNet('bad', '10.77.3.5/24') }), (f) => { f.jailOptions = false; });
    // The other form, beside vnet-publish/ (ifconfig and route with -j).
    expectGolden('no-jail-option', 'commands.txt', norm(`${fake.transcript()}# ${err.message}\n`));
    expect(err.message).toBe('VNET networking: this FreeBSD\'s ifconfig(8) has no -j option, which vessel uses to configure the container\'s end of its epair from the host');
    expect(err.hint).toMatch(/13\.3 \/ 14\.0/);
  });

  it('vessel-init not built: said before anything is created', async () => {
    const { err } = await startFails(freebsdConfig(root, { name: 'bad' }), (f) => {
      const answer = f.run.bind(f);
      f.run = async (argv, opts) => (argv[0] === 'test' ? (f.calls.push({ argv: [...argv] }), { argv, exitCode: 1, stdout: '', stderr: '' }) : answer(argv, opts));
    });
    expect(err.message).toBe('/usr/local/libexec/vessel/vessel-init is missing: vessel runs every container\'s monitor and every command in a jail with it');
    expect(err.hint).toMatch(/native\/build\.sh/);
  });

  it('a container name with a dot', () => {
    install();
    expect(() => driver().plan(freebsdConfig(root, { name: 'web.1' }))).toThrow(/jail name cannot contain "\."/);
  });
});

describe('FreeBSD user ids come from the image, read in TypeScript (findings 6, 7)', () => {
  it('a ZFS root: the plan cannot read the passwd yet, the start reads it from the clone', async () => {
    const cfg = freebsdConfig(root, {
      name: 'zweb',
      user: 'www',
      root: { layers: [], zfsSnapshot: 'zroot/vessel/images/busybox@base', zfsDataset: 'zroot/vessel/containers/zweb', ephemeral: false },
    });
    const d = driver();
    const planned = d.plan(cfg).files.find((f) => f.path.endsWith('/plan'))!.content;
    expect(planned).toContain('\nuid <uid of www>\ngid <gid of www>\ngroups <groups of www>\n');
    // What the clone holds once `zfs clone` ran (the model host does not write files).
    mkdirSync(join(cfg.dir, 'rootfs', 'etc'), { recursive: true });
    writeFileSync(join(cfg.dir, 'rootfs', 'etc', 'passwd'), 'www:*:80:80::/home/www:/bin/sh\n');
    writeFileSync(join(cfg.dir, 'rootfs', 'etc', 'group'), 'www:*:80:\nstaff:*:20:www\n');
    const fake = install();
    await (await d.start({ ...cfg, wait: 'main' })).exited;
    // the plan the monitor read
    expect(fake.transcript()).toContain('  | jail zweb\n  | uid 80\n  | gid 80\n  | groups 80,20\n');
    rmSync(cfg.dir, { recursive: true, force: true });
  });

  it('the image\'s passwd is read on the host, so never through a symlink or from a special file', () => {
    install();
    const layer = join(root, 'hostile-layer');
    mkdirSync(layer, { recursive: true });
    symlinkSync('/etc', join(layer, 'etc')); // would read the host's own accounts
    const viaLink = freebsdConfig(root, { name: 'h1', user: 'www', root: { layers: [layer], ephemeral: true } });
    expect(() => driver().plan(viaLink)).toThrow('/etc/passwd in the image is reached through a symbolic link; vessel reads it on the host to find the user\'s ids, so it must be a plain file');
    rmSync(join(layer, 'etc'));
    mkdirSync(join(layer, 'etc'));
    symlinkSync('/dev/zero', join(layer, 'etc', 'passwd')); // would never end
    expect(() => driver().plan({ ...viaLink, name: 'h2' })).toThrow('/etc/passwd in the image is reached through a symbolic link');
    rmSync(join(layer, 'etc', 'passwd'));
    execFileSync('mkfifo', [join(layer, 'etc', 'passwd')]); // would block the supervisor
    expect(() => driver().plan({ ...viaLink, name: 'h3' })).toThrow('/etc/passwd in the image is not a regular file');
    // numeric ids and root need no account files, so such an image still runs as them
    // (the monitor's plan carries them: native/freebsd runs the command with exactly these ids)
    const ids = (user: string) => {
      const plan = driver().plan({ ...viaLink, name: 'h4', user }).files.find((f) => /^uid \d+$/m.test(f.content))!.content;
      return ['uid', 'gid', 'groups'].map((k) => new RegExp(`^${k} (\\S+)$`, 'm').exec(plan)?.[1]);
    };
    expect(ids('1000:1000')).toEqual(['1000', '1000', '1000']);
    expect(ids('')).toEqual(['0', '0', '0']);
    rmSync(layer, { recursive: true, force: true });
  });

  it('a name the image does not define: one line, before anything is created', async () => {
    install();
    expect(() => driver().plan(freebsdConfig(root, { name: 'bad', user: 'nobody' }))).toThrow('user "nobody": no user "nobody" in the image\'s /etc/passwd (image layers)');
  });
});

describe('FreeBSD devfs rulesets are global and unowned (findings 12, 18)', () => {
  const vnetNone = () => freebsdConfig(root, { name: 'web', network: { mode: 'none' } });

  it('a ruleset number another manager uses is skipped, never deleted; ours is recorded before its first rule', async () => {
    const theirs = devfsRulesetNumber('web');
    const fake = install((f) => { f.devfs.set(theirs, ['include 1', 'path bpf* unhide']); });
    const cfg = vnetNone();
    await (await driver().start({ ...cfg, wait: 'main' })).exited;
    expectGolden('devfs-taken', 'commands.txt', norm(fake.transcript()));
    expect(fake.devfs.get(theirs)).toEqual(['include 1', 'path bpf* unhide']);
    const ours = theirs + 1;
    expect(readFileSync(join(cfg.dir, 'devfs.rules'), 'utf8')).toContain(`[vessel_web=${ours}]`);
    expect(readFileSync(join(cfg.dir, 'jail.conf'), 'utf8')).toContain(`devfs_ruleset = "${ours}";`);
    // The same devices as the stock jail ruleset 4: zfs and fuse too, pf not.
    expect(fake.devfs.get(ours)).toEqual(['include 1', 'include 2', 'include 3', 'path fuse unhide', 'path zfs unhide']);
    expect(fake.calls.some((c) => c.argv.join(' ') === `devfs rule -s ${theirs} delset`)).toBe(false);

    const left = await driver().findLeftovers('web');
    expect(left.filter((r) => r.kind === 'devfs-ruleset')).toEqual([{ kind: 'devfs-ruleset', id: join(cfg.dir, 'devfs.rules'), detail: { ruleset: String(ours) } }]);
    rmSync(cfg.dir, { recursive: true, force: true });
  });

  it('the leftover sweep deletes no ruleset this container did not record', async () => {
    const theirs = devfsRulesetNumber('web');
    const fake = install((f) => { f.devfs.set(theirs, ['include 1']); });
    const left = await driver().findLeftovers('web');
    await driver().cleanup(left);
    expect(left.some((r) => r.kind === 'devfs-ruleset')).toBe(false);
    expect(fake.devfs.get(theirs)).toEqual(['include 1']);
  });
});

describe('FreeBSD driver: a jail of the same name', () => {
  it('an existing or dying jail is a clear error before anything is created', async () => {
    const fake = install((f) => { f.jails.set('dup', { jid: 3, path: '/elsewhere', mounts: [] }); });
    const cfg = freebsdConfig(root, { name: 'dup' });
    await expect(driver().start(cfg)).rejects.toThrow(/jail dup already exists/);
    expect(fake.calls.map((c) => c.argv[0])).toEqual(['jls']);
    expect(existsSync(cfg.dir)).toBe(false);
  });
});
