import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, containerState, leftovers, pidAlive, rootWithBusybox, until, vessel, type TestRoot } from '../helpers/vessel.js';
import {
  addHostAddress6, bridgeNfCallsIp6tables, freePort, hostIpv6State, hostNodeInContainer, httpGet, inNetnsArgv, netTestsCanRun,
  nftTableExists, sh, tearDownNetworkSuite, testHost6, trySh, waitHttp,
} from '../helpers/net.js';
import { nftTableName } from '../../src/net/names.js';

/**
 * Issue 17, IPv6 (dual stack), on the real kernel: networks get a ULA /64, containers an IPv6
 * address from the lease store and each other's names over both families, published ports answer
 * at the host's IPv6 addresses and at ::1, `--ipv6=false` networks stay IPv4 only, and after the
 * containers stop (or their supervisor is SIGKILLed and `vessel gc` runs) no IPv6 address, route,
 * rule or lease of theirs remains on the host.
 */
const canRun = netTestsCanRun();
let t: TestRoot;
let scope = '';
const { ifname: addrIf, address: host6, tag } = testHost6('6h');
const netns = `vsl6lo${tag}`;
const NETWORKS = ['six', 'flat', 'doomed6'];
const CONTAINERS = ['web6', 'client6', 'flat1', 'victim6', 'loop6', 'bad6'];
/** The host's own IPv6 switches vessel must not touch: forwarding and accept_ra of all, default and every interface. */
let sysctlsBefore = new Map<string, string>();

function hostIpv6Sysctls(): Map<string, string> {
  const dir = '/proc/sys/net/ipv6/conf';
  const out = new Map<string, string>();
  for (const i of readdirSync(dir).filter((x) => !x.startsWith('vsl'))) {
    for (const k of ['forwarding', 'accept_ra']) {
      try {
        out.set(`${i}.${k}`, readFileSync(join(dir, i, k), 'utf8').trim());
      } catch { /* an interface of another test, gone meanwhile */ }
    }
  }
  return out;
}

