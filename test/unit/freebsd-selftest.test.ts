import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `vessel selftest` on FreeBSD: the same contract cases the unit tests run, driven by the live-host
 * runner (recorded state per case, cleanup, sweep of a killed run) with VESSEL_OS=freebsd — the
 * test seam — against the model host whose processes live until killed. The transcript is
 * test/fixtures/freebsd/e2e-selftest/commands.txt: what a user's FreeBSD runs for `vessel selftest`.
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-freebsd-selftest-'));
process.env.VESSEL_ROOT = root;
process.env.VESSEL_OS = 'freebsd';
// the network cases' network: a /64 of a fixed ULA, so the transcript is the same at every run
process.env.VESSEL_NETWORK_ULA = 'fd00:77::/48';
afterAll(() => rmSync(root, { recursive: true, force: true }));

import { setHostRunner } from '../../src/util/host.js';
import { importRootfsTarball } from '../../src/image/index.js';
import { CONTRACT_CASES, runSelftest } from '../../src/selftest/index.js';
import { runDoctor } from '../../src/doctor/index.js';
import { listStates, resolveSpec, writeState } from '../../src/supervise/index.js';
import { parseSpecText } from '../../src/spec/index.js';
import { defaultSpec } from '../../src/spec/index.js';
import { expectGolden, normalizeRoot } from '../helpers/freebsd.js';
import { LiveFreeBSD } from '../helpers/freebsd-e2e.js';

// The publish case's host port is a free one net/ picks from the dynamic range: shown as <host port>.
const norm = (s: string) => normalizeRoot(s, root).replace(/layers\/[0-9a-f]{64}/g, 'layers/<diffid>').replace(/\.[0-9a-f]{8}\b/g, '.<run>').replace(/^( {2}\| run-id )[0-9a-f]{8}$/gm, '$1<run>')
  .replace(/ port \d+ -> /g, ' port <host port> -> ').replace(/(vessel-probe connect \S+) \d+$/gm, '$1 <host port>');

