import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compress, makeTar } from '../helpers/image.js';

/**
 * vessel build with real RUN containers (the lead's runtime), then `vessel run` of the result:
 * CMD, ENV and WORKDIR used, deletions made by RUN honoured as whiteouts, the rebuild cached.
 */
const root = mkdtempSync(join(tmpdir(), 'vessel-image-build-'));
process.env.VESSEL_ROOT = root;
const repo = resolve(__dirname, '..', '..');
const ctx = join(root, 'ctx');

type Build = typeof import('../../src/build/index.js');
type Store = typeof import('../../src/image/index.js');
let build: Build;
let store: Store;

const cli = (args: string[]) => spawnSync('node', [join(repo, 'bin/vessel.js'), ...args], { env: { ...process.env, VESSEL_ROOT: root }, encoding: 'utf8', timeout: 60_000 });

beforeAll(async () => {
  mkdirSync(join(ctx, 'site'), { recursive: true });
  execFileSync('sh', [join(repo, 'test/fixtures/build-busybox.sh'), join(root, 'busybox.tar')]);
  store = await import('../../src/image/index.js');
  build = await import('../../src/build/index.js');
  await store.importRootfsTarball(join(root, 'busybox.tar'), 'busybox:latest');
  writeFileSync(join(ctx, 'site/index.html'), '<h1>built</h1>\n');
  writeFileSync(join(ctx, 'extra.tar.gz'), compress(await makeTar([{ name: 'opt', type: 'directory' }, { name: 'opt/tool.txt', content: 'unpacked\n' }]), 'gzip'));
  writeFileSync(join(ctx, 'Vesselfile'), [
    'FROM busybox',
    'ENV GREETING=hello NAME=vessel',
    'WORKDIR /app',
    'COPY --chown=app site/ /app/site/',
    'ADD extra.tar.gz /',
    'RUN echo "$GREETING from $NAME" > greeting.txt && rm /etc/hostname && rm -rf /www',
    'CMD ["/bin/sh", "-c", "cat greeting.txt; pwd; echo $GREETING"]',
    '',
  ].join('\n'));
});

afterAll(() => {
  // Containers of failed RUN steps are removed by the build itself; nothing should be left.
  rmSync(root, { recursive: true, force: true });
});

