import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseSpecText, specFromFlags, type ContainerSpec } from '../../src/spec/index.js';
import { fromOciConfig, toOciConfig, type OciImageConfig } from '../../src/image/oci-config.js';
import { parseVesselfile } from '../../src/build/vesselfile.js';
import { describeHealth, resolveHealth } from '../../src/supervise/index.js';
import type { ImageConfig } from '../../src/image/index.js';

/**
 * Issue 16, health check configuration with docker's semantics: what runs where is docs/health.md.
 * The spec ([health], --health-*), the image (Vesselfile HEALTHCHECK, an OCI config's
 * Healthcheck) and docker's defaults resolve into the one ContainerConfig.health.
 */

describe('durations, as docker\'s --health-* flags take them', () => {
  it.each([
    ['30s', 30_000], ['1m30s', 90_000], ['500ms', 500], ['1.5s', 1500], ['2h', 7_200_000], ['1h1m1s1ms', 3_661_001],
    ['30', 30_000], ['0.25', 250], ['0s', 0], ['.5s', 500],
  ])('%s → %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(['', 's', '5 s', '5x', '-1s', '1d', '5s3', 'ms5'])('%j is refused', (text) => {
    expect(() => parseDuration(text)).toThrow(/is not a duration/);
  });
  it('formats the shortest text that reads back', () => {
    for (const ms of [0, 1, 999, 1000, 1500, 60_000, 90_000, 3_600_000, 3_661_001]) expect(parseDuration(formatDuration(ms))).toBe(ms);
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(0)).toBe('0s');
  });
});

/** The config part of an image docker built from `HEALTHCHECK --interval=30s --timeout=3s --start-period=5s CMD curl -f http://localhost/ || exit 1` (docker image inspect). */
const DOCKER_CONFIG: OciImageConfig['config'] = {
  Cmd: ['nginx', '-g', 'daemon off;'],
  Healthcheck: { Test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'], Interval: 30_000_000_000, Timeout: 3_000_000_000, StartPeriod: 5_000_000_000, Retries: 3 },
};

describe('an OCI image config\'s Healthcheck', () => {
  it('is read as docker wrote it and written back the same', () => {
    const c = fromOciConfig(DOCKER_CONFIG);
    expect(c.healthcheck).toEqual({ test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'], interval: 30e9, timeout: 3e9, startPeriod: 5e9, retries: 3 });
    expect(toOciConfig(c).Healthcheck).toEqual(DOCKER_CONFIG!.Healthcheck);
  });
  it('keeps NONE and the exec form; drops what docker would not run', () => {
    const hc = (h: unknown) => fromOciConfig({ Healthcheck: h } as OciImageConfig['config']).healthcheck;
    expect(hc({ Test: ['NONE'] })).toEqual({ test: ['NONE'] });
    expect(hc({ Test: ['CMD', '/bin/check', 'a b'] })).toEqual({ test: ['CMD', '/bin/check', 'a b'] });
    for (const bad of [{ Test: [] }, { Test: ['CMD'] }, { Test: ['BOGUS', 'x'] }, { Test: 'CMD true' }, { Test: ['CMD-SHELL', 'a', 'b'] }, null, 'x']) {
      expect(hc(bad)).toBeUndefined();
    }
    // a broken duration is dropped (the default applies), the check itself kept
    expect(hc({ Test: ['NONE'], Interval: -1, Timeout: '5s', Retries: 1.5 })).toEqual({ test: ['NONE'] });
  });
  it('a zero duration is not written (docker\'s omitempty)', () => {
    expect(toOciConfig({ healthcheck: { test: ['CMD', 'true'], startPeriod: 0 } }).Healthcheck).toEqual({ Test: ['CMD', 'true'] });
  });
});

function spec(health: string, image = 'busybox'): ContainerSpec {
  return parseSpecText(`[container]\nimage = ${image}\n${health ? `\n[health]\n${health}\n` : ''}`, { file: 'web.ini' });
}

describe('resolveHealth: spec over image over docker\'s defaults', () => {
  const image: ImageConfig = fromOciConfig(DOCKER_CONFIG);

  it('docker\'s defaults: 30s, 30s, 3 retries, no start period; unhealthy restarts', () => {
    expect(resolveHealth(spec('command = /bin/check --fast'), {})).toEqual({
      argv: ['/bin/check', '--fast'], intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0, onUnhealthy: 'restart',
    });
  });
  it('the image\'s check is the default; CMD-SHELL runs under /bin/sh -c', () => {
    expect(resolveHealth(spec(''), image)).toEqual({
      argv: ['/bin/sh', '-c', 'curl -f http://localhost/ || exit 1'], intervalMs: 30_000, timeoutMs: 3000, retries: 3, startPeriodMs: 5000, onUnhealthy: 'restart',
    });
  });
  it('the spec replaces key by key, the rest stays the image\'s', () => {
    const h = resolveHealth(spec('interval = 2s\non_unhealthy = none'), image);
    expect(h).toMatchObject({ argv: ['/bin/sh', '-c', 'curl -f http://localhost/ || exit 1'], intervalMs: 2000, timeoutMs: 3000, startPeriodMs: 5000, onUnhealthy: 'none' });
    expect(resolveHealth(spec('shell = exit 0'), image)?.argv).toEqual(['/bin/sh', '-c', 'exit 0']);
  });
  it('disabled by the spec (--no-healthcheck, disable = true) or by the image (HEALTHCHECK NONE): no check', () => {
    expect(resolveHealth(spec('disable = true'), image)).toBeUndefined();
    expect(resolveHealth(specFromFlags({ image: 'busybox', noHealthcheck: true }), image)).toBeUndefined();
    expect(resolveHealth(spec(''), { healthcheck: { test: ['NONE'] } })).toBeUndefined();
    expect(resolveHealth(spec(''), {})).toBeUndefined();
  });
  it('timings with nothing to run: one line naming the file and the reason', () => {
    expect(() => resolveHealth(spec('interval = 5s'), {})).toThrow('web.ini: [health]: timings are set but there is no check to run: image busybox:latest has no HEALTHCHECK');
    expect(() => resolveHealth(spec('retries = 5'), { healthcheck: { test: ['NONE'] } })).toThrow(/image busybox:latest disables its check \(HEALTHCHECK NONE\)/);
    expect(() => resolveHealth(specFromFlags({ image: 'busybox', healthRetries: 2 }), {})).toThrow(/^vessel run flags: \[health\]/);
  });
  it('a Vesselfile HEALTHCHECK, recorded in the built image\'s config, is what a container of it runs', () => {
    const [, step] = parseVesselfile('FROM busybox\nHEALTHCHECK --interval=10s --retries=5 CMD ["/bin/check"]\n');
    if (step?.kind !== 'HEALTHCHECK') throw new Error('no HEALTHCHECK step');
    const written = toOciConfig({ healthcheck: step.check });
    expect(written.Healthcheck).toEqual({ Test: ['CMD', '/bin/check'], Interval: 10_000_000_000, Retries: 5 });
    expect(resolveHealth(spec(''), fromOciConfig(written))).toEqual({
      argv: ['/bin/check'], intervalMs: 10_000, timeoutMs: 30_000, retries: 5, startPeriodMs: 0, onUnhealthy: 'restart',
    });
  });
  it('vessel plan shows it', () => {
    expect(describeHealth(resolveHealth(spec('interval = 1m30s', 'x'), image)!)).toBe(
      'argv = ["/bin/sh","-c","curl -f http://localhost/ || exit 1"]\ninterval = 1m30s\ntimeout = 3s\nstart_period = 5s\nretries = 3\non_unhealthy = restart\n',
    );
  });
});
