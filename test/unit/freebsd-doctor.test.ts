import { describe, expect, it } from 'vitest';
import { Recorder, setHostRunner, type HostResult } from '../../src/util/host.js';
import { renderDoctor, runDoctor } from '../../src/doctor/index.js';
import { expectGolden } from '../helpers/freebsd.js';

/**
 * `vessel doctor` on FreeBSD, against recorded hosts (no FreeBSD runs here). Each canned answer is
 * what the tool prints per its FreeBSD 14 man page: sysctl(8) (-n value, -d description, -N names;
 * "unknown oid" and exit 1 for a missing node), pfctl(8) -s info ("Status: Enabled for …") and
 * -s nat (the loaded translation rules, anchors as `nat-anchor "…" all`), kldstat(8) -q -m (exit
 * status only), devfs(8) `rule showsets` (one number per line), zpool(8)/zfs(8) list -H -o name.
 * Goldens: test/fixtures/freebsd/doctor-ready and doctor-fresh (commands.txt, screen.txt, report.json).
 */

const JAIL_PARAMS = ['allow.chflags', 'allow.mount.', 'allow.raw_sockets', 'children.cur', 'children.max', 'devfs_ruleset', 'enforce_statfs', 'host.hostname', 'ip4.addr', 'path', 'persist', 'securelevel', 'sysvshm', 'vnet']
  .map((p) => `security.jail.param.${p}\n`).join('');

/** First matcher wins: `first` answers override the ready host's. */
function readyHost(first: Array<[string, Partial<HostResult>]> = []): Recorder {
  const r = new Recorder();
  for (const [m, a] of first) r.respond(m, a);
  return r
    .respond('sysctl -N security.jail.param', { stdout: JAIL_PARAMS })
    .respond('sysctl -d security.jail.param.vnet', { stdout: 'security.jail.param.vnet: Virtual network stack\n' })
    .respond('sysctl -n kern.racct.enable', { stdout: '1\n' })
    .respond('pfctl -s info', { stdout: 'Status: Enabled for 0 days 02:10:44           Debug: Urgent\n\nState Table                          Total             Rate\n  current entries                        4\n' })
    .respond('pfctl -s nat', { stdout: 'nat-anchor "vessel-nat/*" all\nrdr-anchor "vessel-rdr/*" all\n' })
    .respond('sysctl -n net.inet.ip.forwarding', { stdout: '1\n' })
    .respond('sysctl -n net.pf.filter_local', { stdout: '1\n' })
    .respond('kldstat -q -m mac_portacl', { exitCode: 0 })
    .respond('sysctl -n kern.osreldate', { stdout: '1402000\n' })
    .respond('devfs rule showsets', { stdout: '1\n2\n3\n4\n4711\n' })
    .respond('zfs list -H -o name zroot/vessel', { stdout: 'zroot/vessel\n' })
    .respond('kldstat -q -m linux64', { exitCode: 1 })
    .respond('uwsgi --version', { stdout: '2.0.28\n' });
}

function freshHost(): Recorder {
  return new Recorder()
    .respond('sysctl -N security.jail.param', { stdout: JAIL_PARAMS })
    .respond('sysctl -d security.jail.param.vnet', { stdout: 'security.jail.param.vnet: Virtual network stack\n' })
    .respond('sysctl -n kern.racct.enable', { stdout: '0\n' })
    .respond('pfctl -s info', { exitCode: 1, stderr: 'pfctl: /dev/pf: No such file or directory\n' })
    .respond('sysctl -n net.pf.filter_local', { exitCode: 1, stderr: 'sysctl: unknown oid \'net.pf.filter_local\'\n' })
    .respond('kldstat -q -m mac_portacl', { exitCode: 1 })
    .respond('sysctl -n kern.osreldate', { stdout: '1401000\n' })
    .respond('devfs rule showsets', { stdout: '1\n2\n3\n4\n' })
    .respond('zpool list -H -o name', { stdout: 'zroot\n' })
    .respond('kldstat -q -m linux64', { exitCode: 0 })
    .respond('uwsgi --version', { exitCode: 127, stderr: 'uwsgi: not found\n' });
}

