import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// emperor/vassal-wrapper run by the real /bin/sh, with `echo` standing in for uwsgi and a script
// that prints its own argv standing in for the native monitor (vessel-init).
const wrapper = join(__dirname, '..', '..', 'emperor', 'vassal-wrapper');
const repo = join(__dirname, '..', '..');
const existsBuilt = (): boolean => existsSync(join(repo, 'build', 'vessel-init'));
const libexec = mkdtempSync(join(tmpdir(), 'vessel-wrapper-'));
writeFileSync(join(libexec, 'vessel-init'), '#!/bin/sh\necho "$0 $*"\n');
chmodSync(join(libexec, 'vessel-init'), 0o755);
afterAll(() => rmSync(libexec, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync('/bin/sh', [wrapper, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VESSEL_UWSGI: 'echo', ...env },
  });
  expect(r.status).toBe(0);
  return r.stdout.trim();
}

describe('vassal-wrapper', () => {
  it('a .vessel file → the native monitor of the rendered ini\'s VESSEL_LIBEXEC', () => {
    expect(run(['--config', 'web.vessel'], { VESSEL_LIBEXEC: libexec })).toBe(`${libexec}/vessel-init vassal --config web.vessel`);
  });

  it('uWSGI\'s extra arguments around --config are skipped', () => {
    expect(run(['--set', 'a=b', '--inherit', 'base.ini', '--config', 'web.vessel', '--include', 'x.ini'], { VESSEL_LIBEXEC: libexec })).toBe(`${libexec}/vessel-init vassal --config web.vessel`);
  });

  it('without VESSEL_LIBEXEC: the build directory of the checkout the wrapper lives in', () => {
    // the real monitor, asked with no Emperor and no service: it says so and exits non-zero (never 26)
    const r = spawnSync('/bin/sh', [wrapper, '--config', 'web.vessel'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('VESSEL_SERVICE is not set');
    expect(existsBuilt()).toBe(true);
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
