import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerSpec, PortPublish } from '../../src/spec/types.js';
import type { NetAttachment } from '../../src/net/index.js';
import {
  addDummy, delLink, freePort, httpGet, netTestsCanRun, nftTableExists, ownInterfaces, sh, spawnNetns, trySh, vslInterfaces, waitHttp, wgetFrom,
  type Netns,
} from '../helpers/net.js';

/**
 * net/ against real namespaces, without the container runtime: each "container" is a process in
 * its own network namespace (busybox httpd, a node UDP echo, sleep). prepare → plug → traffic →
 * release, and the leftovers of a SIGKILLed run.
 */
const canRun = netTestsCanRun();
const tag = Math.random().toString(16).slice(2, 6);
const root = mkdtempSync(join(tmpdir(), 'vessel-net-plug-'));
process.env.VESSEL_ROOT = root;
const dummy = `vsltd${tag}`;
const hostAddr = `198.18.${Math.floor(Math.random() * 200) + 20}.${Math.floor(Math.random() * 200) + 20}`;
const www = join(root, 'www');
const procs: Netns[] = [];
const attachments = new Map<string, NetAttachment>();
let net: typeof import('../../src/net/index.js');
let table = '';
const NETWORKS = ['front', 'elsewhere', 'clash'];
const CONTAINERS = ['web', 'client', 'udp', 'lonely', 'thief', 'squatter', 'bad', 'victim'];
const own = () => ownInterfaces(join(root, 'networks'), NETWORKS, CONTAINERS);

function spec(name: string, network: string, publish: PortPublish[] = [], mode: 'bridge' | 'none' | 'host' = 'bridge'): ContainerSpec {
  return { name, network: { mode, name: network, publish, aliases: [`${name}-alias`] } } as unknown as ContainerSpec;
}

/**
 * A container's monitor makes its veth with netlink calls (native/linux/netlink.c; covered by the
 * run and Emperor tests). Here the same steps are run as the `ip` batches `vessel plan` shows for
 * them, so net/'s records, leases, hosts files and nft table are tested on their own.
 */
async function plumb(att: NetAttachment, pid: number): Promise<void> {
  const rn = att.network;
  if (rn.mode === 'none') { sh(['nsenter', '-t', String(pid), '-n', 'ip', 'link', 'set', 'lo', 'up']); return; }
  if (rn.mode !== 'bridge') return;
  const { renderHostBatch, renderContainerBatch } = await import('../../src/net/linux/index.js');
  const veth = { hostIf: rn.hostIf, containerIf: rn.containerIf, bridge: rn.bridge, address: rn.address, gateway: rn.gateway, pid };
  sh(['ip', '-batch', '-'], renderHostBatch(veth));
  sh(['nsenter', '-t', String(pid), '-n', 'ip', '-batch', '-'], renderContainerBatch(veth));
}

async function start(name: string, network: string, argv: string[], publish: PortPublish[] = []): Promise<Netns> {
  const p = await spawnNetns(argv);
  procs.push(p);
  const att = await net.prepareNetwork(spec(name, network, publish), name);
  attachments.set(name, att);
  await plumb(att, p.pid);
  return p;
}

