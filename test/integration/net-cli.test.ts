import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRoot, vessel, type TestRoot } from '../helpers/vessel.js';
import { delLink, netTestsCanRun, nftTableExists, ownInterfaces, sh, trySh } from '../helpers/net.js';
import { bridgeName, nftTableName } from '../../src/net/names.js';

/** `vessel network create|ls|inspect|rm|reload`: what the commands print and what they do on the host. */
const canRun = netTestsCanRun();
const NETWORKS = ['alpha', 'beta', 'gamma', 'flat', 'six'];
const tag = (0x1000 + Math.floor(Math.random() * 0xefff)).toString(16); // four hex digits, no leading 0: IPv6 text drops those
// An IPv6 route of the host's own for the clash check: a port-less bridge holding a /64 (as addDummy).
const routed6 = `fd9e:${tag}:1::/64`;
const routedIf = `vslc6${tag}`;

describe.runIf(canRun)('vessel network', () => {
  let t: TestRoot;
  let scope = '';
  beforeAll(() => {
    t = makeRoot('netcli');
    scope = join(t.root, 'networks');
    sh(['ip', 'link', 'add', routedIf, 'type', 'bridge']);
    sh(['ip', 'addr', 'add', routed6.replace('::/64', '::1/64'), 'dev', routedIf, 'nodad']);
    sh(['ip', 'link', 'set', routedIf, 'up']);
  });
  afterAll(async () => {
    delLink(routedIf);
    for (const n of NETWORKS) await vessel(t, ['network', 'rm', n]);
    for (const i of await ownInterfaces(scope, NETWORKS, [])) delLink(i);
    trySh(['nft', 'delete', 'table', 'inet', nftTableName(scope)]);
    t.dispose();
  });

  it('creates a network: a bridge holding the gateway, NAT rules, a record', async () => {
    const r = await vessel(t, ['network', 'create', 'alpha', '--subnet', '10.213.7.0/24', '--subnet', `fd9e:${tag}:7::/64`]);
    expect(r).toMatchObject({ code: 0, stdout: `alpha 10.213.7.0/24 fd9e:${tag}:7::/64 ${bridgeName(scope, 'alpha')}\n` });
    const addrs = JSON.parse(sh(['ip', '-j', 'addr', 'show', 'dev', bridgeName(scope, 'alpha')])) as Array<{ addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>;
    expect(addrs[0]!.addr_info.filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['10.213.7.1/24', `fd9e:${tag}:7::1/64`]);
    const table = sh(['nft', 'list', 'table', 'inet', nftTableName(scope)]);
    expect(table).toContain('ip saddr 10.213.7.0/24 oifname != "' + bridgeName(scope, 'alpha') + '" masquerade comment "vessel-net:alpha"');
    expect(table).toContain(`ip6 saddr fd9e:${tag}:7::/64 oifname != "${bridgeName(scope, 'alpha')}" masquerade comment "vessel-net:alpha"`);
    // What vessel sets on its bridge: no router advertisements taken, IPv6 forwarded for it alone
    const sys = (k: string) => sh(['cat', `/proc/sys/net/ipv6/conf/${bridgeName(scope, 'alpha')}/${k}`]).trim();
    expect(sys('accept_ra')).toBe('0');
    if (sh(['sh', '-c', `test -e /proc/sys/net/ipv6/conf/${bridgeName(scope, 'alpha')}/force_forwarding && echo y || echo n`]).trim() === 'y') expect(sys('force_forwarding')).toBe('1');
    const auto = await vessel(t, ['network', 'create', 'beta']);
    expect(auto.stderr).toBe('');
    expect(auto.code).toBe(0);
    // an automatic IPv6 subnet: a /64 of this state root's random ULA /48
    expect(auto.stdout).toMatch(/^beta 10\.77\.\d+\.0\/24 fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64 vsl-[0-9a-f]{8}\n$/);
  });

  it('--ipv6=false makes an IPv4-only network (no IPv6 on its bridge at all)', async () => {
    const r = await vessel(t, ['network', 'create', 'flat', '--ipv6=false']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^flat 10\.77\.\d+\.0\/24 vsl-[0-9a-f]{8}\n$/);
    expect(sh(['ip', '-6', 'addr', 'show', 'dev', bridgeName(scope, 'flat')])).toBe('');
    expect(JSON.parse((await vessel(t, ['network', 'inspect', 'flat'])).stdout)).not.toHaveProperty('subnet6');
    expect(sh(['nft', 'list', 'table', 'inet', nftTableName(scope)])).not.toMatch(/ip6 saddr \S+ oifname != "vsl-[0-9a-f]+" masquerade comment "vessel-net:flat"/);
    expect((await vessel(t, ['network', 'rm', 'flat'])).code).toBe(0);
  });

  it('lists and inspects', async () => {
    const ls = await vessel(t, ['network', 'ls']);
    expect(ls.stdout.split('\n')[0]).toMatch(/^NAME\s+SUBNET\s+IPV6 SUBNET\s+GATEWAY\s+BRIDGE\s+CONTAINERS\s+CREATED BY$/);
    expect(ls.stdout).toMatch(new RegExp(`^alpha\\s+10\\.213\\.7\\.0/24\\s+fd9e:${tag}:7::/64\\s+10\\.213\\.7\\.1\\s+vsl-[0-9a-f]{8}\\s+0\\s+network create$`, 'm'));
    const json = JSON.parse((await vessel(t, ['network', 'ls', '--json'])).stdout) as Array<{ name: string }>;
    expect(json.map((n) => n.name)).toEqual(['alpha', 'beta']);
    const one = JSON.parse((await vessel(t, ['network', 'inspect', 'alpha'])).stdout) as Record<string, unknown>;
    expect(one).toMatchObject({ name: 'alpha', subnet: '10.213.7.0/24', gateway: '10.213.7.1', subnet6: `fd9e:${tag}:7::/64`, gateway6: `fd9e:${tag}:7::1`, auto: false, containers: [] });
  });

  it('says clearly what is wrong, and changes nothing', async () => {
    const before = (await vessel(t, ['network', 'ls', '--json'])).stdout;
    const cases: Array<[string[], RegExp]> = [
      [['network', 'create', 'alpha'], /network alpha: already exists/],
      [['network', 'create', 'gamma', '--subnet', '10.213.7.128/25'], /--subnet 10\.213\.7\.128\/25: overlaps network alpha \(10\.213\.7\.0\/24\)/],
      [['network', 'create', 'gamma', '--subnet', '10.213.8.1/24'], /host bits are set/],
      [['network', 'create', 'gamma', '--subnet', 'ten'], /expected an IPv4 CIDR/],
      [['network', 'create', 'six', '--subnet', `fd9e:${tag}:7::/48`], new RegExp(`--subnet fd9e:${tag}:7::/48: overlaps network alpha \\(fd9e:${tag}:7::/64\\)`)],
      [['network', 'create', 'six', '--subnet', routed6], new RegExp(`--subnet ${routed6}: overlaps ${routed6}, routed on this host via ${routedIf}`)],
      [['network', 'create', 'six', '--subnet', `fd9e:${tag}:8::1/64`], /host bits are set/],
      [['network', 'create', 'six', '--subnet', 'fd9e::/64', '--subnet', 'fd9f::/64'], /a second IPv6 subnet/],
      [['network', 'create', 'six', '--subnet', '10.220.0.0/16', '--subnet', `fd9e:${tag}:9::/120`], /smaller than the IPv4 subnet 10\.220\.0\.0\/16/],
      [['network', 'create', 'six', '--subnet', `fd9e:${tag}:9::/64`, '--ipv6=false'], /contradicts --ipv6=false/],
      [['network', 'create', 'six', '--ipv6=maybe'], /--ipv6 "maybe": expected true or false/],
      [['network', 'create', 'host'], /reserved/],
      [['network', 'create', 'bad name'], /network name "bad name"/],
      [['network', 'inspect', 'nope'], /network nope: no such network/],
      [['network', 'rm', 'nope'], /network nope: no such network/],
    ];
    for (const [args, msg] of cases) {
      const r = await vessel(t, args);
      expect(r.code, args.join(' ')).toBe(125);
      expect(r.stderr).toMatch(msg);
    }
    expect((await vessel(t, ['network', 'ls', '--json'])).stdout).toBe(before);
    expect((await ownInterfaces(scope, NETWORKS, [])).length).toBe(2);
  });

  it('reload recreates a bridge someone deleted', async () => {
    delLink(bridgeName(scope, 'beta'));
    expect((await vessel(t, ['network', 'reload'])).stdout).toBe('2 networks reloaded\n');
    expect(await ownInterfaces(scope, ['beta'], [])).toEqual([bridgeName(scope, 'beta')]);
  });

  it('removes networks: bridge, rules, record; the table goes with the last one', async () => {
    expect((await vessel(t, ['network', 'rm', 'alpha', 'beta'])).stdout).toBe('alpha\nbeta\n');
    expect(await ownInterfaces(scope, NETWORKS, [])).toEqual([]);
    expect(nftTableExists(nftTableName(scope))).toBe(false);
    expect(JSON.parse((await vessel(t, ['network', 'ls', '--json'])).stdout)).toEqual([]);
  });
});
