import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { leftovers, rootWithBusybox, vessel, type TestRoot } from '../helpers/vessel.js';

// issue 2, "Must show": exit codes, env/workdir/hostname/user, volumes, tmpfs, bad input.
let t: TestRoot;

beforeAll(async () => {
  t = await rootWithBusybox('basic');
});

afterAll(() => {
  expect(leftovers(t)).toEqual([]);
  t.dispose();
});

describe('vessel run', () => {
  it('propagates the exit code', async () => {
    const r = await vessel(t, ['run', '--rm', 'busybox', 'sh', '-c', 'exit 7']);
    expect(r.code).toBe(7);
  });

  it('applies env, workdir, hostname and user (by name from the image)', async () => {
    const r = await vessel(t, ['run', '--rm', '-e', 'GREETING=hello', '-w', '/tmp', '--hostname', 'web', '-u', 'app', 'busybox', 'sh', '-c', 'echo "$GREETING $(pwd) $(hostname) $(id -u):$(id -g) $HOME"']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('hello /tmp web 1000:1000 /home/app');
  });

  it('takes a numeric uid:gid', async () => {
    const r = await vessel(t, ['run', '--rm', '-u', '4242:4343', 'busybox', 'sh', '-c', 'echo $(id -u):$(id -g)']);
    expect(r.stdout.trim()).toBe('4242:4343');
  });

  it('runs in its own pid, uts, net namespaces with only loopback', async () => {
    const r = await vessel(t, ['run', '--rm', 'busybox', 'sh', '-c', 'echo $$; ls /sys/class/net; cat /proc/1/cmdline | head -c 20 >/dev/null; ps -o pid | wc -l']);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('2'); // pid 1 is vessel's init, the command is pid 2
    expect(lines[1]).toBe('lo');
  });

  it('a read-only volume refuses writes, a read-write one persists them', async () => {
    const ro = join(t.root, 'vol-ro');
    const rw = join(t.root, 'vol-rw');
    mkdirSync(ro);
    mkdirSync(rw);
    writeFileSync(join(ro, 'in.txt'), 'data\n');
    const r1 = await vessel(t, ['run', '--rm', '-v', `${ro}:/ro:ro`, 'busybox', 'sh', '-c', 'cat /ro/in.txt; echo x > /ro/new']);
    expect(r1.stdout).toContain('data');
    expect(r1.stderr).toMatch(/Read-only file system/);
    expect(r1.code).not.toBe(0);
    expect(existsSync(join(ro, 'new'))).toBe(false);
    const r2 = await vessel(t, ['run', '--rm', '-v', `${rw}:/rw`, 'busybox', 'sh', '-c', 'echo kept > /rw/out.txt']);
    expect(r2.code).toBe(0);
    expect(readFileSync(join(rw, 'out.txt'), 'utf8')).toBe('kept\n');
  });

  it('a tmpfs volume holds its size limit', async () => {
    const r = await vessel(t, ['run', '--rm', '--tmpfs', '/scratch:size=1m', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/scratch/f bs=1k count=2048; echo rc=$?']);
    expect(r.stdout).toContain('rc=1');
    expect(r.stderr).toMatch(/No space left on device/);
  });

  it('has working /dev nodes', async () => {
    const r = await vessel(t, ['run', '--rm', 'busybox', 'sh', '-c', 'echo x > /dev/null && head -c 4 /dev/zero | wc -c && ls -l /dev/null']);
    expect(r.stdout).toMatch(/^4$/m);
    expect(r.stdout).toMatch(/^crw-rw-rw-/m);
  });

  it('--rm keeps no writable layer; without --rm the layer survives until vessel rm', async () => {
    const r = await vessel(t, ['run', '--name', 'keep', 'busybox', 'sh', '-c', 'echo x > /marker']);
    expect(r.code).toBe(0);
    expect(existsSync(join(t.root, 'containers', 'keep', 'upper', 'marker'))).toBe(true);
    const again = await vessel(t, ['run', '--name', 'keep', 'busybox', 'true']);
    expect(again.code).toBe(125);
    expect(again.stderr).toMatch(/already in use/);
    expect((await vessel(t, ['rm', 'keep'])).code).toBe(0);
    expect(existsSync(join(t.root, 'containers', 'keep'))).toBe(false);
    await vessel(t, ['run', '--rm', '--name', 'gone', 'busybox', 'sh', '-c', 'echo x > /marker']);
    expect(existsSync(join(t.root, 'containers', 'gone'))).toBe(false);
  });

  it('command not found → 127; not executable → 126', async () => {
    const r = await vessel(t, ['run', '--rm', 'busybox', 'no-such-command']);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/no-such-command/);
    const r2 = await vessel(t, ['run', '--rm', 'busybox', '/etc/passwd']);
    expect(r2.code).toBe(126);
  });
});

describe('bad input: one clear line, exit 125, nothing created', () => {
  const containersBefore = () => (existsSync(join(t.root, 'containers')) ? readdirSync(join(t.root, 'containers')).sort() : []);

  async function refused(args: string[], pattern: RegExp) {
    const before = containersBefore();
    const r = await vessel(t, args);
    expect(r.code).toBe(125);
    expect(r.stderr.trim().split('\n')[0]).toMatch(pattern);
    expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(2); // the line, maybe a hint
    expect(containersBefore()).toEqual(before);
    expect(leftovers(t)).toEqual([]);
  }

  it('unknown key in a spec file', async () => {
    const f = join(t.root, 'bad.ini');
    writeFileSync(f, '[container]\nimage = busybox\n\n[limits]\nmemroy = 64M\n');
    await refused(['run', '--spec', f], /bad\.ini:5: \[limits\] memroy: unknown key/);
  });

  it('bad unit', async () => {
    await refused(['run', '--rm', '--memory', '64Q', 'busybox', 'true'], /--memory: "64Q" is not a size/);
  });

  it('missing image', async () => {
    await refused(['run', '--rm', 'nosuchimage', 'true'], /image "nosuchimage:latest" not found/);
  });

  it('bad volume path', async () => {
    await refused(['run', '--rm', '-v', '/does/not/exist:/x', 'busybox', 'true'], /\/does\/not\/exist.*does not exist/);
  });

  it('corrupt tarball', async () => {
    const bad = join(t.root, 'corrupt.tar.gz');
    writeFileSync(bad, Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.alloc(64, 7)]));
    const imagesBefore = (await vessel(t, ['images', '--json'])).stdout;
    const r = await vessel(t, ['image', 'import', bad, 'corrupt:latest']);
    expect(r.code).toBe(125);
    expect(r.stderr.split('\n')[0]).toMatch(/corrupt\.tar\.gz/);
    expect((await vessel(t, ['images', '--json'])).stdout).toBe(imagesBefore);
  });
});

describe('the command\'s own set-up failing', () => {
  it('a working directory that is a file → 125 and the reason', async () => {
    const r = await vessel(t, ['run', '--rm', '-w', '/etc/passwd', 'busybox', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/working directory \/etc\/passwd: Not a directory/);
  });
  it('a user the image does not know → 125 and the reason', async () => {
    const r = await vessel(t, ['run', '--rm', '-u', 'nobody-here', 'busybox', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/user "nobody-here" not found in the image's \/etc\/passwd/);
  });
  it('a command exiting 125 by itself is not explained away', async () => {
    const r = await vessel(t, ['run', '--rm', 'busybox', 'sh', '-c', 'exit 125']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('');
  });
});
