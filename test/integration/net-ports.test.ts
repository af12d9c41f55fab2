import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerState, rootWithBusybox, vessel, type TestRoot } from '../helpers/vessel.js';
import {
  addHostAddress6, freePort, freePorts, hostNodeInContainer, httpGet, netTestsCanRun, nftTableExists, ownInterfaces, tearDownNetworkSuite, testHost6, trySh, udpAsk, waitHttp,
} from '../helpers/net.js';
import { nftTableName } from '../../src/net/names.js';

/**
 * Issue 17: ports published as docker publishes them, end to end through `vessel run -p` with the
 * busybox image, real bridges, veths and nftables: ranges (same ports, and shifted), a free host
 * port chosen at start (recorded, shown by `vessel port` and `vessel ps`), UDP, IPv4 and IPv6
 * host addresses; bad ranges refused with one line and nothing created.
 */
const canRun = netTestsCanRun();
let t: TestRoot;
let scope = '';
// The host's own IPv6 address, on an interface the test makes (fd00::/8, never routed out).
const { ifname: addrIf, address: host6 } = testHost6('p6');
const NETWORKS = ['ports'];
const CONTAINERS = ['ranges', 'dyn', 'udp6', 'taken', 'thief'];

async function ok(args: string[]): Promise<string> {
  const r = await vessel(t, args);
  if (r.code !== 0) throw new Error(`vessel ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

describe.runIf(canRun)('ports published as docker does', () => {
  beforeAll(async () => {
    t = await rootWithBusybox('ports');
    scope = join(t.root, 'networks');
    addHostAddress6(addrIf, host6);
  });

  afterAll(async () => {
    expect(await tearDownNetworkSuite(t, NETWORKS, CONTAINERS, [addrIf])).toEqual([]);
  });

  it('ranges: the same ports, and shifted ones port for port, over IPv4 and IPv6', async () => {
    const same = freePorts(3);
    const shifted = freePorts(3);
    // httpds inside on SAME..SAME+2 and on 8000..8002, each answering with its own port
    const ports = [same, same + 1, same + 2, 8000, 8001, 8002].join(' ');
    const cmd = `for p in ${ports}; do mkdir -p /srv/$p && echo "port $p" > /srv/$p/index.html && httpd -p $p -h /srv/$p; done; exec sleep 3600`;
    await ok(['run', '-d', '--name', 'ranges', '--network', 'ports', '-p', `${same}-${same + 2}:${same}-${same + 2}`, '-p', `${shifted}-${shifted + 2}:8000-8002`, 'busybox', 'sh', '-c', cmd]);
    for (let i = 0; i < 3; i++) {
      for (const host of ['127.0.0.1', `[${host6}]`]) {
        expect(await waitHttp(`http://${host}:${same + i}/`)).toEqual({ status: 200, body: `port ${same + i}\n` });
        // the httpds start one after the other inside: wait for each, not only the first
        expect(await waitHttp(`http://${host}:${shifted + i}/`)).toEqual({ status: 200, body: `port ${8000 + i}\n` });
      }
    }
    const port = (await ok(['port', 'ranges'])).trim().split('\n');
    expect(port).toContain(`${same + 1}/tcp -> 0.0.0.0:${same + 1}`);
    expect(port).toContain(`8002/tcp -> [::]:${shifted + 2}`);
  });

  it('a host port chosen at start (-p 80): recorded, shown by vessel port, ps and inspect, reachable on both families', async () => {
    await ok(['run', '-d', '--name', 'dyn', '--network', 'ports', '-p', '80', '-p', `[${host6}]::80`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    const lines = (await ok(['port', 'dyn', '80'])).trim().split('\n');
    const any = /^80\/tcp -> 0\.0\.0\.0:(\d+)$/.exec(lines[0]!);
    expect(any, lines.join('|')).not.toBeNull();
    const p = Number(any![1]);
    expect(lines).toEqual([`80/tcp -> 0.0.0.0:${p}`, `80/tcp -> [::]:${p}`, expect.stringMatching(new RegExp(`^80/tcp -> \\[${host6}\\]:\\d+$`))]);
    const [lo, hi] = trySh(['cat', '/proc/sys/net/ipv4/ip_local_port_range']).out.trim().split(/\s+/).map(Number);
    expect(p).toBeGreaterThanOrEqual(lo!);
    expect(p).toBeLessThanOrEqual(hi!);
    expect(await waitHttp(`http://127.0.0.1:${p}/`)).toEqual({ status: 200, body: 'hello from vessel\n' });
    expect(await httpGet(`http://[${host6}]:${p}/`)).toEqual({ status: 200, body: 'hello from vessel\n' });
    const p6 = Number(/:(\d+)$/.exec(lines[2]!)![1]);
    expect(await httpGet(`http://[${host6}]:${p6}/`)).toEqual({ status: 200, body: 'hello from vessel\n' });
    // the spec keeps what was asked; the lease what was chosen
    const [st] = JSON.parse(await ok(['inspect', 'dyn'])) as Array<{ spec: { network: { publish: Array<{ hostPort: number }> } }; ports: { publish: Array<{ hostPort: number }> } }>;
    expect(st!.spec.network.publish.map((x) => x.hostPort)).toEqual([0, 0]);
    expect(st!.ports.publish.map((x) => x.hostPort)).toEqual([p, p6]);
    expect(await ok(['ps'])).toMatch(new RegExp(`^dyn\\s+running\\s+busybox:latest\\s+${p}->80/tcp, \\[${host6}\\]:${p6}->80/tcp\\s`, 'm'));
    const missing = await vessel(t, ['port', 'dyn', '81/udp']);
    expect(missing.code).toBe(125);
    expect(missing.stderr.split('\n')[0]).toBe('vessel: container dyn: no public port 81/udp published');
  });

  it('UDP over IPv4 and IPv6 (an echo server inside)', async () => {
    const port = freePort();
    const echo = `require('dgram').createSocket({ type: 'udp6', ipv6Only: false }).on('message', function (m, r) { this.send('echo ' + m, r.port, r.address); }).bind(53)`;
    const node = hostNodeInContainer(echo);
    await ok(['run', '-d', '--name', 'udp6', '--network', 'ports', '-p', `${port}:53/udp`, ...node.volumes, 'busybox', ...node.argv]);
    expect(await udpAsk('127.0.0.1', port, 'four')).toBe('echo four');
    expect(await udpAsk(host6, port, 'six')).toBe('echo six');
  });

  it('bad ranges and taken ports: one clear line, nothing created', async () => {
    const before = JSON.stringify([await ownInterfaces(scope, NETWORKS, CONTAINERS), trySh(['nft', 'list', 'table', 'inet', nftTableName(scope)]).out, await ok(['network', 'inspect', 'ports'])]);
    const rangesPorts = (await ok(['port', 'ranges'])).trim().split('\n');
    const taken = Number(/:(\d+)$/.exec(rangesPorts[0]!)![1]);
    const cases: Array<[string[], string]> = [
      [['-p', '9010-9000:80'], 'vessel: --publish: "9010-9000:80": range 9010-9000 is reversed (its first port is above its last)'],
      [['-p', '9000-9010:80-85'], 'vessel: --publish: "9000-9010:80-85": 11 host ports (9000-9010) for 6 container ports (80-85)'],
      [['-p', '65530-65540:80-90'], 'vessel: --publish: "65530-65540:80-90": port 65540 is not in 1..65535'],
      [['-p', '::1:9000:80'], 'vessel: --publish: "::1:9000:80": an IPv6 host address goes in brackets'],
      [['-p', `${taken - 1}-${taken + 1}:${taken - 1}-${taken + 1}`], `vessel: thief: ports ${taken - 1}-${taken + 1}/tcp are already published by container ranges (`],
      [['-p', `[${host6}]:${taken}:80`], `vessel: thief: port ${taken}/tcp is already published by container ranges (`],
      [['-p', '[fd9c::dead]:9000:80'], 'vessel: thief: publish [fd9c::dead]:9000:80/tcp: fd9c::dead is not an address of this host'],
    ];
    for (const [flags, line] of cases) {
      const r = await vessel(t, ['run', '-d', '--name', 'thief', '--network', 'ports', ...flags, 'busybox', 'sleep', '60']);
      expect(r.code, flags.join(' ')).toBe(125);
      expect(r.stderr.split('\n')[0]!.startsWith(line), `${r.stderr} should start with ${line}`).toBe(true);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('vessel:'))).toHaveLength(1);
      expect(containerState(t, 'thief')?.status ?? 'none').not.toBe('running');
    }
    const after = JSON.stringify([await ownInterfaces(scope, NETWORKS, CONTAINERS), trySh(['nft', 'list', 'table', 'inet', nftTableName(scope)]).out, await ok(['network', 'inspect', 'ports'])]);
    expect(after).toBe(before);
  });

  it('after its containers stop, nothing of the network remains', async () => {
    await ok(['rm', '-f', 'ranges', 'dyn', 'udp6']);
    await vessel(t, ['rm', '-f', 'thief']);
    expect(await ownInterfaces(scope, NETWORKS, CONTAINERS)).toEqual([]);
    expect(nftTableExists(nftTableName(scope))).toBe(false);
    expect(JSON.parse(await ok(['network', 'ls', '--json']))).toEqual([]);
  });
});