async function doctorOn(host: Recorder, env: NodeJS.ProcessEnv) {
  const restore = setHostRunner(host);
  try {
    // VESSEL_OS=freebsd: the test seam that picks the FreeBSD probes on this Linux machine
    return await runDoctor({ env: { ...env, VESSEL_OS: 'freebsd' }, nodeVersion: 'v20.18.1' });
  } finally {
    restore();
  }
}

describe('vessel doctor on FreeBSD (recorded hosts)', () => {
  it('a host set up as docs/freebsd.md says: everything ok', async () => {
    const host = readyHost();
    const r = await doctorOn(host, { VESSEL_ZFS_DATASET: 'zroot/vessel' });
    expect(r.checks.filter((c) => c.status === 'missing' || c.status === 'warn')).toEqual([]);
    expectGolden('doctor-ready', 'commands.txt', host.transcript());
    expectGolden('doctor-ready', 'screen.txt', renderDoctor(r));
    expectGolden('doctor-ready', 'report.json', JSON.stringify(r, null, 2) + '\n');
  });

  it('a fresh FreeBSD 14 install: each missing piece named with its fix', async () => {
    const host = freshHost();
    const r = await doctorOn(host, {});
    const status = Object.fromEntries(r.checks.map((c) => [c.id, c.status]));
    expect(status).toMatchObject({ racct: 'missing', pf: 'missing', 'mac-portacl': 'missing', uwsgi: 'missing', 'jail-params': 'ok', 'pf-filter-local': 'warn', zfs: 'info', vimage: 'ok', node: 'ok', 'nullfs-file': 'ok' });
    // pf not loaded: no anchor or forwarding probe follows (they would only repeat the failure)
    expect(host.calls.some((c) => c.argv.join(' ') === 'pfctl -s nat')).toBe(false);
    expect(r.checks.find((c) => c.id === 'racct')?.fix).toContain('kern.racct.enable=1 to /boot/loader.conf');
    expectGolden('doctor-fresh', 'commands.txt', host.transcript());
    expectGolden('doctor-fresh', 'screen.txt', renderDoctor(r));
  });

  it('a 13.1 host: single-file volumes missing (nullfs mounts files from 13.2), with the fix', async () => {
    const r = await doctorOn(readyHost([['sysctl -n kern.osreldate', { stdout: '1301000\n' }]]), {});
    expect(r.checks.find((c) => c.id === 'nullfs-file')).toEqual({
      id: 'nullfs-file',
      feature: 'single-file volumes (nullfs file mounts)',
      status: 'missing',
      detail: 'kern.osreldate 1301000: nullfs mounts files from 13.2 (1302000)',
      fix: 'mount the directory that holds the file, or upgrade to 13.2 or later',
    });
  });

  it('pf enabled without vessel\'s anchor points: missing, with the pf.conf lines as the fix', async () => {
    const host = readyHost([
      ['pfctl -s nat', { stdout: 'nat on em0 from 10.0.0.0/8 to any -> (em0)\n' }],
      ['sysctl -n net.inet.ip.forwarding', { stdout: '0\n' }],
    ]);
    const r = await doctorOn(host, {});
    const anchors = r.checks.find((c) => c.id === 'pf-anchors')!;
    expect(anchors.status).toBe('missing');
    expect(anchors.detail).toBe('not in the loaded ruleset: nat-anchor "vessel-nat/*", rdr-anchor "vessel-rdr/*"');
    expect(anchors.fix).toContain('vessel setup pf');
    expect(r.checks.find((c) => c.id === 'forwarding')).toMatchObject({ status: 'missing', fix: 'sysrc gateway_enable=YES; sysctl net.inet.ip.forwarding=1' });
  });
});
