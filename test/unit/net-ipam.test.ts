import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../src/util/config.js';
import { VesselError } from '../../src/util/errors.js';
import { formatCidr, intToIp, parseCidr } from '../../src/net/cidr.js';
import { addLease, checkSubnet6Free, checkSubnetFree, parseRoutes, parseRoutes6, pickAddress, pickSubnet, pickSubnet6, poolConfig, ulaPrefixFrom } from '../../src/net/ipam.js';
import { formatCidr6, parseCidr6 } from '../../src/util/ip.js';
import { bridgeName, checkNetworkName, nftTableName, vethNames } from '../../src/net/names.js';
import { checkFamilies, checkHostAddresses, checkHostListeners, checkPublishedElsewhere, parseProcNet, resolvePublish, validatePublish } from '../../src/net/publish.js';
import { portLines, portsSummary } from '../../src/net/ports.js';
import { parsePublish } from '../../src/spec/publish.js';
import type { NetBackend } from '../../src/net/backend.js';
import type { NetworkRecord } from '../../src/net/types.js';
import type { ContainerSpec } from '../../src/spec/types.js';

function net(name: string, subnet: string, leases: string[] = []): NetworkRecord {
  return {
    name, subnet, gateway: intToIp(parseCidr(subnet).base + 1), bridge: `vsl-${name}`, auto: false, created: '', nextHost: 2,
    leases: Object.fromEntries(leases.map((a, i) => [`c${i}`, { container: `c${i}`, address: a, hostIf: '', containerIf: '', publish: [], names: [], leasedAt: '' }])),
  };
}

