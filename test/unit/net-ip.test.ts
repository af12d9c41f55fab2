import { isIP } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { bigIntToIPv6, canonicalIPv6, formatCidr6, ipv6InSubnet, ipv6Mask, ipv6ToBigInt, isIPv6, networkOf6, parseCidr6 } from '../../src/util/ip.js';

/** What node:net and the WHATWG URL parser (RFC 5952 hosts) say: the references util/ip.ts is held to. */
const nodeSaysIPv6 = (t: string) => !t.includes('%') && isIP(t) === 6;
const urlCanonical = (t: string) => new URL(`http://[${t}]/`).hostname.slice(1, -1);

const VALID = [
  '::', '::1', '1::', 'fd00::', 'fd12:3456:789a:1::5', 'FD00:0:0:0:0:0:0:1', '2001:db8::1:0:0:1', '2001:0db8:0000:0000:0001:0000:0000:0001',
  '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1::8', '0:0:0:0:0:0:0:0', '::ffff:10.77.0.5', '::10.0.0.1', '1:2:3:4:5:6:1.2.3.4',
  '1::1.2.3.4', 'fe80::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '0001:002:03:4::', '1:0:0:2:0:0:0:3', '1:0:0:2:0:0:3:4', '0:0:1::',
];
const INVALID = [
  '', ':', ':::', '1:::2', '1::2::3', ':1::', '1::2:', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2:3:4:5:6:7:8', '12345::', 'g::1', '::1%lo',
  'fe80::1%eth0', '[::1]', '::1/128', '1.2.3.4', '::1.2.3', '::1.2.3.4.5', '::256.0.0.1', '::01.2.3.4', '1.2.3.4::', '::1.2.3.4:1', ' ::1', '::1 ',
  '1:2:3:4:5:6:7:1.2.3.4', 'localhost', '::-1', '::+1', '::0x1',
];

describe('util/ip: IPv6 text without node:net', () => {
  it('accepts exactly what node:net isIP accepts as IPv6 (without a zone)', () => {
    for (const t of [...VALID, ...INVALID]) expect([t, isIPv6(t)]).toEqual([t, nodeSaysIPv6(t)]);
    expect(VALID.every(isIPv6)).toBe(true);
    expect(INVALID.some(isIPv6)).toBe(false);
  });
  it('spells every address as the WHATWG URL serializer does (RFC 5952)', () => {
    for (const t of VALID) expect([t, canonicalIPv6(t)]).toEqual([t, urlCanonical(t)]);
    // random words, many of them zero so runs of every length and position occur
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let k = 0; k < 2000; k++) {
      const words = Array.from({ length: 8 }, () => (next() % 3 === 0 ? next() % 0x10000 : 0));
      const text = words.map((w) => w.toString(16)).join(':');
      expect([text, canonicalIPv6(text)]).toEqual([text, urlCanonical(text)]);
      expect(bigIntToIPv6(ipv6ToBigInt(text))).toBe(canonicalIPv6(text));
    }
  });
  it('a text that is not an address is a VesselError naming it', () => {
    expect(() => ipv6ToBigInt('fd00::1%eth0')).toThrow('"fd00::1%eth0": not an IPv6 address');
  });
  it('ipv6InSubnet: a bare address is /128; a prefix must be 0-128', () => {
    expect(ipv6InSubnet('fd00::5', 'fd00::/64')).toBe(true);
    expect(ipv6InSubnet('fd00:0:0:1::5', 'fd00::/64')).toBe(false);
    expect(ipv6InSubnet('fd00::5', 'fd00::5')).toBe(true);
    expect(ipv6InSubnet('fd00::6', 'fd00::5')).toBe(false);
    expect(ipv6InSubnet('10.0.0.1', 'fd00::/64')).toBe(false);
    expect(ipv6InSubnet('2001:db8::1', '::/0')).toBe(true);
    // `fd00::/` used to be /0 (everything matched), `/abc` a RangeError, /200 a negative shift
    for (const bad of ['fd00::/', 'fd00::/abc', 'fd00::/200', 'fd00::/-1', 'x/64', 'fd00::/64/1']) {
      expect(() => ipv6InSubnet('fd00::5', bad)).toThrow(`IPv6 subnet ${JSON.stringify(bad)}: expected ADDRESS or ADDRESS/PREFIX with a prefix of 0-128`);
    }
  });
  it('IPv6 CIDRs: one parser, mask and spelling (strict for a given subnet, masking for an address with its prefix)', () => {
    expect(formatCidr6(parseCidr6('FD00:0:0:1::/64'))).toBe('fd00:0:0:1::/64');
    expect(() => parseCidr6('fd00::1/64', '--subnet')).toThrow('--subnet fd00::1/64: host bits are set');
    expect(() => parseCidr6('fd00::', 'VESSEL_NETWORK_ULA')).toThrow('VESSEL_NETWORK_ULA "fd00::": expected an IPv6 CIDR such as fd00:1:2:3::/64');
    expect(networkOf6('fd00:77:3::5/64')).toEqual({ base: ipv6ToBigInt('fd00:77:3::'), prefix: 64 });
    expect(networkOf6('fd00:77:3::5/0')).toEqual({ base: 0n, prefix: 0 });
    expect(networkOf6('fd00::5')).toBeUndefined();
    expect(networkOf6('fd00::5', { bare: true })).toEqual({ base: ipv6ToBigInt('fd00::5'), prefix: 128 });
    for (const bad of ['fd00::/', 'fd00::/abc', 'fd00::/129', 'fd00::/1e2', '/64', 'fd00::%em0/64']) expect([bad, networkOf6(bad, { bare: true })]).toEqual([bad, undefined]);
    expect(ipv6Mask(0)).toBe(0n);
    expect(bigIntToIPv6(ipv6Mask(64))).toBe('ffff:ffff:ffff:ffff::');
    expect(ipv6Mask(128)).toBe((1n << 128n) - 1n);
  });
  it('does not load node:net (util/ is on every command\'s start path)', async () => {
    const r = await build({ entryPoints: [join(__dirname, '../../src/util/ip.ts')], bundle: true, platform: 'node', write: false, metafile: true, logLevel: 'silent' });
    const imports = Object.values(r.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    expect(imports.filter((p) => /^(node:)?net$/.test(p))).toEqual([]);
  });
});
