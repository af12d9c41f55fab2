import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostFailure, setHostRunner } from '../../src/util/host.js';
import { setNetBackend, switchPublished } from '../../src/net/index.js';
import { freebsdBackend } from '../../src/net/freebsd/index.js';
import { readNetwork, saveNetwork, networkDir } from '../../src/net/store.js';
import { FreeBSDDriver } from '../../src/runtime/freebsd/driver.js';
import type { Resource } from '../../src/runtime/types.js';
import type { NetworkRecord } from '../../src/net/types.js';
import { expectGolden, FakeFreeBSD, normalizeRoot } from '../helpers/freebsd.js';

/**
 * Issue 16: the published ports of one container moved to another of the same network in ONE pf
 * transaction (the atomic step of a zero-downtime reload) — golden transcript
 * test/fixtures/freebsd/publish-switch/, against pfctl(8) (`-a anchor -f -`, `-n`), pf.conf(5)
 * (`load anchor NAME from FILE`; rdr: the first matching rule wins) and pfctl.c pfctl_rules /
 * pfctl_load_anchors (the loaded anchors join the parent's transaction and its DIOCXCOMMIT).
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-freebsd-switch-'));
process.env.VESSEL_ROOT = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));

let fake: FakeFreeBSD;
let restore: () => void;
beforeEach(() => {
  fake = new FakeFreeBSD();
  // the old container runs and serves 8080 (its anchor as its start loaded it)
  fake.anchors.set('vessel-rdr/web', 'rdr pass on $ext_if inet proto tcp from any to ($ext_if) port 8080 -> 10.77.3.5 port 80 label "vessel-rdr/web"\n');
  restore = setHostRunner(fake);
  setNetBackend(freebsdBackend());
  const rec: NetworkRecord = {
    name: 'front', subnet: '10.77.3.0/24', gateway: '10.77.3.1', bridge: 'vbr2d8d6931', auto: false, created: '2026-11-28T15:41:00.000Z', nextHost: 7,
    leases: {
      web: { container: 'web', address: '10.77.3.5', hostIf: 'vsl4b5e57f6a', containerIf: 'vsl4b5e57f6b', publish: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], names: ['web'], leasedAt: '2026-11-28T15:41:00.000Z' },
      'web-next': { container: 'web-next', address: '10.77.3.6', hostIf: 'vsl0c1d2e3fa', containerIf: 'vsl0c1d2e3fb', publish: [], names: ['web-next'], leasedAt: '2026-11-28T15:42:00.000Z' },
    },
  };
  saveNetwork(rec);
});
afterEach(() => {
  restore();
  setNetBackend(undefined);
});

describe('switching published ports on FreeBSD', () => {
  it('one pfctl load of vessel-rdr whose `load anchor` lines replace both anchors together', async () => {
    const recorded: unknown[] = [];
    const moved = await switchPublished({ network: 'front', from: 'web', to: 'web-next', record: (r) => void recorded.push(...r) });
    expect(moved).toEqual([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
    // recorded before pfctl ran: the anchor the new container owns now, with the address its states go to
    expect(recorded).toEqual([{ kind: 'pf-anchor', id: 'vessel-rdr/web-next', detail: { address: '10.77.3.6' } }]);
    const transcript = normalizeRoot(fake.transcript(), root);
    expectGolden('publish-switch', 'commands.txt', transcript);
    // exactly one load (the other pfctl is -n: parse only)
    expect(fake.calls.filter((c) => c.argv[0] === 'pfctl' && !c.argv.includes('-n'))).toHaveLength(1);
    // the model host after the commit: the old anchor holds no rule, the new one the redirect
    expectGolden('publish-switch', 'pf-vessel-rdr_web.conf', fake.anchors.get('vessel-rdr/web')!);
    expectGolden('publish-switch', 'pf-vessel-rdr_web-next.conf', fake.anchors.get('vessel-rdr/web-next')!);
    expect(fake.anchors.get('vessel-rdr/web')).not.toMatch(/^rdr/m);
    expect(fake.anchors.get('vessel-rdr/web-next')).toMatch(/^rdr pass on em0 inet proto tcp from any to \(em0\) port 8080 -> 10\.77\.3\.6 port 80 label "vessel-rdr\/web-next"$/m);
    // the records say the same, and the rendered files are gone
    const rec = (await readNetwork('front'))!;
    expect(rec.leases.web!.publish).toEqual([]);
    expect(rec.leases['web-next']!.publish).toEqual(moved);
    expect(readdirSync(join(networkDir('front'), 'pf-switch'))).toEqual([]);
  });

  it('pf refusing the rules changes nothing: the records go back to the old container', async () => {
    const real = fake.run.bind(fake);
    fake.run = async (argv, opts) => {
      if (argv[0] === 'pfctl' && argv.includes('-n')) throw hostFailure({ argv, exitCode: 1, stdout: '', stderr: 'stdin:2: syntax error\n' });
      return real(argv, opts);
    };
    await expect(switchPublished({ network: 'front', from: 'web', to: 'web-next' })).rejects.toThrow(/^switch 8080:80\/tcp from web to web-next on front: .*syntax error/);
    const rec = (await readNetwork('front'))!;
    expect(rec.leases.web!.publish).toHaveLength(1);
    expect(rec.leases['web-next']!.publish).toEqual([]);
    expect(fake.anchors.has('vessel-rdr/web-next')).toBe(false);
  });

  it('dual stack: the new owner\'s anchor is recorded with both addresses, so its removal kills its IPv6 states too', async () => {
    // golden test/fixtures/freebsd/publish-switch-dual-stack/: pfctl.c `-F all` on an anchor keeps
    // its states (they are cleared only `if (!*anchorname)`), so removeAnchor kills them by id
    // (`-k id`, pfctl_id_kill_states) for every address recorded with the anchor; pf_print_state.c
    // prints an IPv6 state's ports in brackets (pf_print_host).
    const rec = (await readNetwork('front'))!;
    rec.subnet6 = 'fd00:77:3::/64';
    rec.gateway6 = 'fd00:77:3::1';
    rec.leases.web!.address6 = 'fd00:77:3::5';
    rec.leases['web-next']!.address6 = 'fd00:77:3::6';
    saveNetwork(rec);
    const recorded: Resource[] = [];
    await switchPublished({ network: 'front', from: 'web', to: 'web-next', record: (r) => void recorded.push(...r) });
    expect(recorded).toEqual([{ kind: 'pf-anchor', id: 'vessel-rdr/web-next', detail: { address: '10.77.3.6', address6: 'fd00:77:3::6' } }]);
    expectGolden('publish-switch-dual-stack', 'pf-vessel-rdr_web-next.conf', fake.anchors.get('vessel-rdr/web-next')!);
    // clients served by the new container over both families, and the admin's own ssh session
    fake.states = [
      { line: 'all tcp 10.77.3.6:80 (192.0.2.10:8080) <- 198.51.100.7:50000       ESTABLISHED:ESTABLISHED', id: '6474d3f900000001/2c95c8fa' },
      { line: 'all tcp fd00:77:3::6[80] (2001:db8:1::10[8080]) <- 2001:db8:9::7[50000]       ESTABLISHED:ESTABLISHED', id: '6474d3f900000002/2c95c8fa' },
      { line: 'all tcp 2001:db8:1::10[22] <- 2001:db8:9::7[50001]       ESTABLISHED:ESTABLISHED', id: '6474d3f900000003/2c95c8fa' },
    ];
    fake.calls.splice(0);
    // the new container goes: what its state recorded is removed
    await new FreeBSDDriver({ env: {} }).cleanup(recorded);
    expectGolden('publish-switch-dual-stack', 'commands.txt', normalizeRoot(fake.transcript(), root));
    expect(fake.anchors.has('vessel-rdr/web-next')).toBe(false);
    expect(fake.states.map((st) => st.id)).toEqual(['6474d3f900000003/2c95c8fa']);
  });

  it('bad requests: one line each, nothing changed', async () => {
    await expect(switchPublished({ network: 'back', from: 'web', to: 'web-next' })).rejects.toThrow('network back: no such network');
    await expect(switchPublished({ network: 'front', from: 'web', to: 'db' })).rejects.toThrow('switch published ports on front: container db has no lease there');
    await expect(switchPublished({ network: 'front', from: 'web', to: 'web' })).rejects.toThrow('switch published ports: web is both the old and the new container');
    expect(fake.calls.filter((c) => c.argv[0] === 'pfctl')).toEqual([]);
  });
});