describe('subnets', () => {
  const cfg = poolConfig({});
  it('takes the first /24 of 10.77.0.0/16 that nothing uses', () => {
    expect(formatCidr(pickSubnet(cfg, [], []))).toBe('10.77.0.0/24');
    expect(formatCidr(pickSubnet(cfg, [net('a', '10.77.0.0/24')], []))).toBe('10.77.1.0/24');
  });
  it('skips subnets routed on the host', () => {
    const routes = parseRoutes(JSON.stringify([
      { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
      { dst: '10.77.0.0/23', dev: 'wg0' },
      { type: 'local', dst: '10.77.2.7', dev: 'dummy0' },
    ]));
    expect(formatCidr(pickSubnet(cfg, [], routes))).toBe('10.77.3.0/24');
  });
  it('is configurable', () => {
    const c = poolConfig({ VESSEL_NETWORK_POOL: '172.30.0.0/20', VESSEL_NETWORK_PREFIX: '28' });
    expect(formatCidr(pickSubnet(c, [net('a', '172.30.0.0/28')], []))).toBe('172.30.0.16/28');
    expect(() => poolConfig({ VESSEL_NETWORK_PREFIX: '8' })).toThrow(/VESSEL_NETWORK_PREFIX=8/);
  });
  it('says when the pool is exhausted', () => {
    const c = poolConfig({ VESSEL_NETWORK_POOL: '10.9.0.0/23' });
    expect(() => pickSubnet(c, [net('a', '10.9.0.0/24'), net('b', '10.9.1.0/24')], [])).toThrow(/no free \/24 subnet left/);
  });
  it('refuses a --subnet that clashes, naming what it clashes with', () => {
    expect(() => checkSubnetFree(parseCidr('10.77.0.0/16'), [net('front', '10.77.5.0/24')], [])).toThrow(
      '--subnet 10.77.0.0/16: overlaps network front (10.77.5.0/24)',
    );
    expect(() => checkSubnetFree(parseCidr('192.0.2.0/25'), [], parseRoutes('[{"dst":"192.0.2.0/24","dev":"eth0"}]'))).toThrow(
      /overlaps 192.0.2.0\/24, routed on this host via eth0/,
    );
    expect(() => parseCidr('10.77.0.1/24', '--subnet')).toThrow(/host bits are set/);
    expect(() => parseCidr('10.77.0.0', '--subnet')).toThrow(/expected an IPv4 CIDR/);
  });
});

describe('addresses', () => {
  it('never hands out the network, gateway or broadcast address, and wraps', () => {
    const n = net('a', '10.1.0.0/29', ['10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5']);
    n.nextHost = 6;
    expect(pickAddress(n)).toEqual({ address: '10.1.0.6', nextHost: 2 });
    n.leases.x = { ...n.leases.c0!, container: 'x', address: '10.1.0.6' };
    expect(() => pickAddress(n)).toThrow(/all 5 addresses of 10.1.0.0\/29 are leased/);
  });
  it('does not reuse a freed address at once', () => {
    const n = net('a', '10.1.0.0/24', ['10.1.0.3']);
    n.nextHost = 4;
    expect(pickAddress(n).address).toBe('10.1.0.4');
  });
});

describe('names', () => {
  it('are short, deterministic, contain vsl and differ between state roots', () => {
    const b = bridgeName('/var/lib/vessel/networks', 'a-rather-long-network-name');
    expect(b).toMatch(/^vsl-[0-9a-f]{8}$/);
    expect(b).toBe(bridgeName('/var/lib/vessel/networks', 'a-rather-long-network-name'));
    expect(b).not.toBe(bridgeName('/tmp/x/networks', 'a-rather-long-network-name'));
    const v = vethNames('/s', 'c'.repeat(64));
    expect(v.host.length).toBeLessThanOrEqual(15);
    expect(v.host).toMatch(/^vsl[0-9a-f]{10}h$/);
    expect(v.container).toBe(v.host.slice(0, -1) + 'c');
    expect(nftTableName('/var/lib/vessel/networks')).toBe('vessel');
    expect(nftTableName('/tmp/x/networks')).toMatch(/^vessel_[0-9a-f]{8}$/);
  });
  it('refuses mode names and odd characters', () => {
    expect(() => checkNetworkName('host')).toThrow(/reserved/);
    expect(() => checkNetworkName('a b')).toThrow(VesselError);
  });
});

describe('published ports', () => {
  it('refuses bad ports', () => {
    expect(() => validatePublish([{ hostPort: -1, containerPort: 80, protocol: 'tcp' }], 'web')).toThrow('web: publish -1:80/tcp: host port -1 is not within 1-65535');
    expect(() => validatePublish([{ hostPort: 80, containerPort: 70000, protocol: 'tcp' }], 'web')).toThrow(/container port 70000/);
    expect(() => validatePublish([{ hostPort: 90, hostPortEnd: 80, containerPort: 90, containerPortEnd: 100, protocol: 'tcp' }], 'web')).toThrow(/host range 90-80 is not a range/);
    expect(() => validatePublish([{ hostPort: 80, hostPortEnd: 81, containerPort: 90, containerPortEnd: 100, protocol: 'tcp' }], 'web')).toThrow(/not equally long/);
    expect(() => validatePublish([{ hostIp: 'fe80::1%eth0', hostPort: 80, containerPort: 90, protocol: 'tcp' }], 'web')).toThrow(/is not an IP address/);
    expect(() => validatePublish([parsePublish('8000-8010:8000-8010'), parsePublish('[::1]:8010:80')], 'web')).toThrow(
      'web: publish "[::1]:8010:80/tcp" takes host port 8010/tcp already taken by "8000-8010:8000-8010/tcp"',
    );
    // different families, or a free port chosen later, do not overlap
    expect(() => validatePublish([parsePublish('127.0.0.1:80:80'), parsePublish('[::1]:80:80'), parsePublish('80')], 'web')).not.toThrow();
  });
  it('refuses a host address the host does not have', async () => {
    await expect(checkHostAddresses([{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }], 'web')).resolves.toBeUndefined();
    // 203.0.113.0/24 is TEST-NET-3: documentation only, never a host's address.
    await expect(checkHostAddresses([{ hostIp: '203.0.113.7', hostPort: 8080, containerPort: 80, protocol: 'tcp' }], 'web')).rejects.toThrow(
      'web: publish 203.0.113.7:8080:80/tcp: 203.0.113.7 is not an address of this host',
    );
  });
  it('finds host sockets in /proc/net text', () => {
    const tcp = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
      '   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1',
      '   2: 0100007F:1F91 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1',
    ].join('\n');
    const l = parseProcNet(tcp, 'tcp');
    expect(l).toEqual([{ protocol: 'tcp', ip: '127.0.0.1', port: 8080 }, { protocol: 'tcp', ip: '0.0.0.0', port: 22 }]);
    const tcp6 = [
      'head',
      '   0: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 0',
      // ::1 port 53, fd00::2 port 443 (four host-order words), :: port 25
      '   1: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 0',
      '   2: 000000FD000000000000000002000000:01BB 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 0',
      '   3: 00000000000000000000000000000000:0019 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 0',
    ].join('\n');
    expect(parseProcNet(tcp6, 'tcp')).toEqual([
      { protocol: 'tcp', ip: '127.0.0.1', port: 80 },
      { protocol: 'tcp', ip: '::1', port: 53 },
      { protocol: 'tcp', ip: 'fd00::2', port: 443 },
      { protocol: 'tcp', ip: undefined, port: 25 },
    ]);
    const l6 = parseProcNet(tcp6, 'tcp');
    expect(() => checkHostListeners([parsePublish('[::1]:53:53')], 'web', l6)).toThrow('web: port 53/tcp is already in use on the host (a socket is bound to [::1]:53)');
    expect(() => checkHostListeners([parsePublish('127.0.0.1:53:53')], 'web', l6)).not.toThrow();
    // an IPv6 wildcard socket takes IPv4 too (unless IPV6_V6ONLY, which /proc does not show)
    expect(() => checkHostListeners([parsePublish('127.0.0.1:20-30:20-30')], 'web', l6)).toThrow(/port 25\/tcp is already in use .* bound to \*:25/);
    // an IPv4 wildcard socket leaves IPv6 addresses free
    expect(() => checkHostListeners([parsePublish('[::1]:22:22')], 'web', l)).not.toThrow();
    expect(() => checkHostListeners([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], 'web', l)).toThrow(
      'web: port 8080/tcp is already in use on the host (a socket is bound to 127.0.0.1:8080)',
    );
    expect(() => checkHostListeners([{ hostPort: 8080, containerPort: 80, protocol: 'udp' }], 'web', l)).not.toThrow();
    expect(() => checkHostListeners([{ hostIp: '10.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }], 'web', l)).not.toThrow();
  });
});

describe('IPv6 subnets and addresses', () => {
  const ula = ulaPrefixFrom(Buffer.from([0x12, 0x34, 0x56, 0x78, 0x9a]));
  it('draws a /48 of fd00::/8 with a 40-bit random Global ID (RFC 4193 3.2)', () => {
    expect(formatCidr6(ula)).toBe('fd12:3456:789a::/48');
  });
  it('gives a network the same /64 every time (a hash of its name), the next one when that is taken', () => {
    const a = formatCidr6(pickSubnet6(ula, 'front', [], []));
    expect(a).toMatch(/^fd12:3456:789a:[0-9a-f]{1,4}::\/64$/);
    expect(formatCidr6(pickSubnet6(ula, 'front', [], []))).toBe(a);
    const taken = { ...net('other', '10.77.9.0/24'), subnet6: a, gateway6: '' };
    expect(formatCidr6(pickSubnet6(ula, 'front', [taken], []))).not.toBe(a);
    // a host route over it (a VPN, another tool's bridge, the host's own /128) moves it too
    const routes = parseRoutes6(JSON.stringify([{ dst: a.replace('::/64', '::7'), dev: 'wg0', type: 'local' }]));
    expect(formatCidr6(pickSubnet6(ula, 'front', [], routes))).not.toBe(a);
  });
  it('reads ip -j -6 route: not default, multicast or link-local; host routes are /128', () => {
    const routes = parseRoutes6(JSON.stringify([
      { dst: 'fd00::/64', dev: 'eth0' }, { dst: 'fe80::/64', dev: 'eth0' }, { dst: 'default', gateway: 'fd00::1', dev: 'eth0' },
      { type: 'local', dst: 'fd00::2', dev: 'eth0' }, { type: 'multicast', dst: 'ff00::/8', dev: 'eth0' }, { type: 'local', dst: '::1', dev: 'lo' },
    ]));
    expect(routes.map((r) => `${formatCidr6(r.dst)} ${r.dev}`)).toEqual(['fd00::/64 eth0', 'fd00::2/128 eth0', '::1/128 lo']);
  });
  it('a route it cannot read is skipped, not a crash (a prefix of `abc` was a RangeError)', () => {
    const routes = parseRoutes6(JSON.stringify([
      { dst: 'fd00:1::/abc', dev: 'a' }, { dst: 'fd00:2::/129', dev: 'b' }, { dst: 'fd00:3::/', dev: 'c' }, { dst: 'fe80::1%eth0', dev: 'd' }, { dst: 'fd00:4::9/64', dev: 'e' },
    ]));
    expect(routes.map((r) => `${formatCidr6(r.dst)} ${r.dev}`)).toEqual(['fd00:4::/64 e']);
  });
  it('refuses an IPv6 --subnet that clashes or is too small for the IPv4 one', () => {
    const front = { ...net('front', '10.77.5.0/24'), subnet6: 'fd00:5::/64', gateway6: 'fd00:5::1' };
    expect(() => checkSubnet6Free(parseCidr6('fd00:5::/48'), parseCidr('10.88.0.0/24'), [front], [])).toThrow('--subnet fd00:5::/48: overlaps network front (fd00:5::/64)');
    expect(() => checkSubnet6Free(parseCidr6('fd00::/56'), parseCidr('10.88.0.0/24'), [], parseRoutes6('[{"dst":"fd00::/64","dev":"eth0"}]'))).toThrow(
      '--subnet fd00::/56: overlaps fd00::/64, routed on this host via eth0',
    );
    expect(() => checkSubnet6Free(parseCidr6('fd00:9::/120'), parseCidr('10.88.0.0/16'), [], [])).toThrow(/smaller than the IPv4 subnet 10.88.0.0\/16/);
    expect(() => checkSubnet6Free(parseCidr6('fd00:9::/112'), parseCidr('10.88.0.0/16'), [], [])).not.toThrow();
    expect(() => parseCidr6('fd00::1/64', '--subnet')).toThrow('--subnet fd00::1/64: host bits are set');
    expect(() => parseCidr6('fd00::/129', '--subnet')).toThrow(/expected an IPv6 CIDR/);
  });
  it('leases the IPv6 address with the IPv4 host number', () => {
    const n = { ...net('front', '10.77.5.0/24'), subnet6: 'fd00:5:0:1::/64', gateway6: 'fd00:5:0:1::1' };
    n.nextHost = 9;
    const l = addLease(n, { container: 'web', hostIf: 'h', containerIf: 'eth0', publish: [], names: ['web'], leasedAt: '' });
    expect([l.address, l.address6]).toEqual(['10.77.5.9', 'fd00:5:0:1::9']);
  });
});

describe('host ports chosen at start', () => {
  const others = [{ ...net('front', '10.77.5.0/24'), leases: { web: { container: 'web', address: '10.77.5.2', hostIf: '', containerIf: '', publish: [parsePublish('8000-8010:8000-8010')], names: [], leasedAt: '' } } }];
  it('takes a random free port of the ephemeral range per container port, never one in use', () => {
    let next = 40000;
    const seq = () => next++;
    const listeners = parseProcNet('h\n   0: 00000000:9C40 00000000:0000 0A 0 0 0 0 0 0 0\n', 'tcp'); // 40000 is bound
    const out = resolvePublish([parsePublish('8000-8002'), parsePublish('53/udp')], 'api', others, listeners, [32768, 60999], seq);
    expect(out.map((p) => `${p.hostPort}->${p.containerPort}/${p.protocol}`)).toEqual(['40001->8000/tcp', '40002->8001/tcp', '40003->8002/tcp', '40004->53/udp']);
  });
  it('takes the first free port of a host range (docker HOSTRANGE:CONTAINER), or says there is none', () => {
    const out = resolvePublish([parsePublish('8009-8012:80')], 'api', others, [], [32768, 60999]);
    expect(out).toEqual([{ hostPort: 8011, containerPort: 80, protocol: 'tcp' }]);
    expect(() => resolvePublish([parsePublish('8005-8010:80')], 'api', others, [], [32768, 60999])).toThrow(
      'api: publish 8005-8010:80/tcp: no free host port in 8005-8010/tcp',
    );
    // another address family is free
    expect(resolvePublish([parsePublish('[::1]:8005-8010:80')], 'api', [{ ...others[0]!, leases: { web: { ...others[0]!.leases.web!, publish: [parsePublish('127.0.0.1:8000-8010:8000-8010')] } } }], [], [1, 2])[0]!.hostPort).toBe(8005);
  });
  it('refuses a range overlapping another container\'s', () => {
    expect(() => checkPublishedElsewhere([parsePublish('8010-8020:8010-8020/tcp')], 'api', others)).toThrow(
      'api: ports 8010-8020/tcp are already published by container web (8000-8010:8000-8010/tcp)',
    );
    expect(() => checkPublishedElsewhere([parsePublish('8010-8020:8010-8020/udp')], 'api', others)).not.toThrow();
  });
  it('refuses IPv6 addresses on an IPv4-only network', async () => {
    let asked = 0;
    const v4only = async () => (asked++, false);
    await expect(checkFamilies([parsePublish('[::1]:80:80')], 'api', 'v4only', v4only)).rejects.toThrow(
      'api: publish [::1]:80:80/tcp: network v4only has no IPv6 (--ipv6=false, or IPv6 is off on this host)',
    );
    await expect(checkFamilies([parsePublish('80:80')], 'api', 'v4only', v4only)).resolves.toBeUndefined();
    // the network's families are asked only for a mapping that needs IPv6
    expect(asked).toBe(1);
  });
  it('prints them as docker port and docker ps do', () => {
    const p = { container: 'web', network: 'front', dualStack: true, publish: [parsePublish('8080:80'), parsePublish('[::1]:9000-9001:53-54/udp')] };
    expect(portLines(p)).toEqual(['80/tcp -> 0.0.0.0:8080', '80/tcp -> [::]:8080', '53/udp -> [::1]:9000', '54/udp -> [::1]:9001']);
    expect(portLines(p, '54/udp')).toEqual(['54/udp -> [::1]:9001']);
    expect(() => portLines(p, '81')).toThrow('container web: no public port 81/tcp published');
    expect(portLines({ ...p, dualStack: false }, '80')).toEqual(['80/tcp -> 0.0.0.0:8080']);
    expect(portsSummary(p.publish)).toBe('8080->80/tcp, [::1]:9000-9001->53-54/udp');
  });
});

// prepare/release against the real records and lock, with a fake host backend (no root needed).
describe('leases through prepareNetwork', () => {
  let root: string;
  let net: typeof import('../../src/net/index.js');
  const created: string[] = [];
  const fake: NetBackend = {
    containerIfName: () => 'eth0',
    hostRoutes: async () => [],
    hostRoutes6: async () => [],
    ipv6Missing: async () => undefined,
    interfaceExists: async () => false,
    ensureNetwork: async (n) => { created.push(`bridge ${n.bridge}`); return true; },
    removeNetwork: async (n) => { created.push(`-bridge ${n.bridge}`); },
    removeInterface: async () => undefined,
    applyRules: async () => undefined,
  };
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'vessel-net-unit-'));
    process.env.VESSEL_ROOT = root;
    // config() is read once per process (each test file runs in its own worker): set the root first.
    expect(config().root).toBe(root);
    net = await import('../../src/net/index.js');
    net.setNetBackend(fake);
  });
  afterAll(() => {
    net?.setNetBackend(undefined);
    rmSync(root, { recursive: true, force: true });
  });
  const spec = (name: string, publish: ContainerSpec['network']['publish'] = []): ContainerSpec =>
    ({ name, network: { mode: 'bridge', name: 'front', publish, aliases: [] } }) as unknown as ContainerSpec;

  it('gives 20 concurrent starts 20 distinct addresses and lists them all in hosts', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const atts = await Promise.all(names.map((n) => net.prepareNetwork(spec(n), n)));
    const addrs = atts.map((a) => (a.network.mode === 'bridge' ? a.network.address : ''));
    expect(new Set(addrs).size).toBe(20);
    const addrs6 = atts.map((a) => (a.network.mode === 'bridge' ? a.network.address6 : ''));
    expect(new Set(addrs6).size).toBe(20);
    for (const a of addrs6) expect(a).toMatch(/^fd[0-9a-f:]+::[0-9a-f]+\/64$/);
    const hosts = readFileSync(join(root, 'networks', 'front', 'hosts'), 'utf8');
    for (const n of names) expect(hosts.match(new RegExp(`\\t${n}\\n`, 'g'))).toHaveLength(2); // both families
    expect(created.filter((c) => c.startsWith('bridge')).length).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 20; i++) await net.releaseNetwork(names[i]!, atts[i]!.resources);
    // The auto network went away with its last member.
    expect(await net.listNetworkInfo()).toEqual([]);
    expect(created.at(-1)).toMatch(/^-bridge vsl-/);
  });

  it('refuses a port another container publishes, creating nothing', async () => {
    const a = await net.prepareNetwork(spec('a', [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }]), 'a');
    await expect(net.prepareNetwork(spec('b', [{ hostPort: 18080, containerPort: 81, protocol: 'tcp' }]), 'b')).rejects.toThrow(
      'b: port 18080/tcp is already published by container a (18080:80/tcp)',
    );
    expect((await net.inspectNetwork('front')).containers.map((c) => c.name)).toEqual(['a']);
    await net.releaseNetwork('a', a.resources);
    expect(await net.findNetworkLeftovers('a')).toEqual([]);
  });

  it('records the host port chosen for -p 80 in the lease, and --ipv6=false networks stay IPv4', async () => {
    const a = await net.prepareNetwork(spec('dyn', [parsePublish('80'), parsePublish('127.0.0.1:18000-18001:8000-8001/udp')]), 'dyn');
    const pub = a.network.mode === 'bridge' ? a.network.publish : [];
    expect(pub[0]!.hostPort).toBeGreaterThan(0);
    expect(pub[1]).toEqual(parsePublish('127.0.0.1:18000-18001:8000-8001/udp'));
    expect((await net.inspectNetwork('front')).containers[0]!.publish[0]).toBe(`${pub[0]!.hostPort}:80/tcp`);
    await net.releaseNetwork('dyn', a.resources);
    await net.createNetwork('flat', { ipv6: false });
    const v4 = (await net.inspectNetwork('flat'));
    expect(v4.subnet6).toBeUndefined();
    const f = await net.prepareNetwork({ ...spec('f'), network: { mode: 'bridge', name: 'flat', publish: [], aliases: [] } } as ContainerSpec, 'f');
    expect(f.network.mode === 'bridge' && f.network.address6).toBe(undefined);
    await expect(net.prepareNetwork({ ...spec('g'), network: { mode: 'bridge', name: 'flat', publish: [parsePublish('[::1]:9:9')], aliases: [] } } as ContainerSpec, 'g')).rejects.toThrow(/has no IPv6/);
    await net.releaseNetwork('f', f.resources);
    await net.removeNetwork('flat');
  });

  it('finds the lease of a crashed container and releases it', async () => {
    await net.prepareNetwork(spec('crashed', [{ hostPort: 18081, containerPort: 80, protocol: 'tcp' }]), 'crashed');
    const left = await net.findNetworkLeftovers('crashed');
    expect(left.map((r) => r.kind).sort()).toEqual(['interface', 'lease', 'nft']);
    await net.releaseNetwork('crashed', left);
    expect(await net.listLeases()).toEqual([]);
  });
});
