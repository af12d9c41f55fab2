import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * native/freebsd/vessel-jail-exec, built here with the Linux C compiler: once as the Linux build
 * (the FreeBSD parts compiled out: it says "FreeBSD only"), once against the test double of
 * jail_get(2)/jail_attach(2) in test/fixtures/freebsd/native-stub, so that everything after the
 * attach — numeric setgroups/setgid/setuid, chdir, execve with exactly the -e environment and
 * the PATH search in it — runs for real. Both with -std=c11 -Wall -Wextra -Werror and under
 * ASan/UBSan. A missing compiler fails the test.
 */
const repo = join(new URL(import.meta.url).pathname, '..', '..', '..');
const src = join(repo, 'native', 'freebsd');
const stub = join(repo, 'test', 'fixtures', 'freebsd', 'native-stub');
const out = mkdtempSync(join(tmpdir(), 'vessel-jail-exec-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const sources = readdirSync(src).filter((f) => f.endsWith('.c')).map((f) => join(src, f));
const FLAGS = ['-std=c11', '-Wall', '-Wextra', '-Werror', '-pedantic', '-fsanitize=address,undefined', '-fno-sanitize-recover=all'];

function build(name: string, extra: string[]): string {
  const bin = join(out, name);
  execFileSync('cc', [...FLAGS, ...extra, '-o', bin, ...sources], { stdio: 'pipe' });
  return bin;
}

function run(bin: string, args: string[]) {
  const r = spawnSync(bin, args, { encoding: 'utf8', env: { HELPER_OWN: 'must-not-leak', ASAN_OPTIONS: 'detect_leaks=0' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('vessel-jail-exec (native/freebsd)', () => {
  const linux = build('linux', []);
  const stubbed = build('stubbed', ['-DVESSEL_FREEBSD_STUB', '-I', stub, join(stub, 'jail-stub.c')]);

  it('the Linux build compiles clean and refuses to pretend: jail_attach(2) is FreeBSD only', () => {
    const r = run(linux, ['-j', 'web', '-d', '/', '-u', '0', '-g', '0', '--', '/bin/true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('vessel-jail-exec: jail_attach(2) exists on FreeBSD only; cannot enter jail web\n');
  });

  it('runs the command with exactly the -e environment, numeric ids and the working directory', () => {
    // The directory is entered as the container's user (after setuid(2)), so it must be open to it.
    const dir = mkdtempSync(join(out, 'wd-'));
    chmodSync(out, 0o755);
    chmodSync(dir, 0o755);
    const r = run(stubbed, ['-j', 'web', '-d', dir, '-u', '65534', '-g', '65534', '-G', '65534,100',
      '-e', 'A=1', '-e', 'PATH=/usr/bin:/bin', '--', 'sh', '-c', 'echo "$(pwd) $(id -u) $(id -g) $(id -G)"; env -0 | tr "\\0" "\\n" | grep -v "^PWD=" | sort']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${dir} 65534 65534 65534 100\nA=1\nPATH=/usr/bin:/bin\n`);
  });

  it('a numeric jid is attached directly; an unknown jail is exit 125 naming it', () => {
    expect(run(stubbed, ['-j', '7', '-d', '/', '-u', '0', '-g', '0', '-e', 'PATH=/bin:/usr/bin', '--', 'true']).code).toBe(0);
    const r = run(stubbed, ['-j', 'db', '-d', '/', '-u', '0', '-g', '0', '--', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^vessel-jail-exec: jail_get\(2\): cannot find jail db: /);
  });

  it('the PATH searched is the container\'s: none given is 127, not /usr/bin:/bin (finding 19)', () => {
    const r = run(stubbed, ['-j', 'web', '-d', '/', '-u', '0', '-g', '0', '--', 'true']);
    expect(r.code).toBe(127);
    expect(r.stderr).toBe('vessel-jail-exec: no PATH in the container\'s environment to find true\n');
    expect(run(stubbed, ['-j', 'web', '-d', '/', '-u', '0', '-g', '0', '-e', 'PATH=/nonexistent', '--', 'true']).code).toBe(127);
    expect(run(stubbed, ['-j', 'web', '-d', '/nonexistent', '-u', '0', '-g', '0', '--', '/bin/true']).code).toBe(126);
  });

  it('-s sets one sysctl of the jail\'s VNET after attaching, then exits (finding 9)', () => {
    const r = run(stubbed, ['-j', 'web', '-s', 'net.inet.ip.portrange.reservedhigh=0']);
    expect(r).toEqual({ code: 0, stdout: 'sysctl net.inet.ip.portrange.reservedhigh=0\n', stderr: '' });
    expect(run(stubbed, ['-j', 'web', '-s', 'net.inet.ip.portrange.reservedhigh=x']).code).toBe(125);
    expect(run(stubbed, ['-j', 'web', '-s', 'a=1', '--', 'true']).code).toBe(125);
  });

  it('bad arguments are one line and exit 125', () => {
    for (const args of [['-j', 'web', '-d', 'rel', '-u', '0', '-g', '0', '--', 'x'], ['-j', 'web', '-d', '/', '-u', 'www', '-g', '0', '--', 'x'],
      ['-j', 'web', '-d', '/', '-u', '0', '-g', '0', '-G', '1,,2', '--', 'x'], ['-j', 'web', '-d', '/', '-u', '0', '-g', '0', '-e', 'NOEQUALS', '--', 'x'],
      ['-j', 'web', '-d', '/', '-u', '0', '-g', '0', '--']]) {
      const r = run(stubbed, args);
      expect(r.code, args.join(' ')).toBe(125);
      expect(r.stderr.split('\n')[0]).toMatch(/^vessel-jail-exec: /);
    }
  });

  it('native/build.sh builds it on FreeBSD only, with the same warning flags', () => {
    const sh = readFileSync(join(repo, 'native', 'build.sh'), 'utf8');
    expect(sh).toMatch(/^CFLAGS_VESSEL="-std=c11 -O2 -Wall -Wextra -Werror /m);
    expect(sh).toMatch(/FreeBSD\)[\s\S]*\$CFLAGS_VESSEL -o "\$bin.tmp" "\$here"\/freebsd\/\*\.c/);
  });
});
