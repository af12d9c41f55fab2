import { describe, expect, it } from 'vitest';
import { JAIL_PARAMS, parseSpecText, SPEC_KEYS, type ContainerSpec } from '../../src/spec/index.js';

/**
 * Every key of every section, once accepted and once refused. The tables must cover SPEC_KEYS:
 * a key added to the parser without a test here fails the coverage check below.
 */
const M = 1024 * 1024;

function parse(section: string, lines: string): ContainerSpec {
  const head = section === 'container' ? '[container]\n' : '[container]\nimage = busybox\n\n[' + section + ']\n';
  const body = section === 'container' && !/^image\b/m.test(lines) ? `image = busybox\n${lines}` : lines;
  return parseSpecText(head + body + '\n', { file: 'web.ini' });
}

function lineOf(section: string, lines: string): number {
  const first = lines.split('\n').length;
  return section === 'container' ? (/^image\b/m.test(lines) ? 1 + first : 2 + first) : 4 + first;
}

type Valid = [section: string, lines: string, check: (s: ContainerSpec) => unknown, expected: unknown];
type Invalid = [section: string, lines: string, reason: string | RegExp];

const valid: Valid[] = [
  ['container', 'image = docker.io/library/busybox:1.36', (s) => s.image, 'docker.io/library/busybox:1.36'],
  ['container', 'image = localhost:5000/app', (s) => s.image, 'localhost:5000/app:latest'],
  ['container', 'image = "busybox"  ; quoted', (s) => s.image, 'busybox:latest'],
  ['container', `command = sh -c 'echo a ; b' # comment`, (s) => s.command, ['sh', '-c', 'echo a ; b']],
  ['container', 'command = ["sh", "-c", "echo \\"x\\""]', (s) => s.command, ['sh', '-c', 'echo "x"']],
  ['container', 'command = echo "a b" c\\ d \'$HOME\'', (s) => s.command, ['echo', 'a b', 'c d', '$HOME']],
  ['container', 'command = []', (s) => s.command, []],
  ['container', 'entrypoint = /bin/tini --', (s) => s.entrypoint, ['/bin/tini', '--']],
  ['container', 'hostname = web-1.example', (s) => s.hostname, 'web-1.example'],
  ['container', 'env[] = A=1\nenv[] = B=x=y ; c\nenv[] = "C= spaced "', (s) => s.env, [['A', '1'], ['B', 'x=y'], ['C', ' spaced ']]],
  ['container', 'env[] = COLOR=#fff;x', (s) => s.env, [['COLOR', '#fff;x']]],
  ['container', 'workdir = /srv/app/', (s) => s.workdir, '/srv/app'],
  ['container', 'user = www', (s) => s.user, 'www'],
  ['container', 'user = 1000:1000', (s) => s.user, '1000:1000'],
  ['container', 'volume[] = /a:/b\nvolume[] = /c/:/d/:ro\nvolume[] = tmpfs:/run\nvolume[] = tmpfs:/t:size=1g,mode=0700',
    (s) => s.volumes, [
      { kind: 'bind', source: '/a', target: '/b', readonly: false },
      { kind: 'bind', source: '/c', target: '/d', readonly: true },
      { kind: 'tmpfs', target: '/run', mode: 0o1777 },
      { kind: 'tmpfs', target: '/t', sizeBytes: 1024 * M, mode: 0o700 },
    ]],
  ['container', 'restart = on-failure:5', (s) => s.restart, { mode: 'on-failure', maxRetries: 5 }],
  ['container', 'restart = on-failure', (s) => s.restart, { mode: 'on-failure' }],
  ['container', 'restart = no', (s) => s.restart, { mode: 'no' }],
  ['container', '', (s) => s.restart, { mode: 'always' }],
  ['container', 'stop_timeout = 30s', (s) => s.stopTimeout, 30],
  ['container', 'stop_signal = INT', (s) => s.stopSignal, 'SIGINT'],
  ['container', 'stop_signal = 15', (s) => s.stopSignal, 'SIGTERM'],
  ['container', 'stop_signal = sigquit', (s) => s.stopSignal, 'SIGQUIT'],
  ['container', 'wait = main', (s) => s.wait, 'main'],
  ['container', 'min_uptime = 0', (s) => s.minUptime, 0],
  ['container', 'tty = yes', (s) => s.tty, true],
  ['container', 'interactive = true', (s) => s.interactive, true],
  ['container', 'parent = base', (s) => s.parent, 'base'],
  ['container', 'depends_on[] = db\ndepends_on[] = cache:started\ndepends_on[] = queue:healthy', (s) => s.dependsOn,
    [{ name: 'db' }, { name: 'cache', condition: 'started' }, { name: 'queue', condition: 'healthy' }]],
  ['container', 'volume[] = data:/var/lib/db\nvolume[] = my.vol_1-x:/srv:ro', (s) => s.volumes,
    [{ kind: 'named', name: 'data', target: '/var/lib/db', readonly: false }, { kind: 'named', name: 'my.vol_1-x', target: '/srv', readonly: true }]],
  ['network', 'name = front\nalias[] = www\nalias[] = api', (s) => s.network, { mode: 'bridge', name: 'front', publish: [], aliases: ['www', 'api'] }],
  ['network', 'name = host', (s) => s.network, { mode: 'host', publish: [], aliases: [] }],
  ['network', 'mode = none', (s) => s.network, { mode: 'none', publish: [], aliases: [] }],
  ['network', 'mode = bridge', (s) => s.network, { mode: 'bridge', name: 'vessel', publish: [], aliases: [] }],
  ['network', 'publish[] = 127.0.0.1:8080:80/udp\npublish[] = 0.0.0.0:443:8443', (s) => s.network.publish, [
    { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' },
    { hostIp: '0.0.0.0', hostPort: 443, containerPort: 8443, protocol: 'tcp' },
  ]],
  // docker's forms (go-connections nat.ParsePortSpec): ranges, a free host port, IPv6 in brackets
  ['network', 'publish[] = 8000-8010:9000-9010/udp\npublish[] = 80\npublish[] = [::1]:8080:80\npublish[] = 7000-7005:22\npublish[] = [0:0::0]::53/udp',
    (s) => s.network.publish, [
      { hostPort: 8000, hostPortEnd: 8010, containerPort: 9000, containerPortEnd: 9010, protocol: 'udp' },
      { hostPort: 0, containerPort: 80, protocol: 'tcp' },
      { hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 7000, hostPortEnd: 7005, containerPort: 22, protocol: 'tcp' },
      { hostIp: '::', hostPort: 0, containerPort: 53, protocol: 'udp' },
    ]],
  ['limits', 'memory = 512k', (s) => s.limits.memoryBytes, 512 * 1024],
  ['limits', 'memory = 1048576', (s) => s.limits.memoryBytes, M],
  ['limits', 'vmemory = 2G', (s) => s.limits.vmemoryBytes, 2048 * M],
  ['limits', 'maxproc = 1', (s) => s.limits.maxproc, 1],
  ['limits', 'cpu = 0.5', (s) => s.limits.cpuPercent, 50],
  ['limits', 'cpu = 2', (s) => s.limits.cpuPercent, 200],
  ['limits', 'cpu = 12.5%', (s) => s.limits.cpuPercent, 12.5],
  ['limits', 'openfiles = 1024', (s) => s.limits.openfiles, 1024],
  ['security', 'portacl[] = tcp:80\nportacl[] = udp:53', (s) => s.security.portacl, [{ protocol: 'tcp', port: 80 }, { protocol: 'udp', port: 53 }]],
  ['security', 'cap_add[] = CAP_NET_ADMIN\ncap_add[] = sys_time', (s) => s.security.capAdd, ['NET_ADMIN', 'SYS_TIME']],
  ['security', 'cap_drop[] = ALL', (s) => s.security.capDrop, ['ALL']],
  ['security', 'no_new_privileges = false', (s) => s.security.noNewPrivileges, false],
  ['health', 'command = wget -q -O- http://127.0.0.1/', (s) => s.health, { test: { kind: 'exec', argv: ['wget', '-q', '-O-', 'http://127.0.0.1/'] } }],
  ['health', 'command = true\ninterval = 5\ntimeout = 2s\nretries = 10', (s) => s.health, { test: { kind: 'exec', argv: ['true'] }, intervalMs: 5000, timeoutMs: 2000, retries: 10 }],
  ['health', 'shell = "wget -qO- http://127.0.0.1/ || exit 1 ; # comment kept"', (s) => s.health, { test: { kind: 'shell', script: 'wget -qO- http://127.0.0.1/ || exit 1 ; # comment kept' } }],
  ['health', 'disable = true', (s) => s.health, { test: { kind: 'none' } }],
  ['health', 'disable = false', (s) => s.health, undefined],
  ['health', 'interval = 1m30s\ntimeout = 500ms\nstart_period = 1.5s', (s) => s.health, { intervalMs: 90_000, timeoutMs: 500, startPeriodMs: 1500 }],
  ['health', 'start_period = 0', (s) => s.health, { startPeriodMs: 0 }],
  ['health', 'on_unhealthy = none', (s) => s.health, { onUnhealthy: 'none' }],
  ['jail', 'allow.raw_sockets = 1\nallow.nomount = true\nsecurelevel = -1\nosrelease = 13.2-RELEASE', (s) => s.jail,
    { 'allow.raw_sockets': 'true', 'allow.mount': 'false', securelevel: '-1', osrelease: '13.2-RELEASE' }],
];

const invalid: Invalid[] = [
  ['container', 'image = -busybox', '"-busybox" is not an image reference (use NAME[:TAG], e.g. busybox:latest)'],
  ['container', 'image = busybox:bad/tag', /is not/],
  ['container', `command = sh -c 'oops`, /unterminated ' quote/],
  ['container', 'command = ["sh", 1]', 'is a JSON value but not an array of strings'],
  ['container', 'entrypoint = "a', /unterminated " quote/],
  ['container', 'hostname = -web', /is not a host name/],
  ['container', 'env[] = NOVALUE', '"NOVALUE" has no value'],
  ['container', 'env[] = =x', /is not an environment variable name/],
  ['container', 'workdir = srv', '"srv" is not an absolute path'],
  ['container', 'user = root:wheel:x', /is not a user/],
  ['container', 'volume[] = srv/x:/www', '"srv/x:/www": the host path "srv/x" is not an absolute path'],
  ['container', 'volume[] = ./srv:/www', '"./srv:/www": the host path "./srv" is not an absolute path'],
  ['container', 'volume[] = da$ta:/www', /"da\$ta:\/www": "da\$ta" is not a volume name/],
  ['container', 'volume[] = -data:/www', /"-data" is not a volume name/],
  ['container', 'volume[] = data:www', /the container path "www" is not an absolute path/],
  ['container', 'depends_on[] = web', /"web": a container cannot depend on itself/],
  ['container', 'depends_on[] = db\ndepends_on[] = db:healthy', /"db" is listed more than once/],
  ['container', 'depends_on[] = db:ready', /"ready" is not a condition \(started or healthy\)/],
  ['container', 'depends_on[] = d/b', /"d\/b" is not a container name/],
  ['container', 'volume[] = /srv:www', /the container path "www" is not an absolute path/],
  ['container', 'volume[] = /srv:/www:rx', '"/srv:/www:rx": "rx" is not ro or rw'],
  ['container', 'volume[] = /srv:/', /cannot mount over the container's root/],
  ['container', 'volume[] = tmpfs:/t:size=0', '"0" must be more than 0 bytes'],
  ['container', 'volume[] = tmpfs:/t:noexec', /unknown tmpfs option "noexec"/],
  ['container', 'volume[] = tmpfs:/t:mode=999', /is not an octal mode/],
  ['container', 'volume[] = /a:/t\nvolume[] = tmpfs:/t', /"\/t" is already the target of another volume/],
  ['container', 'restart = unless-stopped', /is not a restart policy/],
  ['container', 'restart = allways', /did you mean always\?/],
  ['container', 'restart = on-failure:0', '"0" must be at least 1'],
  ['container', 'stop_timeout = -1', /is not a number of seconds/],
  ['container', 'stop_signal = SIGTREM', '"SIGTREM" is not a signal, did you mean SIGTERM?'],
  ['container', 'stop_signal = 10', /use a signal name/],
  ['container', 'wait = some', '"some" is not all or main'],
  ['container', 'min_uptime = soon', /is not a number of seconds/],
  ['container', 'tty = maybe', '"maybe" is not a boolean (use true or false)'],
  ['container', 'interactive = 2', /is not a boolean/],
  ['container', 'parent = a:b', /is not a valid parent container name/],
  ['container', 'hostname =', 'is empty'],
  ['container', 'imagee = x', 'unknown key, did you mean image?'],
  ['network', 'name = no such', /is not a valid network name/],
  ['network', 'mode = vnet', '"vnet" is not none, host or bridge'],
  ['network', 'mode = host\nname = front', 'mode host contradicts name front'],
  ['network', 'mode = none\npublish[] = 80:80', /publishing ports needs a bridge network/],
  ['network', 'publish[] = 1.2.3.4:5:6:7', /is not a port mapping/],
  ['network', 'publish[] = 0:80', 'port 0 is not in 1..65535'],
  ['network', 'publish[] = 80:70000', 'port 70000 is not in 1..65535'],
  ['network', 'publish[] = 65530-65540:80', 'port 65540 is not in 1..65535'],
  ['network', 'publish[] = 8010-8000:80', '"8010-8000:80": range 8010-8000 is reversed (its first port is above its last)'],
  ['network', 'publish[] = 8000-8010:9000-9005', '"8000-8010:9000-9005": 11 host ports (8000-8010) for 6 container ports (9000-9005)'],
  ['network', 'publish[] = 8000:9000-9005', '"8000:9000-9005": 1 host port (8000) for 6 container ports (9000-9005)'],
  ['network', 'publish[] = ::1:80:80', '"::1:80:80": an IPv6 host address goes in brackets'],
  ['network', 'publish[] = [::1]:80', /is not a port mapping/],
  ['network', 'publish[] = [fe80::1%eth0]:80:80', '"[fe80::1%eth0]" is not an IPv6 address in brackets'],
  ['network', 'publish[] = [FE80::1]:80:80', '"[FE80::1]:80:80": fe80::1 is a link-local address'],
  ['network', 'publish[] = 256.0.0.1:80:80', '"256.0.0.1" is not an IPv4 address or a bracketed IPv6 address'],
  ['network', 'publish[] = 8000-8010:8000-8010\npublish[] = 127.0.0.1:8005:80', /"127.0.0.1:8005:80\/tcp" takes host port 8005\/tcp already taken by "8000-8010:8000-8010\/tcp"/],
  ['network', 'publish[] = 80:80/sctp', '"sctp" is not tcp or udp'],
  ['network', 'publish[] = 80:80\npublish[] = 127.0.0.1:80:81', /already taken by "80:80\/tcp"/],
  ['network', 'alias[] = a b', /is not a valid alias/],
  ['limits', 'memory = 64X', '"64X" is not a size (use 64M, 1G, or bytes)'],
  ['limits', 'memory = 0', 'must be more than 0 bytes'],
  ['limits', 'vmemory = lots', /is not a size/],
  ['limits', 'maxproc = 0', '"0" must be at least 1'],
  ['limits', 'maxproc = 1.5', /is not a whole number/],
  ['limits', 'cpu = 0%', 'must be more than 0'],
  ['limits', 'cpu = fast', /is not a CPU amount/],
  ['limits', 'openfiles = -3', '"-3" must be at least 1'],
  ['security', 'portacl[] = 80', /is not a port ACL/],
  ['security', 'portacl[] = icmp:1', '"icmp" is not tcp or udp'],
  ['security', 'cap_add[] = NET_ADMN', '"NET_ADMN" is not a Linux capability, did you mean NET_ADMIN?'],
  ['security', 'cap_drop[] = CAP_FLY', /is not a Linux capability/],
  ['security', 'no_new_privileges = sure', /is not a boolean/],
  ['health', 'command = \'x', /unterminated/],
  ['health', 'command = true\ninterval = 0', 'must be at least 1ms'],
  ['health', 'command = true\ntimeout = x', /"x" is not a duration \(use 30s, 1m30s, 500ms, or seconds\)/],
  ['health', 'command = true\ntimeout = 5 minutes', /is not a duration/],
  ['health', 'shell = ""', 'is empty'],
  ['health', 'command = true\nshell = exit 0', 'conflicts with command (a health check runs one test: command, shell, or disable)'],
  ['health', 'disable = maybe', '"maybe" is not a boolean (use true or false)'],
  ['health', 'start_period = -1s', /is not a duration/],
  ['health', 'on_unhealthy = stop', '"stop" is not restart or none'],
  ['health', 'command = true\nretries = 0', 'must be at least 1'],
  ['jail', 'securelevel = 4', '"4" must be at most 3'],
  ['jail', 'allow.mout = 1', 'is not an allowed jail parameter, did you mean allow.mount?'],
];

describe('every key, accepted', () => {
  it.each(valid.map((v, i) => [i, ...v] as const))('#%i [%s] %s', (_i, section, lines, check, expected) => {
    expect(check(parse(section, lines))).toEqual(expected);
  });
});

describe('every key, refused with file:line: [section] key: reason', () => {
  it.each(invalid.map((v, i) => [i, ...v] as const))('#%i [%s] %s', (_i, section, lines, reason) => {
    let message = '';
    try {
      parse(section, lines);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).not.toBe('');
    expect(message).not.toContain('\n');
    if (typeof reason === 'string') expect(message.endsWith(reason)).toBe(true);
    else expect(message).toMatch(reason);
    if (section !== 'network' || !/mode|publish\[\] = 80:80\n/.test(lines)) {
      const key = lines.split('\n').at(-1)!.split(/\s*=/)[0]!.replace('[]', '');
      expect(message.startsWith(`web.ini:${lineOf(section, lines)}: [${section}] ${key}: `)).toBe(true);
    }
  });

  it('covers every key of SPEC_KEYS, valid and invalid', () => {
    for (const [section, keys] of Object.entries(SPEC_KEYS)) {
      for (const key of keys) {
        const re = new RegExp(`^${key}(\\[\\])?\\s*=`, 'm');
        expect(valid.some(([s, l]) => s === section && re.test(l)), `valid [${section}] ${key}`).toBe(true);
        expect(invalid.some(([s, l]) => s === section && re.test(l.split('\n').at(-1)!)), `invalid [${section}] ${key}`).toBe(true);
      }
    }
  });
});

describe('the [health] and [network] cross-key checks', () => {
  it('timings alone are kept: the command may come from the image (resolved at start)', () => {
    expect(parse('health', 'interval = 5').health).toEqual({ intervalMs: 5000 });
  });
  it('a disabled check takes no timings', () => {
    expect(() => parse('health', 'disable = true\ninterval = 5s\nretries = 2')).toThrow('web.ini:4: [health]: disable = true conflicts with interval, retries (a disabled check runs nothing)');
  });
  it('a bare [network] section is mode none', () => {
    expect(parse('network', '').network).toEqual({ mode: 'none', publish: [], aliases: [] });
  });
  it('publishing without a name joins the default network', () => {
    expect(parse('network', 'publish[] = 80:80').network.name).toBe('vessel');
  });
  it('a capability both added and dropped', () => {
    expect(() => parse('security', 'cap_add[] = NET_RAW\ncap_drop[] = CAP_NET_RAW')).toThrow('web.ini: [security]: NET_RAW is both added and dropped');
  });
});

describe('[jail] allowlist', () => {
  const samples: Record<string, [ok: string, bad: string]> = {
    securelevel: ['3', '-2'],
    'children.max': ['0', '-1'],
    enforce_statfs: ['2', '3'],
    devfs_ruleset: ['4', 'x'],
    osrelease: ['14.1-RELEASE', 'a"b'],
    osreldate: ['1401000', 'soon'],
    sysvmsg: ['new', 'yes'],
    sysvsem: ['inherit', 'on'],
    sysvshm: ['disable', 'off'],
    linux: ['new', 'disable'],
    'linux.osname': ['Linux', ''],
    'linux.osrelease': ['5.15.0', 'x\\y'],
    'linux.oss_version': ['198144', '-1'],
  };
  it.each(Object.keys(JAIL_PARAMS))('%s accepts a good value and refuses a bad one', (key) => {
    const [ok, bad] = samples[key] ?? ['true', 'perhaps'];
    expect(Object.values(parse('jail', `${key} = ${ok}`).jail)).toHaveLength(1);
    expect(() => parse('jail', `${key} = "${bad}"`)).toThrow(new RegExp(`^web.ini:5: \\[jail\\] ${key.replace(/\./g, '\\.')}: `));
  });
  it('includes what the issue lists', () => {
    for (const k of ['allow.mount.nullfs', 'allow.raw_sockets', 'allow.sysvipc', 'allow.chflags', 'allow.mlock', 'allow.reserved_ports',
      'allow.socket_af', 'allow.set_hostname', 'allow.read_msgbuf', 'allow.extattr', 'allow.adjtime', 'allow.settime', 'allow.vmm',
      'allow.nfsd', 'allow.unprivileged_proc_debug', 'allow.suser']) expect(JAIL_PARAMS).toHaveProperty([k]);
    expect(JAIL_PARAMS).not.toHaveProperty(['cpuset.id']);
  });
  it.each([
    ['path', "vessel sets path to the container's root"],
    ['name', 'the jail is named after the container: the spec file name or --name'],
    ['host.hostname', 'use [container] hostname'],
    ['ip4.addr', 'addresses come from [network] name'],
    ['ip6', 'addresses come from [network] name'],
    ['vnet', 'VNET is configured from [network]'],
    ['vnet.interface', 'VNET is configured from [network]'],
    ['mount.devfs', 'use [container] volume[]'],
    ['exec.start', 'use [container] command / entrypoint (and [health] command)'],
    ['persist', "vessel manages the jail's lifetime"],
    ['jid', "vessel manages the jail's lifetime"],
  ])('refuses %s, which vessel manages, pointing to the spec key', (key, hint) => {
    try {
      parse('jail', `${key} = 1`);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toBe(`web.ini:5: [jail] ${key}: is set by vessel and cannot be given in [jail]`);
      expect((e as { hint?: string }).hint).toBe(hint);
    }
  });
  it('refuses one parameter given twice, also under its allow.no spelling', () => {
    expect(() => parse('jail', 'allow.mount = true\nallow.nomount = 1')).toThrow('web.ini:6: [jail] allow.nomount: is already set on line 5 (as allow.mount)');
  });
});
