import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerState, leftovers, pidAlive, rootWithBusybox, until, vessel, type TestRoot } from '../helpers/vessel.js';
import { addDummy, delLink, freePort, hostNodeInContainer, httpGet, netTestsCanRun, nftTableExists, trySh, udpAsk, vslInterfaces, waitHttp } from '../helpers/net.js';
import { bridgeName, nftTableName, vethNames } from '../../src/net/names.js';

/**
 * Issue 4, "Must show", end to end through the CLI: `vessel run --network NAME -p …` with the
 * busybox image, real bridges, veths and nftables.
 */
const canRun = netTestsCanRun();
let t: TestRoot;
let scope = '';
const tag = Math.random().toString(16).slice(2, 6);
const dummy = `vsltr${tag}`;
const hostAddr = `198.19.${Math.floor(Math.random() * 200) + 20}.${Math.floor(Math.random() * 200) + 20}`;

type Info = { name: string; subnet: string; bridge: string; containers: Array<{ name: string; address: string; publish: string[] }> };
async function inspect(name: string): Promise<Info | undefined> {
  const r = await vessel(t, ['network', 'inspect', name]);
  return r.code === 0 ? (JSON.parse(r.stdout) as Info) : undefined;
}
async function ok(args: string[]): Promise<string> {
  const r = await vessel(t, args);
  if (r.code !== 0) throw new Error(`vessel ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
/**
 * What the host holds for this test root: the bridges and veths named after our networks and
 * containers (other suites may run vessel networks on this host at the same time), our table.
 */
const NETWORKS = ['front', 'dns', 'crowd', 'doomed', 'clash'];
const CONTAINERS = ['web', 'client', 'late', 'other', 'thief', 'bad', 'udp', 'victim', ...Array.from({ length: 20 }, (_, i) => `crowd${i}`)];
function hostNetState(): string[] {
  const names = [...NETWORKS.map((n) => bridgeName(scope, n)), ...CONTAINERS.map((c) => vethNames(scope, c).host)];
  const present = vslInterfaces().filter((i) => names.includes(i));
  return [...present.map((i) => `interface ${i}`), ...(nftTableExists(nftTableName(scope)) ? [`table ${nftTableName(scope)}`] : [])];
}

describe.runIf(canRun)('vessel run on networks', () => {
  beforeAll(async () => {
    t = await rootWithBusybox('net');
    scope = join(t.root, 'networks');
    addDummy(dummy, hostAddr);
  });

  afterAll(async () => {
    // the test's own host address goes whatever happens below (a failed cleanup once leaked it)
    try {
      if (!t) return;
      await vessel(t, ['gc']);
      const ps = await vessel(t, ['ps', '-a', '--json']);
      const report = JSON.parse(ps.stdout || '{"containers":[]}') as { containers: Array<{ name: string; kind: string }> };
      for (const c of report.containers.filter((x) => x.kind === 'container')) await vessel(t, ['rm', '-f', c.name]);
      for (const n of JSON.parse((await vessel(t, ['network', 'ls', '--json'])).stdout || '[]') as Array<{ name: string }>) {
        await vessel(t, ['network', 'rm', n.name]);
      }
      for (const i of hostNetState()) if (i.startsWith('interface ')) delLink(i.slice(10));
      trySh(['nft', 'delete', 'table', 'inet', nftTableName(scope)]);
      expect(leftovers(t)).toEqual([]);
      t.dispose();
    } finally {
      delLink(dummy);
    }
  });

  describe('a web server and its clients', () => {
    const port = freePort();
    beforeAll(async () => {
      await ok(['run', '-d', '--name', 'web', '--network', 'front', '-p', `${port}:80`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    });

    it('two containers on one network talk to each other by name', async () => {
      const out = await ok(['run', '--rm', '--name', 'client', '--network', 'front', 'busybox', 'sh', '-c', 'wget -qO- http://web/ && grep -w web /etc/hosts']);
      // the network is dual-stack: web is named under both of its addresses
      expect(out).toMatch(/^hello from vessel\n10\.77\.\d+\.\d+\tweb\nfd[0-9a-f:]+::\d+\tweb\n$/);
      // and the other way round: a member that joins later is visible to one already running
      // (the hosts file is rewritten in place, so the running container's bind mount sees it)
      await ok(['run', '-d', '--name', 'late', '--network', 'front', 'busybox', 'sleep', '300']);
      expect(await ok(['exec', 'web', 'sh', '-c', 'grep -w late /etc/hosts | cut -f2'])).toBe('late\nlate\n'); // both families
      await ok(['rm', '-f', 'late']);
      expect(await ok(['exec', 'web', 'sh', '-c', 'grep -cw late /etc/hosts || true'])).toBe('0\n');
    });

    it('a published TCP port answers at 127.0.0.1 and at the host\'s own address', async () => {
      expect(await waitHttp(`http://127.0.0.1:${port}/`)).toEqual({ status: 200, body: 'hello from vessel\n' });
      expect(await httpGet(`http://${hostAddr}:${port}/`)).toEqual({ status: 200, body: 'hello from vessel\n' });
    });

    it('and from another container, and from the container itself, through the host (hairpin)', async () => {
      const other = await ok(['run', '--rm', '--name', 'other', '--network', 'front', 'busybox', 'wget', '-qO-', `http://${hostAddr}:${port}/`]);
      expect(other).toBe('hello from vessel\n');
      const self = await ok(['exec', 'web', 'wget', '-qO-', `http://${hostAddr}:${port}/`]);
      expect(self).toBe('hello from vessel\n');
    });

    it('a port already published, a bad port spec and a clashing subnet are clear errors that create nothing', async () => {
      const state = hostNetState();
      const leases = JSON.stringify(await inspect('front'));
      const taken = await vessel(t, ['run', '-d', '--name', 'thief', '--network', 'front', '-p', `${port}:8080`, 'busybox', 'httpd', '-f', '-p', '8080']);
      expect(taken.code).toBe(125);
      expect(taken.stderr).toContain(`thief: port ${port}/tcp is already published by container web (${port}:80/tcp)`);
      const bad = await vessel(t, ['run', '--rm', '--name', 'bad', '--network', 'front', '-p', '99999:80', 'busybox', 'true']);
      expect(bad.code).toBe(125);
      expect(bad.stderr).toMatch(/99999/);
      const front = (await inspect('front'))!;
      const clash = await vessel(t, ['network', 'create', 'clash', '--subnet', front.subnet]);
      expect(clash.code).toBe(125);
      expect(clash.stderr).toContain(`--subnet ${front.subnet}: overlaps network front (${front.subnet})`);
      expect(hostNetState()).toEqual(state);
      expect(JSON.stringify(await inspect('front'))).toBe(leases);
      expect(await inspect('clash')).toBeUndefined();
      expect(containerState(t, 'thief')?.status ?? 'none').not.toBe('running');
    });

    it('removing a network in use is refused', async () => {
      const r = await vessel(t, ['network', 'rm', 'front']);
      expect(r.code).toBe(125);
      expect(r.stderr).toContain('network front: in use by container web');
    });

    it('after the last member stops, nothing of the auto-created network remains', async () => {
      const bridge = (await inspect('front'))!.bridge;
      await ok(['stop', '-t', '1', 'web']);
      await ok(['rm', 'web']);
      await ok(['rm', '-f', 'thief']).catch(() => undefined);
      expect(await inspect('front')).toBeUndefined();
      expect(vslInterfaces()).not.toContain(bridge);
      expect(vslInterfaces()).not.toContain(vethNames(scope, 'web').host);
      expect(hostNetState()).toEqual([]);
    });
  });

  it('publishes a UDP port', async () => {
    const port = freePort();
    // busybox has no UDP server: the host's node, bind-mounted read-only, run by its own loader.
    const echo = hostNodeInContainer(`require('dgram').createSocket('udp4').on('message', function (m, r) { this.send('echo ' + m, r.port, r.address); }).bind(53)`);
    await ok(['run', '-d', '--name', 'udp', '--network', 'dns', '-p', `127.0.0.1:${port}:53/udp`, ...echo.volumes, 'busybox', ...echo.argv]);
    expect(await udpAsk('127.0.0.1', port, 'ping')).toBe('echo ping');
    await ok(['rm', '-f', 'udp']);
    expect(hostNetState()).toEqual([]);
  });

  it('--network none has only loopback; --network host shares the host\'s', async () => {
    const none = await ok(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'ls /sys/class/net']);
    expect(none.trim().split(/\s+/)).toEqual(['lo']);
    const host = await ok(['run', '--rm', '--network', 'host', 'busybox', 'sh', '-c', 'ls /sys/class/net']);
    expect(host.trim().split(/\s+/)).toContain(dummy);
  });

  it('20 containers started concurrently on one network get 20 distinct addresses, and leave nothing', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `crowd${i}`);
    await Promise.all(names.map((n) => ok(['run', '-d', '--name', n, '--network', 'crowd', 'busybox', 'sleep', '300'])));
    const info = (await inspect('crowd'))!;
    expect(info.containers.map((c) => c.name).sort()).toEqual([...names].sort());
    expect(new Set(info.containers.map((c) => c.address)).size).toBe(20);
    // and each really carries its address
    const inside = await ok(['exec', 'crowd7', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    expect(inside).toContain(`${info.containers.find((c) => c.name === 'crowd7')!.address}/`);
    const hosts = readFileSync(join(scope, 'crowd', 'hosts'), 'utf8');
    for (const n of names) expect(hosts).toMatch(new RegExp(`\\t${n}\\n`));
    await ok(['rm', '-f', ...names]);
    expect(await inspect('crowd')).toBeUndefined();
    expect(hostNetState()).toEqual([]);
  });

  it('after a supervisor is SIGKILLed, gc leaves no veth, bridge, rule or lease', async () => {
    const port = freePort();
    await ok(['run', '-d', '--name', 'victim', '--network', 'doomed', '-p', `${port}:80`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    expect((await waitHttp(`http://127.0.0.1:${port}/`)).status).toBe(200);
    const st = containerState(t, 'victim') as { supervisorPid: number; pid: number };
    process.kill(st.supervisorPid, 'SIGKILL');
    await until(() => !pidAlive(st.pid), 10_000, 'the container to die with its supervisor');
    expect(await inspect('doomed')).toBeDefined(); // nobody released it yet
    await ok(['gc']);
    expect(await inspect('doomed')).toBeUndefined();
    expect(vslInterfaces()).not.toContain(bridgeName(scope, 'doomed'));
    expect(hostNetState()).toEqual([]);
    await expect(httpGet(`http://127.0.0.1:${port}/`, 1000)).rejects.toThrow();
  });
});