describe('vessel build', () => {
  let firstId = '';

  it('builds a Vesselfile with RUN, COPY, ADD, ENV, WORKDIR and CMD', async () => {
    const lines: string[] = [];
    const rec = await build.buildImage({ context: ctx, tag: 'web:1', log: (l) => lines.push(l) });
    firstId = rec.id;
    expect(lines.filter((l) => l.startsWith('Step '))).toHaveLength(7);
    expect(rec.config).toMatchObject({ env: ['GREETING=hello', 'NAME=vessel'], workdir: '/app', cmd: ['/bin/sh', '-c', 'cat greeting.txt; pwd; echo $GREETING'] });
    // busybox + WORKDIR + COPY + ADD + RUN
    expect(rec.layers).toHaveLength(5);
    expect(readdirSync(join(root, 'containers'))).toEqual([]);
  });

  it('vessel run uses CMD, ENV and WORKDIR and honours the RUN step deletions', () => {
    const r = cli(['run', '--rm', 'web:1']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hello from vessel\n/app\nhello\n');
    const check = cli(['run', '--rm', 'web:1', '/bin/sh', '-c', 'test ! -e /etc/hostname && test ! -e /www && test -e /etc/passwd && cat /opt/tool.txt && stat -c %u /app/site/index.html']);
    expect(check.stdout).toBe('unpacked\n1000\n');
    expect(check.status).toBe(0);
  });

  it('rebuilds from the cache into the same image; --no-cache rebuilds', async () => {
    const lines: string[] = [];
    const again = await build.buildImage({ context: ctx, tag: 'web:1', log: (l) => lines.push(l) });
    expect(lines.filter((l) => l.includes('using cache'))).toHaveLength(4);
    expect(again.id).toBe(firstId);
    const fresh: string[] = [];
    await build.buildImage({ context: ctx, tag: 'web:nocache', noCache: true, log: (l) => fresh.push(l) });
    expect(fresh.filter((l) => l.includes('using cache'))).toHaveLength(0);
  });

  it('a changed COPY source misses the cache from that step on', async () => {
    writeFileSync(join(ctx, 'site/index.html'), '<h1>changed</h1>\n');
    const lines: string[] = [];
    const rec = await build.buildImage({ context: ctx, tag: 'web:2', log: (l) => lines.push(l) });
    expect(lines.filter((l) => l.includes('using cache'))).toHaveLength(1); // only WORKDIR
    expect(rec.id).not.toBe(firstId);
  });

  it('errors point at Vesselfile:LINE and leave no container behind', async () => {
    const bad = join(root, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'Vesselfile'), 'FROM busybox\nRUN true\nRUN exit 3\n');
    await expect(build.buildImage({ context: bad, tag: 'bad:1' })).rejects.toMatchObject({ message: expect.stringMatching(/^Vesselfile:3: RUN exit 3: exited 3$/) });
    writeFileSync(join(bad, 'Vesselfile'), 'FROM busybox\nCOPY ../etc/passwd /x\n');
    await expect(build.buildImage({ context: bad, tag: 'bad:1' })).rejects.toMatchObject({ message: 'Vesselfile:2: ../etc/passwd: outside the build context' });
    writeFileSync(join(bad, 'Vesselfile'), 'FROM nosuchimage\n');
    await expect(build.buildImage({ context: bad, tag: 'bad:1' })).rejects.toMatchObject({ message: expect.stringMatching(/^Vesselfile:1: FROM: image "nosuchimage:latest" not found/) });
    const r = cli(['build', '-t', 'bad:1', bad]);
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/^vessel: Vesselfile:1: FROM: image "nosuchimage:latest" not found/m);
    expect(existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')) : []).toEqual([]);
    await expect(store.resolveImage('bad:1')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
  });

  it('HEALTHCHECK is recorded as docker records it, is what a container of the image runs, and NONE turns it off', async () => {
    const dir = join(root, 'hc');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Vesselfile'), 'FROM busybox\nHEALTHCHECK --interval=5s --retries=2 CMD wget -qO- http://127.0.0.1/ || exit 1\nCMD ["httpd", "-f"]\n');
    const rec = await build.buildImage({ context: dir, tag: 'hc:1' });
    expect(rec.config.healthcheck).toEqual({ test: ['CMD-SHELL', 'wget -qO- http://127.0.0.1/ || exit 1'], interval: 5_000_000_000, retries: 2 });
    writeFileSync(join(dir, 'web.ini'), '[container]\nimage = hc:1\n\n[network]\nmode = none\n\n[health]\ntimeout = 2s\n');
    const plan = cli(['plan', join(dir, 'web.ini'), '--os', 'linux']);
    expect(plan.status).toBe(0);
    expect(plan.stdout).toContain('==> health check (run by the container\'s monitor) <==\nargv = ["/bin/sh","-c","wget -qO- http://127.0.0.1/ || exit 1"]\ninterval = 5s\ntimeout = 2s\nstart_period = 0s\nretries = 2\non_unhealthy = restart\n');
    writeFileSync(join(dir, 'Vesselfile'), 'FROM hc:1\nHEALTHCHECK NONE\n');
    expect((await build.buildImage({ context: dir, tag: 'hc:off' })).config.healthcheck).toEqual({ test: ['NONE'] });
    writeFileSync(join(dir, 'off.ini'), '[container]\nimage = hc:off\n\n[network]\nmode = none\n');
    expect(cli(['plan', join(dir, 'off.ini'), '--os', 'linux']).stdout).not.toContain('health check');
  });

  it('the CLI builds and tags', () => {
    const r = cli(['build', '-q', '-t', 'web:cli', '-f', join(ctx, 'Vesselfile'), ctx]);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(cli(['images']).stdout).toMatch(/^web\s+cli\s+/m);
  });
});
