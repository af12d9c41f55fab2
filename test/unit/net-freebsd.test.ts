import { describe, expect, it } from 'vitest';
import { parseNetstatRoutes } from '../../src/net/freebsd/index.js';
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
