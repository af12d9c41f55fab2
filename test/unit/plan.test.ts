import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, setHostRunner } from '../../src/util/host.js';
import { formatPlan, planSpec } from '../../src/cli/plan.js';
import { importRootfsTarball } from '../../src/image/index.js';
import { parseSpecFile } from '../../src/spec/index.js';
import { planSpecConfig, resolveSpec } from '../../src/supervise/index.js';
import { expectGolden, FIXTURES, normalizeRoot } from '../helpers/freebsd.js';

// Issue 12 item 1: `vessel plan` and a start build the container's config with one pure function
// (supervise/config.ts) from the same facts, so they cannot disagree — and a plan never shows a
// command that will not run.
const root = mkdtempSync(join(tmpdir(), 'vessel-plan-'));
process.env.VESSEL_ROOT = root;
const www = join(root, 'www');
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An image whose config has everything docker's rules combine: ENTRYPOINT, CMD, ENV, WORKDIR, USER. */
const APP_CONFIG = {
  Entrypoint: ['/bin/app'],
  Cmd: ['--serve'],
  Env: ['PATH=/usr/local/bin:/bin', 'GREETING=image', 'MODE=prod'],
  WorkingDir: '/srv/app',
  User: 'app',
};

async function importImage(ref: string, os: string, extra: Record<string, unknown> = {}): Promise<void> {
  const tree = join(root, `tree-${os}`);
  mkdirSync(join(tree, 'bin'), { recursive: true });
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'bin', 'app'), '#!/bin/sh\n');
  writeFileSync(join(tree, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/srv/app:/bin/sh\n');
  writeFileSync(join(tree, 'etc', 'group'), 'root:x:0:\napp:x:1000:\n');
  const tar = join(root, `${os}.tar`);
  execFileSync('tar', ['-cf', tar, '-C', tree, '.']);
  await importRootfsTarball(tar, ref, { os, imageConfig: { ...APP_CONFIG, ...extra } });
}

function specFile(name: string, text: string): string {
  const p = join(root, `${name}.ini`);
  writeFileSync(p, text);
  return p;
}

beforeAll(async () => {
  mkdirSync(www, { recursive: true });
  await importImage('app-linux:1', 'linux');
  await importImage('app-freebsd:1', 'freebsd');
  // docker's record of `HEALTHCHECK --timeout=3s CMD wget -qO- http://127.0.0.1/ || exit 1`
  await importImage('app-health:1', 'freebsd', { Healthcheck: { Test: ['CMD-SHELL', 'wget -qO- http://127.0.0.1/ || exit 1'], Timeout: 3_000_000_000 } });
});

describe('plan and start agree', () => {
  it('on the command, env (merged by key), workdir, user, root and mounts of an image with ENTRYPOINT, ENV, WORKDIR and USER', async () => {
    const variants = [
      '',
      'command = --once\n',
      'entrypoint = /bin/other\n',
      'env[] = GREETING=spec\nenv[] = EXTRA=1\nworkdir = /tmp\nuser = 0:0\n',
    ];
    const saved = process.env.VESSEL_OS;
    for (const os of ['linux', 'freebsd'] as const) {
      // VESSEL_OS: the seam that puts the FreeBSD rules (no network file mounts, …) on this host.
      process.env.VESSEL_OS = os;
      try {
        for (const [i, extra] of variants.entries()) {
          const spec = await parseSpecFile(specFile(`agree${i}`, `[container]\nimage = app-${os}:1\n${extra}volume[] = ${www}:/www:ro\n\n[network]\nmode = none\n`));
          const planned = (await planSpecConfig(spec)).cfg;
          const started = (await resolveSpec(spec, { ephemeral: false, output: { kind: 'inherit' } })).cfg;
          const pick = (c: typeof planned) => ({ argv: c.argv, env: c.env, workdir: c.workdir, user: c.user, root: c.root, mounts: c.mounts, hostname: c.hostname, network: c.network });
          expect(pick(planned), `${os} ${extra}`).toEqual(pick(started));
        }
      } finally {
        if (saved === undefined) delete process.env.VESSEL_OS;
        else process.env.VESSEL_OS = saved;
      }
    }
  });

  it('the combined values are docker\'s', async () => {
    const spec = await parseSpecFile(specFile('docker', `[container]\nimage = app-linux:1\ncommand = --once\nenv[] = GREETING=spec\n\n[network]\nmode = none\n`));
    const c = (await planSpecConfig(spec)).cfg;
    expect(c.argv).toEqual(['/bin/app', '--once']); // the spec's command replaces CMD, keeps ENTRYPOINT
    expect(c.env).toEqual(['PATH=/usr/local/bin:/bin', 'GREETING=spec', 'MODE=prod']);
    expect(c.workdir).toBe('/srv/app');
    expect(c.user).toBe('app');
  });

  it('a plan of a spec whose image is not in the store is a clear error, not an invented command', async () => {
    const p = specFile('missing', '[container]\nimage = nothere:1\n');
    await expect(planSpec(p, 'linux')).rejects.toThrow(/missing\.ini: \[container\] image: .*nothere/);
  });

  it('a plan for a volume whose source is missing fails as the start would', async () => {
    const p = specFile('novol', '[container]\nimage = app-linux:1\nvolume[] = /does/not/exist:/data\n');
    await expect(planSpec(p, 'linux')).rejects.toThrow(/source \/does\/not\/exist does not exist/);
  });
});

describe('vessel plan', () => {
  it('prints the FreeBSD plan of a spec file without running anything', async () => {
    const text = readFileSync(join(FIXTURES, 'spec', 'web.ini'), 'utf8')
      .replace('image = busybox:latest', 'image = app-freebsd:1')
      .replace('/srv/www:/www:ro', `${www}:/www:ro`);
    const rec = new Recorder();
    const restore = setHostRunner(rec);
    try {
      const out = await planSpec(specFile('web', text), 'freebsd');
      expect(rec.calls).toEqual([]);
      const shown = normalizeRoot(formatPlan({ ...out, spec: 'web.ini' }), root).replace(/[0-9a-f]{64}/g, '<diffid>')
        .replace(/^nameserver .*$/gm, 'nameserver <the host\'s>'); // read from this host's resolv.conf
      expectGolden('spec', 'web.plan.txt', shown);
    } finally {
      restore();
    }
  });

  it('on a ZFS store the FreeBSD plan clones the image\'s snapshot, as the start does, instead of nullfs and unionfs', async () => {
    process.env.VESSEL_ZFS_DATASET = 'zroot/vessel';
    try {
      const out = await planSpec(specFile('zfsweb', `[container]\nimage = app-freebsd:1\n\n[network]\nmode = none\n`), 'freebsd');
      const text = formatPlan(out);
      expect(text).toMatch(/zfs clone .*zroot\/vessel\/layers\/[0-9a-f]{32}@layer zroot\/vessel\/containers\/zfsweb/);
      expect(text).not.toMatch(/nullfs|unionfs/);
    } finally {
      delete process.env.VESSEL_ZFS_DATASET;
    }
  });

  it('an image for Linux is refused in a FreeBSD plan, with the linux64 hint, as a start refuses it', async () => {
    const p = specFile('linuxonbsd', `[container]\nimage = app-linux:1\n`);
    await expect(planSpec(p, 'freebsd')).rejects.toThrow(/linux/);
  });

  it('shows the resolved health check: the image\'s HEALTHCHECK with the spec\'s [health] on top', async () => {
    const p = specFile('healthy', `[container]\nimage = app-health:1\n\n[network]\nmode = none\n\n[health]\ninterval = 10s\nretries = 2\n`);
    const text = formatPlan(await planSpec(p, 'freebsd'));
    const block = text.slice(text.indexOf('==> health check'), text.indexOf('==> commands, in order'));
    expectGolden('spec', 'health.plan.txt', block);
    // a [health] with timings and no check anywhere is refused as the start refuses it
    const bad = specFile('nohealth', `[container]\nimage = app-freebsd:1\n\n[health]\ninterval = 10s\n`);
    await expect(planSpec(bad, 'freebsd')).rejects.toThrow(/nohealth\.ini: \[health\]: timings are set but there is no check to run: image app-freebsd:1 has no HEALTHCHECK/);
  });

  it('--os linux prints the Linux driver\'s plan with the image\'s command', async () => {
    const out = await planSpec(specFile('lin', `[container]\nimage = app-linux:1\n\n[network]\nmode = none\n`), 'linux');
    expect(out.available).toBe(true);
    expect(out.plan?.os).toBe('linux');
    expect(formatPlan(out)).toContain('/bin/app');
    expect(formatPlan(out)).toContain('--serve');
  });

  it('--os linux shows every cgroup limit write, the monitor\'s network steps (as ip batches) and the nft table, as the start runs them', async () => {
    const p = specFile('linnet', `[container]\nimage = app-linux:1\n\n[network]\nname = plannet\npublish[] = 18080:80\n\n[limits]\nmemory = 64M\nmaxproc = 50\ncpu = 50%\n`);
    const text = formatPlan(await planSpec(p, 'linux'));
    const { cgroupLayout, cgroupLimitWrites } = await import('../../src/runtime/linux/cgroup.js');
    for (const w of cgroupLimitWrites(cgroupLayout().version, { memoryBytes: 64 << 20, maxproc: 50, cpuPercent: 50 })) {
      expect(text).toMatch(new RegExp(`^write \\S+/linnet\\.plan/${w.file.replace(/\./g, '\\.')} ${w.value.replace(' ', "' ?")}`, 'm'));
    }
    expect(text).toContain('==> netlink, by the monitor: host end (as ip -batch) <==');
    expect(text).toMatch(/^veth vsl\S+ eth0 vsl\S+$/m); // the monitor's own record of it, in the plan file
    expect(text).toMatch(/link add vsl\S+ type veth peer name eth0 netns <pid>/);
    expect(text).toContain('==> nft -f - (the whole vessel table, one transaction) <==');
    expect(text).toMatch(/meta nfproto ipv4 tcp dport 18080 dnat ip to <address>:80 comment "vessel:linnet"/);
    expect(text).toMatch(/meta nfproto ipv6 tcp dport 18080 dnat ip6 to \[<address6>\]:80 comment "vessel:linnet"/);
    expect(text).toMatch(/addr add <address6>\/64 dev eth0 nodad/);
    // where br_netfilter hands bridged IPv6 to netfilter, the monitor relays ::1 (net/linux/relay.ts)
    const { bridgeNfCallsIp6tables } = await import('../../src/net/linux/sysctl.js');
    if (bridgeNfCallsIp6tables()) expect(text).toMatch(/^relay tcp ::1 18080 <address6> 80 1$/m);
    else expect(text).not.toMatch(/^relay /m);
    expect(text).toMatch(/vessel-init'? monitor \S+\/containers\/linnet\/plan$/m);
  });
});

