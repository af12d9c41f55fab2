import { describe, expect, it } from 'vitest';
import { mergeFlags, parseSpecText, specFromFlags, type ContainerSpec, type RunFlags } from '../../src/spec/index.js';

describe('specFromFlags', () => {
  it('builds a docker-like spec', () => {
    const s = specFromFlags({
      name: 'web', image: 'busybox', command: ['httpd', '-f'], env: ['A=1', 'HOME_COPY', 'UNSET_X'],
      volume: ['./site:/www:ro'], tmpfs: ['/tmp:size=16m'], memory: '64M', pids: 20, cpus: '0.5',
      publish: ['8080:80'], cwd: '/srv', environ: { HOME_COPY: '/root' },
    });
    expect(s.name).toBe('web');
    expect(s.image).toBe('busybox:latest');
    expect(s.command).toEqual(['httpd', '-f']);
    expect(s.env).toEqual([['A', '1'], ['HOME_COPY', '/root']]);
    expect(s.volumes).toEqual([
      { kind: 'bind', source: '/srv/site', target: '/www', readonly: true },
      { kind: 'tmpfs', target: '/tmp', sizeBytes: 16 << 20, mode: 0o1777 },
    ]);
    expect(s.limits).toEqual({ memoryBytes: 64 << 20, maxproc: 20, cpuPercent: 50 });
    expect(s.restart).toEqual({ mode: 'no' });
    expect(s.network).toEqual({ mode: 'bridge', name: 'vessel', publish: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], aliases: [] });
    expect(s.source).toBeUndefined();
  });
  it('names the flag in errors', () => {
    expect(() => specFromFlags({ image: 'busybox', memory: '12Q' })).toThrow('--memory: "12Q" is not a size (use 64M, 1G, or bytes)');
    expect(() => specFromFlags({ image: 'busybox', cpus: 'lots' })).toThrow(/^--cpus: /);
  });
  it('generates a name when none is given', () => {
    expect(specFromFlags({ image: 'library/busybox:1.36' }).name).toMatch(/^busybox-[0-9a-f]{8}$/);
  });
});

describe('mergeFlags', () => {
  it('overrides a spec file with flags', () => {
    const base = parseSpecText('[container]\nimage = busybox\nenv[] = A=1\nvolume[] = /a:/data\n[limits]\nmemory = 1G\n', { file: 'web.ini' });
    const m = mergeFlags(base, { memory: '64M', env: ['B=2'], volume: ['/b:/data:ro'], restart: 'no' });
    expect(m.limits.memoryBytes).toBe(64 << 20);
    expect(m.env).toEqual([['A', '1'], ['B', '2']]);
    expect(m.volumes).toEqual([{ kind: 'bind', source: '/b', target: '/data', readonly: true }]);
    expect(m.restart).toEqual({ mode: 'no' });
    expect(base.limits.memoryBytes).toBe(1 << 30);
  });
});

