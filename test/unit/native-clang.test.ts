import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * FreeBSD builds vessel's native programs with its base cc, which is clang (FreeBSD 14.0: clang 16;
 * 14.1 and later: 18). gcc is what Linux uses, so a flag or a construct only gcc takes would fail
 * the first `npm start` on FreeBSD (its build is -Werror). Here every program is built with
 * clang too — Debian's, older than FreeBSD's, so a flag newer clang knows and older clang does not
 * shows up — and the FreeBSD half of the monitor against its kernel test double, -pedantic.
 * clang is in .ci/packages: missing in CI, this fails.
 */
const repo = join(__dirname, '..', '..');
// Made in beforeAll, not at collection: a run filtered away from this file would leave it behind.
let out = '';
beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'vessel-native-clang-'));
});
afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});
const haveClang = spawnSync('clang', ['--version']).status === 0;
const cFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.c')).map((f) => join(dir, f));

describe('the native programs build with clang (FreeBSD\'s cc)', () => {
  it('clang is installed (CI installs it from .ci/packages)', () => {
    if (process.env.CI === 'true') expect(haveClang).toBe(true);
  });

  it.runIf(haveClang || process.env.CI === 'true')('native/build.sh with CC=clang: every program, warnings as errors', () => {
    const r = spawnSync('sh', [join(repo, 'native', 'build.sh')], { env: { ...process.env, CC: 'clang', VESSEL_LIBEXEC: join(out, 'libexec') }, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const p of ['vessel-init', 'vessel-tar-gate', 'vessel', 'probe/vessel-probe']) expect(existsSync(join(out, 'libexec', p))).toBe(true);
  }, 120_000);

  it.runIf(haveClang || process.env.CI === 'true')('the FreeBSD half of the monitor, with its kernel test double, -pedantic', () => {
    const stub = join(repo, 'test', 'fixtures', 'freebsd', 'native-stub');
    execFileSync('clang', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-pedantic', '-D_GNU_SOURCE', '-O2', '-DVESSEL_FREEBSD_STUB', '-I', stub, '-o', join(out, 'fb-init'),
      ...cFiles(join(repo, 'native', 'common')), ...cFiles(join(repo, 'native', 'freebsd')), ...cFiles(stub)], { stdio: 'pipe' });
    expect(existsSync(join(out, 'fb-init'))).toBe(true);
  }, 120_000);

  it.runIf(haveClang || process.env.CI === 'true')('the tar gate without Linux\'s interfaces (FreeBSD\'s path: writes, no vmsplice), -pedantic', () => {
    // _DEFAULT_SOURCE: POSIX and BSD interfaces, as FreeBSD's default environment, none of GNU's
    execFileSync('clang', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-pedantic', '-D_DEFAULT_SOURCE', '-O2', '-o', join(out, 'fb-gate'), ...cFiles(join(repo, 'native', 'gate'))], { stdio: 'pipe' });
    expect(existsSync(join(out, 'fb-gate'))).toBe(true);
  }, 120_000);
});
