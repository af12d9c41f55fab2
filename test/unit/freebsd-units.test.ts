import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Recorder, setHostRunner } from '../../src/util/host.js';
import { config } from '../../src/util/config.js';
import { bridgeName, devfsRulesetNumber, epairNames, jailName } from '../../src/runtime/freebsd/names.js';
import { checkJailParam, quote } from '../../src/runtime/freebsd/jailconf.js';
import { rctlRules } from '../../src/runtime/freebsd/rctl.js';
import { mergeRules, withoutRules } from '../../src/runtime/freebsd/mac.js';
import { parseDefaultRoute, pfConfLines, subnetOf } from '../../src/runtime/freebsd/pf.js';
import { jexecArgv } from '../../src/runtime/freebsd/jexec.js';
import { signalName } from '../../src/runtime/freebsd/driver.js';
import { renderFstab } from '../../src/runtime/freebsd/mount.js';
import { expand, runSteps } from '../../src/runtime/freebsd/steps.js';
import { formatPlan, planSpec } from '../../src/cli/plan.js';
import { expectGolden, FIXTURES, freebsdConfig, normalizeRoot } from '../helpers/freebsd.js';

const root = mkdtempSync(join(tmpdir(), 'vessel-freebsd-units-'));
process.env.VESSEL_ROOT = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('names', () => {
  it('interface names fit ifconfig(8)\'s 15 characters and are stable per container', () => {
    const e = epairNames('a-very-long-container-name-that-goes-on-and-on');
    expect(e.host).toMatch(/^vsl[0-9a-f]{8}a$/);
    expect(e.jail).toBe(e.host.replace(/a$/, 'b'));
    expect(e.host.length).toBeLessThanOrEqual(15);
    expect(epairNames('web')).toEqual(epairNames('web'));
    expect(epairNames('web')).not.toEqual(epairNames('web2'));
    expect(bridgeName('front').length).toBeLessThanOrEqual(15);
  });

  it('devfs ruleset numbers stay clear of the system ones and within 16 bits', () => {
    for (const n of ['a', 'web', 'db', 'x'.repeat(63)]) {
      const r = devfsRulesetNumber(n);
      expect(r).toBeGreaterThanOrEqual(1000);
      expect(r).toBeLessThan(65536);
    }
  });

  it('jail names: hierarchy with a dot, no dot in a container name', () => {
    expect(jailName({ name: 'worker', parent: 'web' })).toBe('web.worker');
    expect(jailName({ name: 'worker', parent: 'a.b' })).toBe('a.b.worker');
    expect(() => jailName({ name: 'web.1' })).toThrow(/cannot contain "\."/);
    expect(() => jailName({ name: 'w', parent: 'a..b' })).toThrow(/not a jail name/);
  });
});

describe('jail.conf values', () => {
  it('quotes and escapes what jail.conf(5) expands inside double quotes', () => {
    expect(quote('/srv/a b')).toBe('"/srv/a b"');
    expect(quote('a"b$c\\d')).toBe('"a\\"b\\$c\\\\d"');
  });

  it('refuses parameters vessel manages, unknown ones, and values that would break out', () => {
    expect(() => checkJailParam('path', '/')).toThrow(/set by vessel/);
    expect(() => checkJailParam('vnet.interface', 'em0')).toThrow(/set by vessel/);
    expect(() => checkJailParam('exec.poststart', 'x')).toThrow(/set by vessel/);
    expect(() => checkJailParam('kern.securelevel', '1')).toThrow(/not an allowed/);
    expect(() => checkJailParam('osrelease', '14.1"; exec.start = "sh')).toThrow(/without quotes/);
    expect(() => checkJailParam('allow.mount.nullfs', 'true')).not.toThrow();
  });
});

describe('rctl rules (rctl(8) subject:subject-id:resource:action=amount)', () => {
  it('one deny rule per limit, plain amounts', () => {
    expect(rctlRules('web', { memoryBytes: 1024, maxproc: 5, cpuPercent: 150, openfiles: 64, vmemoryBytes: 2048 })).toEqual([
      'jail:web:memoryuse:deny=1024', 'jail:web:vmemoryuse:deny=2048', 'jail:web:maxproc:deny=5', 'jail:web:pcpu:deny=150', 'jail:web:openfiles:deny=64',
    ]);
    expect(rctlRules('web', {})).toEqual([]);
  });
});

