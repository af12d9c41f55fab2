import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRoot, vessel, type TestRoot } from '../helpers/vessel.js';
import { delLink, netTestsCanRun, nftTableExists, ownInterfaces, sh, trySh } from '../helpers/net.js';
import { bridgeName, nftTableName } from '../../src/net/names.js';

/** `vessel network create|ls|inspect|rm|reload`: what the commands print and what they do on the host. */
const canRun = netTestsCanRun();
const NETWORKS = ['alpha', 'beta', 'gamma'];

describe.runIf(canRun)('vessel network', () => {
  let t: TestRoot;
  let scope = '';
  beforeAll(() => {
    t = makeRoot('netcli');
    scope = join(t.root, 'networks');
  });
  afterAll(async () => {
    for (const n of NETWORKS) await vessel(t, ['network', 'rm', n]);
    for (const i of await ownInterfaces(scope, NETWORKS, [])) delLink(i);
    trySh(['nft', 'delete', 'table', 'ip', nftTableName(scope)]);
    t.dispose();
  });

  it('creates a network: a bridge holding the gateway, NAT rules, a record', async () => {
    const r = await vessel(t, ['network', 'create', 'alpha', '--subnet', '10.213.7.0/24']);
    expect(r).toMatchObject({ code: 0, stdout: `alpha 10.213.7.0/24 ${bridgeName(scope, 'alpha')}\n` });
    const addrs = JSON.parse(sh(['ip', '-j', '-4', 'addr', 'show', 'dev', bridgeName(scope, 'alpha')])) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>;
    expect(addrs[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['10.213.7.1/24']);
    expect(sh(['nft', 'list', 'table', 'ip', nftTableName(scope)])).toContain('ip saddr 10.213.7.0/24 oifname != "' + bridgeName(scope, 'alpha') + '" masquerade comment "vessel-net:alpha"');
    const auto = await vessel(t, ['network', 'create', 'beta']);
    expect(auto.code).toBe(0);
    expect(auto.stdout).toMatch(/^beta 10\.77\.\d+\.0\/24 vsl-[0-9a-f]{8}\n$/);
  });

  it('lists and inspects', async () => {
    const ls = await vessel(t, ['network', 'ls']);
    expect(ls.stdout.split('\n')[0]).toMatch(/^NAME\s+SUBNET\s+GATEWAY\s+BRIDGE\s+CONTAINERS\s+CREATED BY$/);
    expect(ls.stdout).toMatch(/^alpha\s+10\.213\.7\.0\/24\s+10\.213\.7\.1\s+vsl-[0-9a-f]{8}\s+0\s+network create$/m);
    const json = JSON.parse((await vessel(t, ['network', 'ls', '--json'])).stdout) as Array<{ name: string }>;
    expect(json.map((n) => n.name)).toEqual(['alpha', 'beta']);
    const one = JSON.parse((await vessel(t, ['network', 'inspect', 'alpha'])).stdout) as Record<string, unknown>;
    expect(one).toMatchObject({ name: 'alpha', subnet: '10.213.7.0/24', gateway: '10.213.7.1', auto: false, containers: [] });
  });

  it('says clearly what is wrong, and changes nothing', async () => {
    const before = (await vessel(t, ['network', 'ls', '--json'])).stdout;
    const cases: Array<[string[], RegExp]> = [
      [['network', 'create', 'alpha'], /network alpha: already exists/],
      [['network', 'create', 'gamma', '--subnet', '10.213.7.128/25'], /--subnet 10\.213\.7\.128\/25: overlaps network alpha \(10\.213\.7\.0\/24\)/],
      [['network', 'create', 'gamma', '--subnet', '10.213.8.1/24'], /host bits are set/],
      [['network', 'create', 'gamma', '--subnet', 'ten'], /expected an IPv4 CIDR/],
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