describe.runIf(canRun)('networking with real namespaces', () => {
  const tcpPort = freePort();
  const udpPort = freePort();
  let web: Netns;
  let client: Netns;

  beforeAll(async () => {
    net = await import('../../src/net/index.js');
    const { nftTableName } = await import('../../src/net/names.js');
    table = nftTableName(join(root, 'networks'));
    mkdirSync(www, { recursive: true });
    writeFileSync(join(www, 'index.html'), 'hello from the web namespace\n');
    addDummy(dummy, hostAddr);
    web = await start('web', 'front', ['busybox', 'httpd', '-f', '-p', '80', '-h', www], [{ hostPort: tcpPort, containerPort: 80, protocol: 'tcp' }]);
    client = await start('client', 'front', ['sleep', '600']);
  });

  afterAll(async () => {
    for (const p of procs) await p.kill();
    for (const [name, att] of attachments) await net?.releaseNetwork(name, att.resources).catch(() => undefined);
    delLink(dummy);
    // Whatever a failed test left: our bridges and veths (named from our root), our table.
    for (const i of await own()) delLink(i);
    if (table) trySh(['nft', 'delete', 'table', 'inet', table]);
    rmSync(root, { recursive: true, force: true });
  });

  it('gives each member an address on the auto-created network and a hosts file naming them all', async () => {
    const info = await net.inspectNetwork('front');
    expect(info.auto).toBe(true);
    expect(info.containers.map((c) => c.name)).toEqual(['client', 'web']);
    const hosts = readFileSync(info.hostsFile, 'utf8');
    for (const c of info.containers) expect(hosts).toContain(`${c.address}\t${c.name} ${c.name}-alias\n`);
    const att = attachments.get('web')!;
    expect(att.mounts.map((m) => `${m.source}:${m.target}:${m.readonly ? 'ro' : 'rw'}`)).toEqual([
      `${info.hostsFile}:/etc/hosts:ro`, `${info.resolvConf}:/etc/resolv.conf:ro`,
    ]);
    const inside = sh(['nsenter', '-t', String(web.pid), '-n', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(inside).toContain(att.network.mode === 'bridge' ? att.network.address : 'x');
  });

  it('lets two members talk directly', async () => {
    const addr = (await net.inspectNetwork('front')).containers.find((c) => c.name === 'web')!.address;
    const r = wgetFrom(client.pid, `http://${addr}/`);
    expect(r.out).toBe('hello from the web namespace\n');
  });

  it('answers a published TCP port at 127.0.0.1 and at the host\'s own address', async () => {
    expect(await waitHttp(`http://127.0.0.1:${tcpPort}/`)).toEqual({ status: 200, body: 'hello from the web namespace\n' });
    expect((await httpGet(`http://${hostAddr}:${tcpPort}/`)).status).toBe(200);
  });

  it('answers a published port from another member and from the container itself through the host (hairpin)', () => {
    expect(wgetFrom(client.pid, `http://${hostAddr}:${tcpPort}/`).out).toBe('hello from the web namespace\n');
    expect(wgetFrom(web.pid, `http://${hostAddr}:${tcpPort}/`).out).toBe('hello from the web namespace\n');
  });

  it('network reload brings the rules back after a firewall reload removed them', async () => {
    sh(['nft', 'delete', 'table', 'inet', table]); // what `nft flush ruleset` would do to us (only to us here)
    await expect(httpGet(`http://127.0.0.1:${tcpPort}/`, 1000)).rejects.toThrow();
    await net.reloadNetworks();
    expect((await waitHttp(`http://127.0.0.1:${tcpPort}/`)).status).toBe(200);
  });

  it('publishes a UDP port', async () => {
    const echo = `require('dgram').createSocket('udp4').on('message', function (m, r) { this.send('echo ' + m, r.port, r.address); }).bind(53)`;
    await start('udp', 'front', [process.execPath, '-e', echo], [{ hostIp: '127.0.0.1', hostPort: udpPort, containerPort: 53, protocol: 'udp' }]);
    const dgram = await import('node:dgram');
    const answer = await new Promise<string>((res, rej) => {
      const s = dgram.createSocket('udp4');
      const timer = setInterval(() => s.send('ping', udpPort, '127.0.0.1'), 200);
      const deadline = setTimeout(() => { clearInterval(timer); s.close(); rej(new Error('no UDP answer')); }, 5000);
      s.on('message', (m) => { clearInterval(timer); clearTimeout(deadline); s.close(); res(m.toString()); });
      s.send('ping', udpPort, '127.0.0.1');
    });
    expect(answer).toBe('echo ping');
  });

  it('--network none has only loopback, up', async () => {
    const p = await spawnNetns(['sleep', '600']);
    procs.push(p);
    const att = await net.prepareNetwork(spec('lonely', '', [], 'none'), 'lonely');
    expect(att).toEqual({ network: { mode: 'none' }, resources: [], mounts: [] });
    await plumb(att, p.pid);
    const links = JSON.parse(sh(['nsenter', '-t', String(p.pid), '-n', 'ip', '-j', 'link'])) as Array<{ ifname: string; flags: string[] }>;
    expect(links.map((l) => l.ifname)).toEqual(['lo']);
    expect(links[0]!.flags).toContain('UP');
  });

  it('refuses a port already published, a port a host service holds, a bad port and a clashing subnet, creating nothing', async () => {
    const snapshot = async () => JSON.stringify([await own(), sh(['nft', 'list', 'table', 'inet', table])]);
    const state = await snapshot();
    const leases = await net.listLeases();
    await expect(net.prepareNetwork(spec('thief', 'front', [{ hostPort: tcpPort, containerPort: 81, protocol: 'tcp' }]), 'thief'))
      .rejects.toThrow(`thief: port ${tcpPort}/tcp is already published by container web (${tcpPort}:80/tcp)`);
    const held = freePort();
    const server: Server = createServer();
    await new Promise<void>((res) => server.listen(held, '127.0.0.1', res));
    try {
      await expect(net.prepareNetwork(spec('squatter', 'elsewhere', [{ hostPort: held, containerPort: 80, protocol: 'tcp' }]), 'squatter'))
        .rejects.toThrow(`squatter: port ${held}/tcp is already in use on the host (a socket is bound to 127.0.0.1:${held})`);
    } finally {
      server.close();
    }
    await expect(net.prepareNetwork(spec('bad', 'elsewhere', [{ hostPort: 70000, containerPort: 80, protocol: 'tcp' }]), 'bad'))
      .rejects.toThrow('bad: publish 70000:80/tcp: host port 70000 is not within 1-65535');
    const front = await net.inspectNetwork('front');
    await expect(net.createNetwork('clash', { subnet: front.subnet })).rejects.toThrow(`--subnet ${front.subnet}: overlaps network front (${front.subnet})`);
    await expect(net.createNetwork('clash', { subnet: '198.18.0.0/15' })).rejects.toThrow(`overlaps ${hostAddr}/32, routed on this host via ${dummy}`);
    expect(await snapshot()).toBe(state);
    expect(await net.listLeases()).toEqual(leases);
    expect((await net.listNetworkInfo()).map((n) => n.name)).toEqual(['front']);
  });

  it('refuses to remove a network in use', async () => {
    await expect(net.removeNetwork('front')).rejects.toThrow(/network front: in use by containers client, udp, web/);
  });

  it('after a SIGKILLed supervisor, the leftovers are found by name and released', async () => {
    const victim = await start('victim', 'front', ['sleep', '600'], [{ hostPort: freePort(), containerPort: 80, protocol: 'tcp' }]);
    const hostIf = attachments.get('victim')!.network.mode === 'bridge' ? (attachments.get('victim')!.network as { hostIf: string }).hostIf : '';
    attachments.delete('victim'); // the supervisor died: nobody remembers them
    await victim.kill('SIGKILL');
    const left = await net.findNetworkLeftovers('victim');
    expect(left.map((r) => `${r.kind}:${r.id}`).sort()).toEqual([`interface:${hostIf}`, 'lease:victim', 'nft:vessel:victim']);
    await net.releaseNetwork('victim', left);
    expect(await net.findNetworkLeftovers('victim')).toEqual([]);
    expect(sh(['nft', 'list', 'table', 'inet', table])).not.toContain('vessel:victim');
  });

  it('after every member stops, no veth, bridge, rule or lease of theirs remains', async () => {
    const bridge = (await net.inspectNetwork('front')).bridge;
    for (const p of procs) await p.kill();
    for (const [name, att] of attachments) await net.releaseNetwork(name, att.resources);
    attachments.clear();
    expect(await net.listLeases()).toEqual([]);
    expect(await net.listNetworkInfo()).toEqual([]);
    expect(await own()).toEqual([]);
    expect(vslInterfaces()).not.toContain(bridge);
    expect(nftTableExists(table)).toBe(false);
  });
});