describe('mac_portacl rules', () => {
  it('merges into and takes out of the host-wide list without touching other rules', () => {
    expect(mergeRules('uid:25:tcp:25', ['uid:80:tcp:80'])).toBe('uid:25:tcp:25,uid:80:tcp:80');
    expect(mergeRules('uid:80:tcp:80', ['uid:80:tcp:80'])).toBe('uid:80:tcp:80');
    expect(mergeRules('', ['uid:80:tcp:80'])).toBe('uid:80:tcp:80');
    expect(withoutRules('uid:25:tcp:25,uid:80:tcp:80', ['uid:80:tcp:80'])).toBe('uid:25:tcp:25');
  });
});

describe('pf', () => {
  it('subnets and the default route', () => {
    expect(subnetOf('10.77.3.5/24')).toBe('10.77.3.0/24');
    expect(subnetOf('10.77.3.130/25')).toBe('10.77.3.128/25');
    expect(parseDefaultRoute('   route to: default\n  interface: vtnet0\n', 0)).toBe('vtnet0');
    expect(() => parseDefaultRoute('route: route has not been found\n', 1)).toThrow(/no IPv4 default route/);
  });

  it('`vessel setup pf` prints what templates/pf/vessel-anchors.conf holds, the anchors vessel loads', () => {
    const text = readFileSync(join(config().packageDir, 'templates', 'pf', 'vessel-anchors.conf'), 'utf8');
    expect(text.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(pfConfLines());
  });
});

describe('jexec argv (jexec(8))', () => {
  it('gives the command exactly the container environment, its workdir and user', () => {
    expect(jexecArgv({ jail: 'web', argv: ['sh', '-c', 'echo $A'], env: ['A=1'], workdir: '/srv', user: 'www' })).toEqual(
      ['env', '-i', 'A=1', '/usr/sbin/jexec', '-d', '/srv', '-U', 'www', 'web', 'sh', '-c', 'echo $A']);
    expect(jexecArgv({ jail: 'web', argv: ['id'], env: [], user: 'root' })).toEqual(['env', '-i', '/usr/sbin/jexec', 'web', 'id']);
    expect(() => jexecArgv({ jail: 'web', argv: ['id'], env: [], user: '1000:1000' })).toThrow(/needs a user name/);
    expect(() => jexecArgv({ jail: 'web', argv: [], env: [] })).toThrow(/no command/);
  });
});

describe('signals', () => {
  it('normalizes to the names kill -s and pkill take', () => {
    expect(signalName('SIGTERM')).toBe('TERM');
    expect(signalName('quit')).toBe('QUIT');
    expect(signalName('9')).toBe('KILL');
  });
});

describe('fstab(5)', () => {
  it('escapes blanks in paths', () => {
    const cfg = freebsdConfig('/r', { name: 'web', mounts: [{ kind: 'bind', source: '/a b', target: '/c\td', readonly: true }] });
    expect(renderFstab(cfg).split('\n')[1]).toBe('/a\\040b\t/r/containers/web/rootfs/c\\011d\tnullfs\tro\t0\t0');
  });
});

describe('steps', () => {
  it('captured values feed later steps; skipped steps do not run', async () => {
    const rec = new Recorder().respond('ifconfig epair create', { stdout: 'epair7a\n' });
    const restore = setHostRunner(rec);
    try {
      await runSteps([
        { argv: ['ifconfig', 'epair', 'create'], capture: { name: 'epair', parse: (r) => r.stdout.trim().replace(/a$/, '') } },
        { argv: ['ifconfig', '${epair}b', 'name', 'x'] },
        { argv: ['true'], probe: true, capture: { name: 'there', parse: () => 'yes' } },
        { argv: ['never'], unless: 'there' },
      ]);
    } finally {
      restore();
    }
    expect(rec.transcript()).toBe('ifconfig epair create\nifconfig epair7b name x\ntrue\n');
    expect(expand('${unknown}', {})).toBe('${unknown}');
  });
});

describe('vessel plan', () => {
  it('prints the FreeBSD plan of a spec file without running anything', async () => {
    const rec = new Recorder();
    const restore = setHostRunner(rec);
    try {
      const out = await planSpec(join(FIXTURES, 'spec', 'web.ini'), 'freebsd');
      expect(rec.calls).toEqual([]);
      expectGolden('spec', 'web.plan.txt', normalizeRoot(formatPlan({ ...out, spec: 'web.ini' }), root));
    } finally {
      restore();
    }
  });

  it('--os linux prints the Linux driver\'s plan, or says it is not available', async () => {
    const out = await planSpec(join(FIXTURES, 'spec', 'web.ini'), 'linux');
    if (out.available) expect(out.plan?.os).toBe('linux');
    else expect(formatPlan(out)).toMatch(/not available/);
  });
});
