import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// emperor/vassal-wrapper run by the real /bin/sh, with `echo` standing in for node and uwsgi.
const wrapper = join(__dirname, '..', '..', 'emperor', 'vassal-wrapper');
const repo = join(__dirname, '..', '..');

function run(args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync('/bin/sh', [wrapper, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VESSEL_NODE: 'echo', VESSEL_UWSGI: 'echo', ...env },
  });
  expect(r.status).toBe(0);
  return r.stdout.trim();
}

describe('vassal-wrapper', () => {
  it('a .vessel file → vessel vassal with the CLI from the rendered ini', () => {
    expect(run(['--config', 'web.vessel'], { VESSEL_CLI: '/opt/vessel/bin/vessel.js' })).toBe('/opt/vessel/bin/vessel.js vassal --config web.vessel');
  });

  it('uWSGI\'s extra arguments around --config are skipped', () => {
    expect(run(['--set', 'a=b', '--inherit', 'base.ini', '--config', 'web.vessel', '--include', 'x.ini'], { VESSEL_CLI: '/c' })).toBe('/c vassal --config web.vessel');
  });

  it('has one entry point for containers: `vessel vassal`, whatever the environment says', () => {
    expect(run(['--config', 'web.vessel'], { VESSEL_CLI: '/c', VESSEL_VASSAL_MAIN: wrapper })).toBe('/c vassal --config web.vessel');
  });

  it('without VESSEL_CLI: the CLI of the checkout the wrapper lives in', () => {
    expect(run(['--config', 'web.vessel'])).toBe(`${repo}/bin/vessel.js vassal --config web.vessel`);
  });

  it('gives vassals the host\'s open-files limit back (VESSEL_NOFILE)', () => {
    // "uwsgi" is /bin/sh here, so the exec'd vassal prints the soft limit it got.
    const out = spawnSync('/bin/sh', ['-c', `ulimit -S -n 256; exec /bin/sh ${wrapper} -c 'ulimit -S -n'`], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VESSEL_UWSGI: '/bin/sh', VESSEL_NOFILE: '1000' },
    });
    expect(out.stdout.trim()).toBe('1000');
  });

  it('anything else → uwsgi with the arguments untouched', () => {
    expect(run(['--ini', 'plain.ini'])).toBe('--ini plain.ini');
    expect(run(['--config', 'other.conf', '--set', 'x=1'])).toBe('--config other.conf --set x=1');
    expect(run(['--yaml', 'a b.yml'])).toBe('--yaml a b.yml');
  });
});