describe('every flag', () => {
  const base = { name: 'x', image: 'busybox' };
  it.each([
    [{ hostname: 'h' }, (s: ContainerSpec) => s.hostname, 'h'],
    [{ workdir: '/w/' }, (s: ContainerSpec) => s.workdir, '/w'],
    [{ user: '1000:1000' }, (s: ContainerSpec) => s.user, '1000:1000'],
    [{ restart: 'on-failure:3' }, (s: ContainerSpec) => s.restart, { mode: 'on-failure', maxRetries: 3 }],
    [{ network: 'host' }, (s: ContainerSpec) => s.network, { mode: 'host', publish: [], aliases: [] }],
    [{ network: 'bridge' }, (s: ContainerSpec) => s.network.name, 'vessel'],
    [{ network: 'front', publish: ['127.0.0.1:80:80/udp'] }, (s: ContainerSpec) => s.network,
      { mode: 'bridge', name: 'front', publish: [{ hostIp: '127.0.0.1', hostPort: 80, containerPort: 80, protocol: 'udp' }], aliases: [] }],
    [{ tty: true, interactive: true }, (s: ContainerSpec) => [s.tty, s.interactive], [true, true]],
    [{ stopTimeout: '3' }, (s: ContainerSpec) => s.stopTimeout, 3],
    [{ stopSignal: 'QUIT' }, (s: ContainerSpec) => s.stopSignal, 'SIGQUIT'],
    [{ wait: 'main' }, (s: ContainerSpec) => s.wait, 'main'],
    [{ entrypoint: '' }, (s: ContainerSpec) => s.entrypoint, []],
    [{ entrypoint: '/bin/sh -c' }, (s: ContainerSpec) => s.entrypoint, ['/bin/sh', '-c']],
    [{ entrypoint: ['/a b'] }, (s: ContainerSpec) => s.entrypoint, ['/a b']],
    [{ cpus: '20%' }, (s: ContainerSpec) => s.limits.cpuPercent, 20],
    [{ pids: '20' }, (s: ContainerSpec) => s.limits.maxproc, 20],
    [{ volume: ['tmpfs:/t:size=1m'] }, (s: ContainerSpec) => s.volumes, [{ kind: 'tmpfs', target: '/t', sizeBytes: 2 ** 20, mode: 0o1777 }]],
    [{ command: [] }, (s: ContainerSpec) => s.command, undefined],
    // docker's --health-cmd is CMD-SHELL: the text runs under /bin/sh -c
    [{ healthCmd: 'wget -qO- http://127.0.0.1/ || exit 1' }, (s: ContainerSpec) => s.health, { test: { kind: 'shell', script: 'wget -qO- http://127.0.0.1/ || exit 1' } }],
    [{ healthCmd: 'true', healthInterval: '1m30s', healthTimeout: '500ms', healthRetries: '5', healthStartPeriod: '10s' }, (s: ContainerSpec) => s.health,
      { test: { kind: 'shell', script: 'true' }, intervalMs: 90_000, timeoutMs: 500, retries: 5, startPeriodMs: 10_000 }],
    [{ healthInterval: '5s' }, (s: ContainerSpec) => s.health, { intervalMs: 5000 }],
    [{ noHealthcheck: true }, (s: ContainerSpec) => s.health, { test: { kind: 'none' } }],
    [{ noHealthcheck: false }, (s: ContainerSpec) => s.health, undefined],
  ] as Array<[Partial<RunFlags>, (s: ContainerSpec) => unknown, unknown]>)('%j', (flags, get, want) => {
    expect(get(specFromFlags({ ...base, ...flags }))).toEqual(want);
  });

  it.each([
    [{ name: 'a:b' }, '--name: "a:b" is not a valid name'],
    [{ image: '' }, 'IMAGE: missing (vessel run [OPTIONS] IMAGE [COMMAND…])'],
    [{ image: 'a b' }, 'IMAGE: "a b" is not an image reference'],
    [{ env: ['=x'] }, '--env: "=x": "" is not an environment variable name'],
    [{ volume: ['/a:b'] }, '--volume: "/a:b": the container path "b" is not an absolute path'],
    [{ volume: ['/a:/b', '/c:/b'] }, '--volume: "/b" is the target of more than one volume'],
    [{ tmpfs: ['/t:size=x'] }, '--tmpfs: "x" is not a size'],
    [{ workdir: 'rel' }, '--workdir: "rel" is not an absolute path'],
    [{ user: 'a b' }, '--user: "a b" is not a user'],
    [{ hostname: 'a_b' }, '--hostname: "a_b" is not a host name'],
    [{ memory: '12Q' }, '--memory: "12Q" is not a size (use 64M, 1G, or bytes)'],
    [{ pids: 0 }, '--pids: "0" must be at least 1'],
    [{ cpus: '0' }, '--cpus: "0" must be more than 0'],
    [{ restart: 'sometimes' }, '--restart: "sometimes" is not a restart policy'],
    [{ network: 'bad name' }, '--network: "bad name" is not a valid network name'],
    [{ network: 'none', publish: ['80:80'] }, '--network: publishing ports needs a bridge network, not mode none'],
    [{ publish: ['80:81:82:83'] }, '--publish: "80:81:82:83" is not a port mapping'],
    [{ publish: ['9000-9001:80-82'] }, '--publish: "9000-9001:80-82": 2 host ports (9000-9001) for 3 container ports (80-82)'],
    [{ publish: ['80:80', '80:81'] }, '--publish: "80:81/tcp" takes host port 80/tcp already taken by "80:80/tcp"'],
    [{ stopTimeout: 'x' }, '--stop-timeout: "x" is not a number of seconds'],
    [{ stopSignal: 'NOPE' }, '--stop-signal: "NOPE" is not a signal'],
    [{ wait: 'x' }, '--wait: "x" is not all or main'],
    [{ entrypoint: "'x" }, '--entrypoint: "\'x" has an unterminated \' quote'],
    [{ healthCmd: ' ' }, '--health-cmd: is empty'],
    [{ healthInterval: '0s' }, '--health-interval: "0s" must be at least 1ms'],
    [{ healthTimeout: 'soon' }, '--health-timeout: "soon" is not a duration (use 30s, 1m30s, 500ms, or seconds)'],
    [{ healthRetries: '0' }, '--health-retries: "0" must be at least 1'],
    [{ healthStartPeriod: '-1s' }, '--health-start-period: "-1s" is not a duration'],
    [{ noHealthcheck: true, healthCmd: 'true', healthRetries: 2 }, '--no-healthcheck: conflicts with --health-cmd, --health-retries'],
  ] as Array<[Partial<RunFlags>, string]>)('%j → %s', (flags, message) => {
    expect(() => specFromFlags({ ...base, ...flags })).toThrow(message);
  });

  it('leaves process.env alone and copies bare -e from it by default', () => {
    process.env.VESSEL_SPEC_TEST_VAR = 'v';
    try {
      expect(specFromFlags({ ...base, env: ['VESSEL_SPEC_TEST_VAR'] }).env).toEqual([['VESSEL_SPEC_TEST_VAR', 'v']]);
    } finally {
      delete process.env.VESSEL_SPEC_TEST_VAR;
    }
  });
});

