import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Recorder, setHostRunner } from '../../src/util/host.js';
import { config } from '../../src/util/config.js';
import {
  bridgeName, devfsRulesetNumber, epairNames, instanceName, isJailOf, jailName, rdrAnchor, rdrAnchorName, rdrLabel, runDataset, runDir, splitInstance,
} from '../../src/runtime/freebsd/names.js';
import { checkJailParam, quote } from '../../src/runtime/freebsd/jailconf.js';
import { rctlRules } from '../../src/runtime/freebsd/rctl.js';
import { mergeRules, withoutRules } from '../../src/runtime/freebsd/mac.js';
import { STATES_ARGV, parseDefaultRoute, parseStates, pfConfLines, rdrTarget6, statesOf, subnet6Of, subnetOf } from '../../src/runtime/freebsd/pf.js';
import { jailExecArgv } from '../../src/runtime/freebsd/jail-exec.js';
import { resolveIdentity } from '../../src/runtime/freebsd/identity.js';
import { killSignalArg } from '../../src/runtime/freebsd/driver.js';
import { renderFstab } from '../../src/runtime/freebsd/mount.js';
import { expand, runSteps } from '../../src/runtime/freebsd/steps.js';
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
    // with its parents' names and a reload's @RUNID, below MAXHOSTNAMELEN (kern_jail.c ENAMETOOLONG)
    const deep = Array.from({ length: 4 }, () => 'p'.repeat(60)).join('.');
    expect(() => jailName({ name: 'w'.repeat(60), parent: deep, beside: true, runId: '0a1b2c3d' })).toThrow(/has 313 characters; jail\(2\) takes 255/);
  });

  it('a run beside the running one (a zero-downtime reload): NAME@RUNID for its jail, epair and anchor, NAME.RUNID for its clone, its own directory', () => {
    const layerDir = join(root, 'containers', 'web', 'next-0a1b2c3d');
    const cfg = freebsdConfig(root, { name: 'web', runId: '0a1b2c3d', beside: true, root: { layers: [], ephemeral: false, layerDir, zfsDataset: 'zroot/vessel/containers/web' } });
    expect(jailName(cfg)).toBe('web@0a1b2c3d');
    expect(jailName({ ...cfg, parent: 'app' })).toBe('app.web@0a1b2c3d');
    expect(instanceName(cfg)).toBe('web@0a1b2c3d');
    expect(runDataset(cfg)).toBe('zroot/vessel/containers/web.0a1b2c3d');
    expect(runDir(cfg)).toBe(layerDir);
    // the running one keeps its names
    const { beside: _b, ...running } = cfg;
    expect([jailName(running), instanceName(running), runDataset(running), runDir(running)]).toEqual(['web', 'web', 'zroot/vessel/containers/web', cfg.dir]);
    // a run's jail is the container's, another container's never is (neither @ nor . is in a name)
    expect(['web', 'web@0a1b2c3d', 'app.web', 'app.web@0a1b2c3d'].map((j) => isJailOf(j, 'web'))).toEqual([true, true, true, true]);
    expect(['web2', 'webx@0a1b2c3d', 'web.x', 'x'].map((j) => isJailOf(j, 'web'))).toEqual([false, false, false, false]);
    expect(splitInstance('web@0a1b2c3d')).toEqual({ name: 'web', tag: '0a1b2c3d' });
    expect(splitInstance('web')).toEqual({ name: 'web' });
    // a jail name that is a number is a jid (kern_jail.c): the run id is always 8 hex digits, never alone
    expect(() => jailName({ ...cfg, runId: 'plan' })).toThrow(/8 hex digits/);
  });

  it('pf names stay within pf\'s limits (an anchor component and a label below 64 characters), distinct per run', () => {
    const long = 'x'.repeat(63);
    for (const owner of ['web', long, `${long}@0a1b2c3d`]) {
      expect(rdrAnchorName(owner).length).toBeLessThanOrEqual(63);
      expect(rdrLabel(owner).length).toBeLessThanOrEqual(63);
    }
    expect(rdrAnchorName(`${long}@0a1b2c3d`)).not.toBe(rdrAnchorName(`${long}@0a1b2c3e`));
    expect(rdrLabel(`${long}@0a1b2c3d`)).not.toBe(rdrLabel(`${long}@0a1b2c3e`));
    // short names as they always were
    expect([rdrAnchor('web'), rdrLabel('web'), rdrAnchor('web@0a1b2c3d')]).toEqual(['vessel-rdr/web', 'vessel-rdr/web', 'vessel-rdr/web@0a1b2c3d']);
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

describe('vessel-init jail-exec argv, `vessel exec` (replaces jexec(8): findings 5, 6, 7, 19)', () => {
  const www = resolveIdentity('www', {
    passwd: 'root:*:0:0::/root:/bin/sh\nwww:*:80:80::/home/www:/sbin/nologin\n',
    group: 'wheel:*:0:root\nwww:*:80:\nlog:*:90:www,root\n',
    where: 'test',
  });
  const helper = ['/usr/local/libexec/vessel/vessel-init', 'jail-exec'];

  it('numeric ids from the image\'s passwd and group, no -U name for getpwnam(3) inside the jail', () => {
    expect(www).toEqual({ uid: 80, gid: 80, groups: [80, 90], home: '/home/www' });
    const argv = jailExecArgv({ jail: 'web', argv: ['sh', '-c', 'echo $A'], env: ['A=1', 'PATH=/bin'], workdir: '/srv', identity: www, user: 'www' });
    expect(argv).toEqual([...helper, '-j', 'web', '-d', '/srv', '-u', '80', '-g', '80', '-G', '80,90', '-e', 'A=1', '-e', 'PATH=/bin', '-e', 'HOME=/home/www', '--', 'sh', '-c', 'echo $A']);
    // The old form: jexec -d (missing before it was added), -U NAME (pwd.db), env -i (login.conf wins).
    expect(argv).not.toContain('/usr/sbin/jexec');
    expect(argv).not.toContain('-U');
    expect(argv[0]).not.toBe('env');
  });

  it('PATH is always set: without it execvp(3) searches /usr/bin:/bin only (finding 19)', () => {
    const argv = jailExecArgv({ jail: 'web', argv: ['id'], env: ['A=1'], identity: { uid: 0, gid: 0, groups: [0] }, user: 'root' });
    expect(argv).toEqual([...helper, '-j', 'web', '-d', '/', '-u', '0', '-g', '0', '-G', '0', '-e', 'A=1',
      '-e', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '-e', 'HOME=/', '--', 'id']);
  });

  it('uid:gid needs no passwd entry; unknown names are one clear error', () => {
    expect(resolveIdentity('1000:1000', { where: 'test' })).toEqual({ uid: 1000, gid: 1000, groups: [1000] });
    expect(resolveIdentity('www:log', { passwd: 'www:*:80:80::/:/bin/sh\n', group: 'log:*:90:\n', where: 'x' })).toMatchObject({ uid: 80, gid: 90, groups: [90] });
    expect(() => resolveIdentity('nobody', { passwd: 'root:*:0:0::/:/bin/sh\n', where: 'image layers' })).toThrow('user "nobody": no user "nobody" in the image\'s /etc/passwd (image layers)');
    expect(() => jailExecArgv({ jail: 'web', argv: [], env: [], identity: www, user: 'www' })).toThrow(/no command/);
  });
});

describe('the e2e and unit goldens start the command the same way (finding 19)', () => {
  it('both give the monitor\'s plan a PATH, whether or not the image had one', () => {
    for (const c of ['plain', 'e2e-plain', 'e2e-network', 'e2e-zfs', 'security']) {
      const t = readFileSync(join(FIXTURES, c, 'commands.txt'), 'utf8');
      const plan = t.slice(t.indexOf('/vessel-init monitor '));
      expect(plan, c).toMatch(/\n {2}\| jail \S+\n {2}\| uid \d+\n {2}\| gid \d+\n {2}\| groups [\d,]+\n {2}\| cwd \S+\n {2}\| wait (all|main)\n( {2}\| env \S+\n)* {2}\| env PATH=\S+\n/);
    }
  });
});

describe('pf states (finding 16)', () => {
  it('finds the states that show an address on either side, by id', () => {
    const out = [
      'all tcp 10.77.3.5:80 (192.0.2.10:8080) <- 198.51.100.7:50000       ESTABLISHED:ESTABLISHED',
      '   [1 + 2]  wscale 7  [3 + 4]  wscale 7',
      '   age 00:01:02, expires in 23:59:58, 10:8 pkts, 1000:800 bytes, rule 0',
      '   id: 6474d3f900000001 creatorid: 2c95c8fa',
      'all udp 10.77.3.50:53 <- 10.77.3.6:4000       MULTIPLE:SINGLE',
      '   id: 6474d3f900000002 creatorid: 2c95c8fa',
      '',
    ].join('\n');
    expect(parseStates(out)).toEqual([
      { id: '6474d3f900000001/2c95c8fa', addresses: ['10.77.3.5', '192.0.2.10', '198.51.100.7'] },
      { id: '6474d3f900000002/2c95c8fa', addresses: ['10.77.3.50', '10.77.3.6'] },
    ]);
    expect(statesOf(out, '10.77.3.5')).toEqual(['6474d3f900000001/2c95c8fa']);
    expect(statesOf(out, '10.77.3.0/24')).toEqual(['6474d3f900000001/2c95c8fa', '6474d3f900000002/2c95c8fa']);
  });

  it('lists states with -vv: pf_print_state.c prints the id line only under PF_OPT_VERBOSE2 (a second -v, pfctl.c)', () => {
    expect(STATES_ARGV).toEqual(['pfctl', '-s', 'states', '-vv']);
    // What one -v prints: the state and its age line, no id — nothing could be killed from it.
    const oneV = 'all tcp 10.77.3.5:80 (192.0.2.10:8080) <- 198.51.100.7:50000       ESTABLISHED:ESTABLISHED\n   age 00:01:02, expires in 23:59:58, 10:8 pkts, 1000:800 bytes, rule 0\n';
    expect(statesOf(oneV, '10.77.3.5')).toEqual([]);
  });

  it('reads IPv6 states too (pf_print_host: ADDR[PORT]) and matches IPv6 addresses and subnets', () => {
    const out = [
      'all tcp fd00:77:3::5[80] (2001:db8:1::10[8080]) <- 2001:db8:9::7[50000]       ESTABLISHED:ESTABLISHED',
      '   [1 + 2]  wscale 7  [3 + 4]  wscale 7',
      '   id: 6474d3f900000003 creatorid: 2c95c8fa',
      'all udp 10.77.3.5:53 <- 10.77.3.6:4000       MULTIPLE:SINGLE',
      '   id: 6474d3f900000004 creatorid: 2c95c8fa',
    ].join('\n');
    expect(parseStates(out)[0]).toEqual({ id: '6474d3f900000003/2c95c8fa', addresses: ['fd00:77:3::5', '2001:db8:1::10', '2001:db8:9::7'] });
    expect(statesOf(out, 'fd00:77:3::5')).toEqual(['6474d3f900000003/2c95c8fa']);
    expect(statesOf(out, 'fd00:77:3::/64')).toEqual(['6474d3f900000003/2c95c8fa']);
    expect(statesOf(out, '10.77.3.0/24')).toEqual(['6474d3f900000004/2c95c8fa']);
    expect(subnet6Of('fd00:77:3::5/64')).toBe('fd00:77:3::/64');
    expect(() => subnet6Of('fd00:77:3::5/')).toThrow('address "fd00:77:3::5/": expected IPv6/prefix');
    // a damaged recorded target matches nothing (no throw: the anchor is removed anyway), never everything
    expect(statesOf(out, 'fd00:77:3::/')).toEqual([]);
    expect(statesOf(out, 'fd00:77:3::/abc')).toEqual([]);
    expect(rdrTarget6('rdr pass on em0 inet6 proto tcp from any to (em0) port 8080 -> fd00:77:3::5 port 80 label "vessel-rdr/web"')).toBe('fd00:77:3::5');
  });
});

describe('signals', () => {
  it('normalizes to the names kill -s and pkill take', () => {
    expect(killSignalArg('SIGTERM')).toBe('TERM');
    expect(killSignalArg('quit')).toBe('QUIT');
    expect(killSignalArg('9')).toBe('KILL');
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

