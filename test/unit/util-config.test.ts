import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/util/config.js';

const dir = mkdtempSync(join(tmpdir(), 'vessel-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadConfig: each setting from the environment, else the file, else its default', () => {
  const file = join(dir, 'vessel.conf');
  writeFileSync(file, [
    'VESSEL_ROOT = /srv/vessel',
    'VESSEL_CGROUP_PARENT = from-file',
    'VESSEL_METRICS = 127.0.0.1:9101',
    'VESSEL_METRICS_ALLOW_REMOTE = yes',
    'VESSEL_REGISTRY = s3://bucket/images',
  ].join('\n'));

  it('paths are resolved, values are read as written; every source is named', () => {
    const c = loadConfig({ VESSEL_CONFIG: file, VESSEL_IMAGE_DIR: 'rel/images' });
    expect(c.images).toBe(join(process.cwd(), 'rel/images'));
    expect(c.sources.images).toBe('env VESSEL_IMAGE_DIR');
    expect(c.root).toBe('/srv/vessel');
    expect(c.sources.root).toBe(`${file} VESSEL_ROOT`);
    expect(c.cgroupParent).toBe('from-file');
    expect(c.sources.cgroupParent).toBe(`${file} VESSEL_CGROUP_PARENT`);
    expect(c.metrics).toBe('127.0.0.1:9101');
    expect(c.sources.metrics).toBe(`${file} VESSEL_METRICS`);
    expect(c.metricsAllowRemote).toBe(true);
    expect(c.registry).toBe('s3://bucket/images');
    expect(c.sources.registry).toBe(`${file} VESSEL_REGISTRY`);
  });

  it('the environment wins over the file; unset values say so', () => {
    const c = loadConfig({ VESSEL_CONFIG: file, VESSEL_CGROUP_PARENT: 'from-env', VESSEL_METRICS_ALLOW_REMOTE: 'no', APPC_REGISTRY_URL: 'file:///r' });
    expect(c.cgroupParent).toBe('from-env');
    expect(c.sources.cgroupParent).toBe('env VESSEL_CGROUP_PARENT');
    expect(c.metricsAllowRemote).toBe(false);
    expect(c.registry).toBe('file:///r');
    expect(c.sources.registry).toBe('env APPC_REGISTRY_URL');

    const empty = join(dir, 'empty.conf');
    writeFileSync(empty, '');
    const none = loadConfig({ VESSEL_CONFIG: empty, VESSEL_ROOT: '/srv/other' });
    expect(none.metrics).toBeUndefined();
    expect(none.sources.metrics).toBe('unset');
    expect(none.registry).toBeUndefined();
    expect(none.sources.registry).toBe('unset');
    expect(none.metricsAllowRemote).toBe(false);
    expect(none.sources.metricsAllowRemote).toBe('default');
    expect(none.cgroupParent).toMatch(/^vessel-[0-9a-f]{8}$/);
    expect(none.sources.cgroupParent).toBe('default');
  });
});