describe('mergeFlags on a spec file', () => {
  const file = parseSpecText('[container]\nimage = busybox\n[network]\nname = front\npublish[] = 80:80\nalias[] = www\n', { file: 'web.ini' });
  it('keeps the file\'s network and adds ports', () => {
    const m = mergeFlags(file, { publish: ['443:443'] });
    expect(m.network.name).toBe('front');
    expect(m.network.publish.map((p) => p.hostPort)).toEqual([80, 443]);
    expect(m.network.aliases).toEqual(['www']);
  });
  it('reports a flag contradicting the file', () => {
    expect(() => mergeFlags(file, { network: 'host' })).toThrow('--network: publishing ports needs a bridge network, not mode host');
    expect(() => mergeFlags(file, { publish: ['80:81'] })).toThrow(/^--publish: .*already taken/);
  });
  it('--health-* replace the file\'s [health] key by key; --no-healthcheck replaces it whole', () => {
    const h = parseSpecText('[container]\nimage = busybox\n[health]\ncommand = true\ninterval = 10s\non_unhealthy = none\n', { file: 'web.ini' });
    expect(mergeFlags(h, { healthInterval: '2s' }).health).toEqual({ test: { kind: 'exec', argv: ['true'] }, intervalMs: 2000, onUnhealthy: 'none' });
    expect(mergeFlags(h, { healthCmd: 'exit 0' }).health).toEqual({ test: { kind: 'shell', script: 'exit 0' }, intervalMs: 10_000, onUnhealthy: 'none' });
    expect(mergeFlags(h, { noHealthcheck: true }).health).toEqual({ test: { kind: 'none' } });
    expect(h.health?.intervalMs).toBe(10_000);
    const off = parseSpecText('[container]\nimage = busybox\n[health]\ndisable = true\n', { file: 'web.ini' });
    expect(() => mergeFlags(off, { healthInterval: '2s' })).toThrow('--health-interval: the spec\'s [health]: disable = true conflicts with interval (a disabled check runs nothing)');
    expect(mergeFlags(off, { healthCmd: 'true' }).health).toEqual({ test: { kind: 'shell', script: 'true' } });
  });
  it('replaces name, image, command and keeps source', () => {
    const m = mergeFlags(file, { name: 'web2', image: 'alpine', command: ['sh'] });
    expect([m.name, m.image, m.command, m.source]).toEqual(['web2', 'alpine:latest', ['sh'], 'web.ini']);
    expect(file.name).toBe('web');
  });
});