async function ok(args: string[]): Promise<string> {
  const r = await vessel(t, args);
  if (r.code !== 0) throw new Error(`vessel ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

type Info = { subnet6?: string; gateway6?: string; bridge: string; containers: Array<{ name: string; address: string; address6?: string }> };
async function inspect(name: string): Promise<Info | undefined> {
  const r = await vessel(t, ['network', 'inspect', name]);
  return r.code === 0 ? (JSON.parse(r.stdout) as Info) : undefined;
}

/** Whatever of these networks the host still has: IPv6 addresses and routes in them or on their bridges, nft rules. */
function ours(subnets6: string[], bridges: string[]): string[] {
  const prefixes = subnets6.map((s) => s.replace(/::\/64$/, ':'));
  const mentions = (l: string) => prefixes.some((p) => l.includes(p)) || bridges.some((b) => l.includes(b));
  const table = trySh(['nft', 'list', 'table', 'inet', nftTableName(scope)]).out.split('\n').filter((l) => /dnat|masquerade/.test(l));
  return [...hostIpv6State().filter(mentions), ...table.filter(mentions).map((l) => `nft ${l.trim()}`)];
}

describe.runIf(canRun)('IPv6 networks (dual stack)', () => {
  const port = freePort();
  let six: Info;

  beforeAll(async () => {
    t = await rootWithBusybox('ipv6');
    scope = join(t.root, 'networks');
    addHostAddress6(addrIf, host6);
    sysctlsBefore = hostIpv6Sysctls();
    await ok(['run', '-d', '--name', 'web6', '--network', 'six', '-p', `${port}:80`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    six = (await inspect('six'))!;
  });

  afterAll(async () => {
    trySh(['ip', 'netns', 'del', netns]);
    expect(await tearDownNetworkSuite(t, NETWORKS, CONTAINERS, [addrIf])).toEqual([]);
  });

  it('a network made on first use is dual stack: a ULA /64, an IPv6 address per container, both in /etc/hosts', async () => {
    expect(six.subnet6).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
    const web = six.containers.find((c) => c.name === 'web6')!;
    // the IPv4 host number, in the IPv6 subnet
    expect(web.address6).toBe(six.subnet6!.replace('::/64', `::${web.address.split('.')[3]}`));
    expect(await ok(['exec', 'web6', 'ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])).toContain(`inet6 ${web.address6}/64`);
    expect(await ok(['exec', 'web6', 'ip', '-6', 'route', 'show', 'default'])).toContain(`default via ${six.gateway6} dev eth0`);
    const hosts = await ok(['exec', 'web6', 'cat', '/etc/hosts']);
    expect(hosts).toContain(`${web.address}\tweb6\n`);
    expect(hosts).toContain(`${web.address6}\tweb6\n`);
  });

  it('containers reach each other by name over IPv6', async () => {
    // node asks getaddrinfo for AF_INET6 only; files only (no DNS round trips to a resolver that may not answer)
    const nss = join(t.root, 'nsswitch.conf');
    writeFileSync(nss, 'hosts: files\n');
    const client = hostNodeInContainer(
      "require('http').get({ host: 'web6', port: 80, family: 6 }, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log(r.socket.remoteAddress + ' ' + b.trim())); }).on('error', (e) => { console.error(e.message); process.exit(1); })",
    );
    const out = await ok(['run', '--rm', '--name', 'client6', '--network', 'six', ...client.volumes, '-v', `${nss}:/etc/nsswitch.conf:ro`, 'busybox', ...client.argv]);
    expect(out).toBe(`${six.containers.find((c) => c.name === 'web6')!.address6} hello from vessel\n`);
  });

  it('a published port answers at the host\'s IPv6 address, from the host and from a container (hairpin)', async () => {
    expect(await waitHttp(`http://[${host6}]:${port}/`)).toEqual({ status: 200, body: 'hello from vessel\n' });
    const self = await ok(['exec', 'web6', 'wget', '-qO-', `http://[${host6}]:${port}/`]);
    expect(self).toBe('hello from vessel\n');
  });

  it('::1 on this host: answered through the kernel, or (br_netfilter) by the container\'s relay, an explicit [::1] too', async () => {
    if (!bridgeNfCallsIp6tables()) {
      expect(await waitHttp(`http://[::1]:${port}/`)).toEqual({ status: 200, body: 'hello from vessel\n' });
      return;
    }
    // The kernel would drop the answers (docs/networking.md, "IPv6 loopback"): the monitor's relay
    // serves ::1 (test/integration/net-relay.test.ts has the rest of it).
    expect(await httpGet(`http://[::1]:${port}/`)).toEqual({ status: 200, body: 'hello from vessel\n' });
    const p = freePort();
    await ok(['run', '-d', '--name', 'bad6', '--network', 'six', '-p', `[::1]:${p}:80`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    expect(await httpGet(`http://[::1]:${p}/`)).toEqual({ status: 200, body: 'hello from vessel\n' });
    // only at ::1: neither 127.0.0.1 nor the host's other IPv6 address
    await expect(httpGet(`http://127.0.0.1:${p}/`, 2000)).rejects.toThrow(/ECONNREFUSED/);
    await expect(httpGet(`http://[${host6}]:${p}/`, 2000)).rejects.toThrow(/ECONNREFUSED/);
    await ok(['rm', '-f', 'bad6']);
  });

  it('::1 through the kernel alone, in a network namespace whose bridges br_netfilter leaves alone', async () => {
    sh(['ip', 'netns', 'add', netns]);
    sh(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
    // per network namespace (br_netfilter, Linux 5.3+); absent when br_netfilter is not loaded at all
    trySh(['ip', 'netns', 'exec', netns, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-ip6tables=0']);
    const p = freePort();
    // Its own state root: records are per root, and this root's networks have no bridge in there.
    const lo = await rootWithBusybox('ipv6lo');
    const vesselArgv = `${process.execPath} ${BIN}`;
    const script = [
      `${vesselArgv} run -d --name loop6 -p ${p}:80 -p '[::1]:${p + 1}:80' busybox httpd -f -p 80 -h /www >/dev/null`,
      `for i in $(seq 50); do busybox wget -qO- http://[::1]:${p}/ 2>/dev/null && break; sleep 0.1; done`,
      `busybox wget -qO- http://[::1]:${p + 1}/`,
      `${vesselArgv} rm -f loop6 >/dev/null`,
      'nft list ruleset',
      'ip -6 route show table all | grep -c vsl || true',
    ].join(' && ');
    try {
      const out = sh(inNetnsArgv(netns, ['env', `VESSEL_ROOT=${lo.root}`, 'sh', '-c', script]));
      expect(out.split('\n').slice(0, 2)).toEqual(['hello from vessel', 'hello from vessel']);
      // the container's stop took its table and the bridge's `local ::1` route with it
      expect(out.split('\n').slice(2).join('\n').trim()).toBe('0');
      expect(leftovers(lo)).toEqual([]);
    } finally {
      sh(['ip', 'netns', 'del', netns]);
      lo.dispose();
    }
  });

  it('--ipv6=false: an IPv4-only network (no IPv6 address, no AAAA names, IPv6 publishing refused)', async () => {
    await ok(['network', 'create', 'flat', '--ipv6=false']);
    await ok(['run', '-d', '--name', 'flat1', '--network', 'flat', 'busybox', 'sleep', '300']);
    expect(await ok(['exec', 'flat1', 'ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])).toBe('');
    expect(await ok(['exec', 'flat1', 'cat', '/etc/hosts'])).not.toMatch(/^fd/m);
    const r = await vessel(t, ['run', '-d', '--name', 'bad6', '--network', 'flat', '-p', `[::]:${freePort()}:80`, 'busybox', 'sleep', '60']);
    expect(r.code).toBe(125);
    expect(r.stderr.split('\n')[0]).toMatch(/^vessel: bad6: publish \[::\]:\d+:80\/tcp: network flat has no IPv6/);
    expect((await inspect('flat'))!.containers.map((c) => c.name)).toEqual(['flat1']);
    await ok(['rm', '-f', 'flat1']);
    await ok(['network', 'rm', 'flat']);
  });

  it('after a supervisor is SIGKILLed, gc leaves no IPv6 address, route, rule or lease of its network', async () => {
    const p = freePort();
    await ok(['run', '-d', '--name', 'victim6', '--network', 'doomed6', '-p', `${p}:80`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    expect((await waitHttp(`http://[${host6}]:${p}/`)).status).toBe(200);
    const doomed = (await inspect('doomed6'))!;
    const st = containerState(t, 'victim6') as { supervisorPid: number; pid: number };
    process.kill(st.supervisorPid, 'SIGKILL');
    await until(() => !pidAlive(st.pid), 10_000, 'the container to die with its supervisor');
    await ok(['gc']);
    expect(await inspect('doomed6')).toBeUndefined();
    expect(ours([doomed.subnet6!], [doomed.bridge])).toEqual([]);
  });

  it('after all containers stop, no IPv6 address, route, rule or lease of theirs remains, and the host\'s IPv6 switches are as they were', async () => {
    await ok(['rm', '-f', 'web6']);
    await vessel(t, ['rm', '-f', 'bad6']);
    expect(await inspect('six')).toBeUndefined();
    expect(ours([six.subnet6!], [six.bridge])).toEqual([]);
    expect(nftTableExists(nftTableName(scope))).toBe(false);
    expect(JSON.parse(await ok(['network', 'ls', '--json']))).toEqual([]);
    // Interfaces other suites add or remove meanwhile are theirs: compare those present both times.
    const now = hostIpv6Sysctls();
    const changed = [...sysctlsBefore].filter(([k, v]) => now.has(k) && now.get(k) !== v).map(([k, v]) => `${k}: ${v} -> ${now.get(k)}`);
    expect(changed).toEqual([]);
  });
});
