import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../src/util/config.js';
import { VesselError } from '../../src/util/errors.js';
import { formatCidr, intToIp, parseCidr } from '../../src/net/cidr.js';
import { checkSubnetFree, parseRoutes, pickAddress, pickSubnet, poolConfig } from '../../src/net/ipam.js';
import { bridgeName, checkNetworkName, nftTableName, vethNames } from '../../src/net/names.js';
import { checkHostAddresses, checkHostListeners, parseProcNet, validatePublish } from '../../src/net/publish.js';
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
    expect(() => validatePublish([{ hostPort: 0, containerPort: 80, protocol: 'tcp' }], 'web')).toThrow('web: publish 0:80/tcp: host port 0 is not within 1-65535');
    expect(() => validatePublish([{ hostPort: 80, containerPort: 70000, protocol: 'tcp' }], 'web')).toThrow(/container port 70000/);
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
    expect(l).toEqual([{ protocol: 'tcp', ip: '127.0.0.1', port: 8080 }, { protocol: 'tcp', ip: undefined, port: 22 }]);
    const tcp6 = 'head\n   0: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 0\n';
    expect(parseProcNet(tcp6, 'tcp')).toEqual([{ protocol: 'tcp', ip: '127.0.0.1', port: 80 }]);
    expect(() => checkHostListeners([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], 'web', l)).toThrow(
      'web: port 8080/tcp is already in use on the host (a socket is bound to 127.0.0.1:8080)',
    );
    expect(() => checkHostListeners([{ hostPort: 8080, containerPort: 80, protocol: 'udp' }], 'web', l)).not.toThrow();
    expect(() => checkHostListeners([{ hostIp: '10.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }], 'web', l)).not.toThrow();
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
    const hosts = readFileSync(join(root, 'networks', 'front', 'hosts'), 'utf8');
    for (const n of names) expect(hosts).toMatch(new RegExp(`\\t${n}\\n`));
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

  it('finds the lease of a crashed container and releases it', async () => {
    await net.prepareNetwork(spec('crashed', [{ hostPort: 18081, containerPort: 80, protocol: 'tcp' }]), 'crashed');
    const left = await net.findNetworkLeftovers('crashed');
    expect(left.map((r) => r.kind).sort()).toEqual(['interface', 'lease', 'nft']);
    await net.releaseNetwork('crashed', left);
    expect(await net.listLeases()).toEqual([]);
  });
});
