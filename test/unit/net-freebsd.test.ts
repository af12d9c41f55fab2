import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freebsdBackend, parseNetstatRoutes, parseNetstatRoutes6 } from '../../src/net/freebsd/index.js';
import { formatCidr6 } from '../../src/util/ip.js';
import { setHostRunner } from '../../src/util/host.js';
import { FakeFreeBSD } from '../helpers/freebsd.js';
import { hostOs } from '../../src/runtime/index.js';
import { formatCidr } from '../../src/net/cidr.js';

describe('FreeBSD net backend: routes from netstat --libxo json', () => {
  it('keeps IPv4 destinations (host routes as /32), skips default and junk', () => {
    const json = JSON.stringify({
      statistics: {
        'route-information': {
          'route-table': {
            'rt-family': [{
              'address-family': 'Internet',
              'rt-entry': [
                { destination: 'default', gateway: '192.0.2.1', flags: 'UGS', 'interface-name': 'em0' },
                { destination: '10.77.0.0/24', gateway: 'link#2', flags: 'U', 'interface-name': 'em1' },
                { destination: '127.0.0.1', gateway: 'link#3', flags: 'UH', 'interface-name': 'lo0' },
                { destination: '10.5/16', gateway: 'link#4', flags: 'U', 'interface-name': 'vtnet1' },
                { destination: 'fe80::%lo0/64', gateway: 'link#3', flags: 'U', 'interface-name': 'lo0' },
              ],
            }],
          },
        },
      },
    });
    expect(parseNetstatRoutes(json).map((r) => `${formatCidr(r.dst)} ${r.dev}`)).toEqual([
      '10.77.0.0/24 em1', '127.0.0.1/32 lo0', '10.5.0.0/16 vtnet1',
    ]);
  });
  it('netstat -f inet6: IPv6 destinations (host routes as /128), no zones (link-local, multicast), no default', () => {
    const json = JSON.stringify({ statistics: { 'route-information': { 'route-table': { 'rt-family': [{
      'address-family': 'Internet6',
      'rt-entry': [
        { destination: 'default', gateway: 'fe80::1%em0', flags: 'UG', 'interface-name': 'em0' },
        { destination: '::1', gateway: 'link#3', flags: 'UHS', 'interface-name': 'lo0' },
        { destination: '2001:db8:1::/64', gateway: 'link#1', flags: 'U', 'interface-name': 'em0' },
        { destination: 'fd00:77:0:2d8d::/64', gateway: 'link#5', flags: 'U', 'interface-name': 'vbr2d8d6931' },
        { destination: 'fe80::%lo0/64', gateway: 'link#3', flags: 'U', 'interface-name': 'lo0' },
        { destination: 'ff02::%em0/16', gateway: 'link#1', flags: 'U', 'interface-name': 'em0' },
      ],
    }] } } } });
    expect(parseNetstatRoutes6(json).map((r) => `${formatCidr6(r.dst)} ${r.dev}`)).toEqual([
      '::1/128 lo0', '2001:db8:1::/64 em0', 'fd00:77:0:2d8d::/64 vbr2d8d6931',
    ]);
    expect(parseNetstatRoutes6('garbage')).toEqual([]);
  });
  it('an empty or broken answer is no routes, not a crash', () => {
    expect(parseNetstatRoutes('')).toEqual([]);
    expect(parseNetstatRoutes('not json')).toEqual([]);
    expect(parseNetstatRoutes('{"statistics":{}}')).toEqual([]);
  });
});

describe('VESSEL_OS test seam', () => {
  it('overrides the platform, and refuses anything but freebsd|linux', () => {
    expect(hostOs({ VESSEL_OS: 'freebsd' })).toBe('freebsd');
    expect(hostOs({ VESSEL_OS: 'linux' })).toBe('linux');
    expect(hostOs({})).toBe('linux');
    expect(() => hostOs({ VESSEL_OS: 'darwin' })).toThrow(/VESSEL_OS=darwin: expected freebsd or linux/);
  });
});