beforeAll(async () => {
  // A FreeBSD-looking root with /rescue's sleep, imported for real (os: freebsd under the seam).
  const rootfs = join(root, 'src-rootfs');
  for (const d of ['rescue', 'etc', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:*:0:0::/root:/bin/sh\nwww:*:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'wheel:*:0:root\nwww:*:80:\nvideo:*:44:www\n');
  writeFileSync(join(rootfs, 'rescue', 'sleep'), '');
  const tar = join(root, 'rootfs.tar');
  expect(spawnSync('tar', ['-C', rootfs, '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', tar, '.']).status).toBe(0);
  const rec = await importRootfsTarball(tar, 'freebsd:latest');
  expect(rec.os).toBe('freebsd');
  // the same tree stamped as a Linux image, as busybox:latest would be
  expect((await importRootfsTarball(tar, 'linuxbox:latest', { os: 'linux' })).os).toBe('linux');
});

/** What `vessel selftest` does first: doctor's screen, whose checks decide what is SKIP. */
const doctor = () => runDoctor({ nodeVersion: 'v20.18.1' });

describe('vessel selftest on a (model) FreeBSD host', () => {
  it('runs every contract case in its own jail, PASS or SKIP with FreeBSD\'s reason, and leaves nothing on the host', async () => {
    const fake = new LiveFreeBSD();
    const restore = setHostRunner(fake);
    try {
      const r = await runSelftest({ image: 'freebsd:latest', doctor: await doctor() });
      expect(r.results.map((c) => [c.container, c.status, c.reason])).toEqual(CONTRACT_CASES.map((c) => [
        `selftest-${c.id}`,
        c.id === 'memory' ? 'skip' : 'pass',
        c.id === 'memory' ? 'rctl(8) has no OOM kill: over memoryuse the kernel reclaims the jail\'s pages and kills nothing (the vmemory case covers FreeBSD\'s memory limit)' : undefined,
      ]));
      expect(fake.leftovers()).toEqual(new LiveFreeBSD().leftovers());
      // the network cases' lease and its auto network are gone with them
      expect(fake.net.listeners.size + fake.net.servers.size).toBe(0);
      expect((await listStates()).filter((s) => s.name.startsWith('selftest-'))).toEqual([]);
      expectGolden('e2e-selftest', 'commands.txt', norm(fake.transcript()));
    } finally {
      restore();
    }
  });

  it('passes on a kernel without VIMAGE too, the network cases SKIP with doctor\'s reason (what findLeftovers can find there is asked first)', async () => {
    const fake = new LiveFreeBSD();
    fake.vimage = false;
    const restore = setHostRunner(fake);
    try {
      const report = await doctor();
      fake.calls.splice(0);
      const r = await runSelftest({ image: 'freebsd:latest', doctor: report });
      expect(r.results.filter((c) => !c.ok)).toEqual([]);
      expect(r.results.filter((c) => c.status === 'skip').map((c) => [c.id, c.reason])).toEqual([
        ['memory', expect.stringMatching(/^rctl\(8\) has no OOM kill/)],
        ['network', 'VNET networks ([network] name): no VIMAGE: bridged containers get an lo1 alias instead of their own stack (build a kernel with `options VIMAGE` (GENERIC has it))'],
        ['publish', expect.stringMatching(/^VNET networks/)],
      ]);
      expect(fake.calls[0]?.argv.join(' ')).toBe('test -x /usr/local/libexec/vessel/probe/vessel-probe');
      expect(fake.calls[1]?.argv.join(' ')).toBe('sysctl -d security.jail.param.vnet');
    } finally {
      restore();
    }
  });

  it('a killed selftest\'s recorded container is swept by the next run', async () => {
    const fake = new LiveFreeBSD();
    const restore = setHostRunner(fake);
    try {
      // what a SIGKILLed run leaves: a state naming a dead supervisor
      writeState({ name: 'selftest-plan', spec: defaultSpec('selftest-plan', 'freebsd:latest', 'flags'), status: 'running', mode: 'foreground', supervisorPid: 999999, runId: 'dead', createdAt: '2026-01-01T00:00:00Z', restarts: 0, resources: [{ kind: 'jail', id: 'selftest-plan' }], autoRemove: true });
      const r = await runSelftest({ image: 'freebsd:latest', only: ['plan'], doctor: await doctor() });
      expect(r.swept).toEqual(['selftest-plan']);
      expect(r.results.every((c) => c.ok)).toBe(true);
      // the sweep asked the host about the recorded jail before the case ran
      expect(fake.calls.map((c) => c.argv.join(' '))).toContain('jls -j selftest-plan jid');
      expect((await listStates()).filter((s) => s.name.startsWith('selftest-'))).toEqual([]);
    } finally {
      restore();
    }
  });
});

describe('an os: linux image on a (model) FreeBSD host', () => {
  it('is refused before anything is created, naming the spec key; even with linux64 loaded', async () => {
    // The model host answers kldstat with exit 0: linux64 loaded, and still refused.
    const fake = new LiveFreeBSD();
    const restore = setHostRunner(fake);
    try {
      const spec = parseSpecText('[container]\nimage = linuxbox:latest\ncommand = sleep 300\n', { file: '/usr/local/etc/vessel/vassals/lx.ini' });
      const err = await resolveSpec(spec, { ephemeral: true, output: { kind: 'inherit' } }).then(() => undefined, (e: unknown) => e as { message: string; hint?: string });
      expect(err?.message).toBe('/usr/local/etc/vessel/vassals/lx.ini: [container] image: image linuxbox:latest is a Linux image (os: linux); this host runs FreeBSD jails');
      expect(err?.hint).toMatch(/^linux64 is loaded, but vessel runs only FreeBSD images in jails/);
      // the only host command is the probe
      expect(fake.transcript()).toBe('kldstat -q -m linux64\n');
      expect((await listStates()).map((s) => s.name)).not.toContain('lx');
    } finally {
      restore();
    }
  });
});
