import { describe, expect, it } from 'vitest';
import { mergeFlags, parseSpecText, specFromFlags } from '../../src/spec/index.js';

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