describe('one owner per FreeBSD host object (issue 13 item 3)', () => {
  const dir = (p: string) => join(new URL(import.meta.url).pathname, '..', '..', '..', 'src', p);
  const source = (p: string) => readFileSync(dir(p), 'utf8');

  it('net/freebsd runs no ifconfig or pfctl of its own: it asks the module that created the object', () => {
    for (const f of readdirSync(dir('net/freebsd'))) {
      const text = source(`net/freebsd/${f}`);
      expect(text, f).not.toMatch(/\['ifconfig'|\['pfctl'|\['devfs'/);
    }
    expect(source('net/freebsd/bridge.ts')).toMatch(/import \{[^}]*removeEpair[^}]*removeNetworkPlumbing[^}]*\} from '\.\.\/\.\.\/runtime\/freebsd\/index\.js'/);
  });

  it('each object is created and removed in the same runtime/freebsd module, and the sweep asks it', () => {
    const owners: Array<[string, RegExp, RegExp]> = [
      ['vnet.ts', /'epair', 'create'/, /'destroy'/],
      ['vnet.ts', /'bridge', 'create'/, /removeNetworkPlumbing/],
      ['pf.ts', /'-a', anchor, '-f', '-'/, /'-a', anchor, '-F', 'all'/],
      ['devfs.ts', /'add', \.\.\.r\.rule/, /'delset'/],
    ];
    for (const [file, create, remove] of owners) {
      const text = source(`runtime/freebsd/${file}`);
      expect(text, `${file} creates`).toMatch(create);
      expect(text, `${file} removes`).toMatch(remove);
    }
    const sweep = source('runtime/freebsd/leftovers.ts');
    for (const [fn, file] of [['epairLeftovers', 'vnet'], ['rdrLeftovers', 'pf'], ['rulesetLeftovers', 'devfs']]) {
      expect(sweep).toMatch(new RegExp(`import \\{[^}]*${fn}[^}]*\\} from '\\./${file}\\.js'`));
    }
    expect(sweep).not.toMatch(/\['ifconfig'|\['pfctl'|\['devfs'|\brun\(/);
  });

  it('net/ removing a network or an epair: the driver\'s module does it, states included', async () => {
    const fake = new FakeFreeBSD();
    fake.interfaces.add('vbr1234').add('vslabcda').add('vslabcdb');
    fake.anchors.set('vessel-nat/front', 'nat on $ext_if inet from 10.77.3.0/24 to ! 10.77.3.0/24 -> ($ext_if)\n');
    fake.states = [
      { line: 'all tcp 192.0.2.10:61234 (10.77.3.7:40000) -> 203.0.113.9:443       ESTABLISHED:ESTABLISHED', id: 'a1/1' },
      { line: 'all tcp 192.0.2.10:22 <- 198.51.100.7:50001       ESTABLISHED:ESTABLISHED', id: 'a2/1' },
    ];
    const restore = setHostRunner(fake);
    try {
      const b = freebsdBackend();
      await b.removeInterface('vslabcda');
      await b.removeNetwork({ name: 'front', bridge: 'vbr1234', subnet: '10.77.3.0/24' } as Parameters<typeof b.removeNetwork>[0]);
    } finally {
      restore();
    }
    expect(fake.transcript()).toBe([
      'ifconfig vslabcda', 'ifconfig vslabcda destroy',
      'pfctl -a vessel-nat/front -F all', 'pfctl -s states -vv', 'pfctl -k id -k a1/1',
      'ifconfig vbr1234', 'ifconfig vbr1234 destroy', '',
    ].join('\n'));
    expect([...fake.interfaces]).toEqual(['em0', 'lo0']);
    expect(fake.anchors.size).toBe(0);
    expect(fake.states.map((st) => st.id)).toEqual(['a2/1']);
  });
});
