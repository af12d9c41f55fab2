import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compress, hashTree, makeTar, type TarEntry, stagingLeft } from '../helpers/image.js';

// The store reads config() once per process: point it at a private root before first use.
const root = mkdtempSync(join(tmpdir(), 'vessel-image-store-'));
process.env.VESSEL_ROOT = root;
const files = join(root, 'files');
const images = join(root, 'images');
const repo = resolve(__dirname, '..', '..');

type Store = typeof import('../../src/image/index.js');
let store: Store;

async function expectArchiveError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await expect(p).rejects.toMatchObject({ code: 'E_ARCHIVE', message: expect.stringMatching(pattern) });
}

beforeAll(async () => {
  mkdirSync(files, { recursive: true });
  execFileSync('sh', [join(repo, 'test/fixtures/build-busybox.sh'), join(files, 'busybox.tar')], { stdio: 'inherit' });
  const tar = readFileSync(join(files, 'busybox.tar'));
  // One tar, four encodings: every import must give the same layer.
  writeFileSync(join(files, 'busybox.tar.gz'), compress(tar, 'gzip'));
  writeFileSync(join(files, 'busybox.tar.xz'), compress(tar, 'xz'));
  writeFileSync(join(files, 'busybox.tar.zst'), compress(tar, 'zstd'));
  store = await import('../../src/image/index.js');
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('rootfs tarball import', () => {
  let firstId = '';

  it.each(['busybox.tar', 'busybox.tar.gz', 'busybox.tar.xz', 'busybox.tar.zst'])('imports %s', async (f) => {
    const progress: number[] = [];
    const rec = await store.importRootfsTarball(join(files, f), `bb:${f.replace(/\./g, '-')}`, { onProgress: (p) => progress.push(p.done) });
    expect(rec.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rec.layers).toHaveLength(1);
    expect(progress.at(-1)).toBe(lstatSync(join(files, f)).size);
    if (!firstId) firstId = rec.id;
    // Same tar inside, same layer, same config: the same image.
    expect(rec.id).toBe(firstId);
    const r = await store.resolveImage(`bb:${f.replace(/\./g, '-')}`);
    expect(r.layerDirs).toHaveLength(1);
    const layer = r.layerDirs[0]!;
    expect(lstatSync(join(layer, 'bin/busybox')).isFile()).toBe(true);
    expect(lstatSync(join(layer, 'bin/sh')).isSymbolicLink()).toBe(true);
    const devNull = lstatSync(join(layer, 'dev/null'));
    expect(devNull.isCharacterDevice()).toBe(true);
    expect(lstatSync(join(layer, 'home/app')).uid).toBe(1000);
    expect(lstatSync(join(layer, 'tmp')).mode & 0o7777).toBe(0o1777);
  });

  it('shares one unpacked layer and dedupes re-imports', async () => {
    expect(readdirSync(join(images, 'layers'))).toHaveLength(1);
    const before = hashTree(join(images, 'layers'));
    const again = await store.importRootfsTarball(join(files, 'busybox.tar.gz'), 'bb:again');
    expect(again.id).toBe(firstId);
    expect(hashTree(join(images, 'layers'))).toBe(before);
    expect(stagingLeft(images)).toEqual([]);
  });

  it('marks the store and its tmp/ tops of directory hierarchies where the file system has the flag (ext2/3/4)', async () => {
    // The staging trees' block groups (store.ts stagingRoot): on ext4 the store carries `T`, and
    // so does tmp/, made once and kept, so every staging tree is placed afresh by the Orlov
    // allocator; elsewhere chattr fails and nothing else changes.
    const ext = execFileSync('stat', ['-f', '-c', '%T', images], { encoding: 'utf8' }).trim().startsWith('ext');
    const flagsOf = (dir: string) => {
      const r = spawnSync('lsattr', ['-d', dir], { encoding: 'utf8' });
      if (ext) expect(r.status, r.stderr).toBe(0);
      return r.status === 0 ? r.stdout.split(' ')[0]! : '';
    };
    const expectFlag = (dir: string) => (ext ? expect(flagsOf(dir)).toContain('T') : expect(flagsOf(dir)).not.toContain('T'));
    expectFlag(images);
    const tmp = join(images, 'tmp');
    // An older store, whose tmp/ went with its last staging: made, and flagged, again.
    rmSync(tmp, { recursive: true, force: true });
    for (let round = 0; round < 2; round++) {
      const staging = await store.makeStaging('test');
      expectFlag(tmp);
      // The staging tree itself is not a top: its layers stay together, in the group it was given.
      expect(flagsOf(staging)).not.toContain('T');
      await store.dropStaging(staging);
      expect(stagingLeft(images)).toEqual([]);
      expectFlag(tmp);
    }
    // Stagings made and dropped at once (imports side by side): none fails, none is left.
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 6; i++) await store.dropStaging(await store.makeStaging('race'));
    }));
    expect(stagingLeft(images)).toEqual([]);
    // A pull's directory is staged the same way.
    const pull = await store.pullDir('0'.repeat(64));
    expectFlag(tmp);
    await store.removePullDir(pull);
    expect(stagingLeft(images)).toEqual([]);
  });

  it('recognises the compression by content, not by name', async () => {
    const wrong = join(files, 'really-zstd.tar.gz');
    writeFileSync(wrong, readFileSync(join(files, 'busybox.tar.zst')));
    expect((await store.importRootfsTarball(wrong, 'bb:misnamed')).id).toBe(firstId);
  });

  it('lists images and resolves NAME (tag latest), ids and id prefixes', async () => {
    await store.importRootfsTarball(join(files, 'busybox.tar'), 'busybox');
    const list = await store.listImages();
    expect(list.map((i) => `${i.name}:${i.tag}`)).toContain('busybox:latest');
    const byName = await store.resolveImage('busybox');
    expect(byName.record.tag).toBe('latest');
    expect((await store.resolveImage(firstId)).record.id).toBe(firstId);
    expect((await store.resolveImage(firstId.slice(7, 19))).record.id).toBe(firstId);
    await expect(store.resolveImage('nope')).rejects.toMatchObject({ code: 'E_NOT_FOUND', message: 'image "nope:latest" not found' });
  });
});

describe('bad archives change nothing', () => {
  const cases: Array<[string, () => Promise<Buffer>, RegExp]> = [
    ['truncated gzip', async () => readFileSync(join(files, 'busybox.tar.gz')).subarray(0, 300_000), /truncated or corrupt: gzip: unexpected end of file/],
    ['truncated zstd', async () => readFileSync(join(files, 'busybox.tar.zst')).subarray(0, 300_000), /truncated or corrupt: zstd/],
    ['truncated xz', async () => readFileSync(join(files, 'busybox.tar.xz')).subarray(0, 300_000), /truncated or corrupt: xz/],
    ['truncated tar', async () => readFileSync(join(files, 'busybox.tar')).subarray(0, 1_000_100), /Unexpected end of data|truncated/],
    ['garbage', async () => Buffer.from('this is not an archive at all\n'.repeat(100)), /not a valid tar stream/],
    ['corrupt gzip body', async () => {
      const b = Buffer.from(readFileSync(join(files, 'busybox.tar.gz')));
      for (let i = 5000; i < 6000; i++) b[i] = 0x55;
      return b;
    }, /truncated or corrupt: gzip|not a valid tar stream/],
  ];
  it.each(cases)('%s', async (_name, make, pattern) => {
    const f = join(files, 'bad.tar.x');
    writeFileSync(f, await make());
    const before = hashTree(images);
    await expectArchiveError(store.importRootfsTarball(f, 'bad:one'), pattern);
    expect(hashTree(images)).toBe(before);
  });
});

describe('malicious archives are rejected, nothing written outside, store unchanged', () => {
  const outside = join(root, 'outside');
  mkdirSync(outside, { recursive: true });
  const ups = '../'.repeat(12) + outside.slice(1);
  const cases: Array<[string, TarEntry[], RegExp]> = [
    ['path traversal', [{ name: 'ok', content: 'x' }, { name: `${ups}/evil`, content: 'pwned' }], /entry ".*evil": path goes outside the image/],
    ['absolute path', [{ name: `${outside}/evil`, content: 'pwned' }], /entry ".*evil": absolute path/],
    ['symlink escape (absolute target)', [{ name: 'esc', type: 'symlink', linkname: outside }, { name: 'esc/evil', content: 'pwned' }], /entry "esc\/evil": parent "esc" is a symlink/],
    ['symlink escape (relative target)', [{ name: 'a', type: 'directory' }, { name: 'a/esc', type: 'symlink', linkname: ups }, { name: 'a/esc/evil', content: 'pwned' }], /entry "a\/esc\/evil": parent "a\/esc" is a symlink/],
    ['hardlink escape', [{ name: 'h', type: 'link', linkname: `${ups}/etc/passwd` }], /entry "h": hardlink target .* outside/],
    ['absolute hardlink', [{ name: 'h', type: 'link', linkname: '/etc/passwd' }], /entry "h": hardlink target "\/etc\/passwd": absolute path/],
    ['hardlink through a symlink', [{ name: 'esc', type: 'symlink', linkname: '/etc' }, { name: 'h', type: 'link', linkname: 'esc/passwd' }], /entry "h": hardlink target "esc\/passwd" goes through symlink "esc"/],
  ];
  it.each(cases)('%s', async (_name, entries, pattern) => {
    const f = join(files, 'evil.tar');
    writeFileSync(f, compress(await makeTar(entries), 'gzip'));
    const before = hashTree(images);
    await expectArchiveError(store.importRootfsTarball(f, 'evil:one'), pattern);
    expect(hashTree(images)).toBe(before);
    expect(readdirSync(outside)).toEqual([]);
  });

  it('keeps absolute symlink targets as data', async () => {
    const f = join(files, 'abs-link.tar');
    writeFileSync(f, await makeTar([{ name: 'etc', type: 'directory' }, { name: 'etc/localtime', type: 'symlink', linkname: '/usr/share/zoneinfo/UTC' }]));
    const rec = await store.importRootfsTarball(f, 'abslink:1');
    const r = await store.resolveImage(rec.id);
    expect(execFileSync('readlink', [join(r.layerDirs[0]!, 'etc/localtime')]).toString().trim()).toBe('/usr/share/zoneinfo/UTC');
  });

  it('enforces the entry limit', async () => {
    const f = join(files, 'many.tar');
    writeFileSync(f, await makeTar(Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, content: '' }))));
    const before = hashTree(images);
    await expectArchiveError(store.importRootfsTarball(f, 'many:1', { limits: { maxEntries: 20 } }), /entry "f20": more than 20 entries/);
    expect(hashTree(images)).toBe(before);
  });
});

describe('CLI', () => {
  const cli = (args: string[]) => spawnSync('node', [join(repo, 'bin/vessel.js'), ...args], { env: { ...process.env, VESSEL_ROOT: root }, encoding: 'utf8' });

  it('imports, lists, inspects and refuses to remove an image in use', () => {
    const imp = cli(['image', 'import', join(files, 'busybox.tar.zst'), 'clitest:1']);
    expect(imp.stderr).toBe('');
    expect(imp.status).toBe(0);
    const id = imp.stdout.trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);

    const table = cli(['images']);
    expect(table.stdout).toMatch(/^NAME\s+TAG\s+ID\s+CREATED\s+SIZE$/m);
    expect(table.stdout).toMatch(new RegExp(`^clitest\\s+1\\s+${id.slice(7, 19)}\\s+`, 'm'));
    const json = JSON.parse(cli(['images', '--json']).stdout) as Array<{ name: string; tag: string; id: string }>;
    expect(json.find((i) => i.name === 'clitest')?.id).toBe(id);

    const insp = JSON.parse(cli(['image', 'inspect', 'clitest:1']).stdout) as { id: string; layers: string[] };
    expect(insp.id).toBe(id);

    const bad = cli(['image', 'import', join(files, 'bad.tar.x'), 'bad:1']);
    expect(bad.status).toBe(125);
    expect(bad.stderr).toMatch(/^vessel: .*bad\.tar\.x: /);

    // Make every other tag of this image go away, so clitest:1 is the last one.
    for (const t of JSON.parse(cli(['images', '--json']).stdout) as Array<{ name: string; tag: string; id: string }>) {
      if (t.id === id && !(t.name === 'clitest' && t.tag === '1')) expect(cli(['image', 'rm', `${t.name}:${t.tag}`]).status).toBe(0);
    }
    mkdirSync(join(root, 'containers', 'web'), { recursive: true });
    writeFileSync(join(root, 'containers', 'web', 'state.json'), JSON.stringify({ name: 'web', imageId: id, status: 'running' }));
    const rm = cli(['image', 'rm', 'clitest:1']);
    expect(rm.status).toBe(125);
    expect(rm.stderr).toMatch(/image "clitest:1" is used by container web/);
    rmSync(join(root, 'containers', 'web'), { recursive: true });
    const rm2 = cli(['image', 'rm', 'clitest:1']);
    expect(rm2.status).toBe(0);
    expect(rm2.stdout).toMatch(/Untagged: clitest:1/);
    expect(cli(['image', 'inspect', 'clitest:1']).status).toBe(125);
  });
});

describe('an import killed mid-stream', () => {
  /** The pids of a process's children (its threads' children lists). */
  const childrenOf = (pid: number): number[] => {
    try {
      return readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      return [];
    }
  };
  const alive = (pid: number) => {
    try {
      // a zombie has exited: only its parent's wait is missing
      return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      return false;
    }
  };

  it('SIGKILL: the gate, its zstd and its tar die with vessel; nothing is visible; prune removes the staging', async () => {
    // 300 000 one-block entries (under the entry limit): tar takes seconds to unpack them.
    const one = (await makeTar([{ name: 'tiny', content: '' }])).subarray(0, 512);
    const big = Buffer.alloc(512 * 300_000 + 1024);
    for (let i = 0; i < 300_000; i++) one.copy(big, i * 512);
    const f = join(files, 'slow.tar.zst');
    writeFileSync(f, compress(big, 'zstd'));
    const before = hashTree(join(images, 'index.json'));
    const child = spawn('node', [join(repo, 'bin/vessel.js'), 'image', 'import', f, 'killed:1'], { env: { ...process.env, VESSEL_ROOT: root }, stdio: 'ignore' });
    const exited = new Promise((res) => child.once('exit', res));
    // the gate (a child of vessel) and its two children, once they run
    let family: number[] = [];
    for (let i = 0; i < 400 && family.length < 3; i++) {
      const gate = childrenOf(child.pid!).find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'vessel-tar-gate');
      family = gate === undefined ? [] : [gate, ...childrenOf(gate)];
      await new Promise((res) => setTimeout(res, 25));
    }
    expect(family.map((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim()).sort()).toEqual(['tar', 'vessel-tar-gate', 'zstd']);
    await new Promise((res) => setTimeout(res, 200));
    child.kill('SIGKILL');
    await exited;
    for (let i = 0; i < 100 && family.some(alive); i++) await new Promise((res) => setTimeout(res, 20));
    expect(family.filter(alive)).toEqual([]);
    expect(hashTree(join(images, 'index.json'))).toBe(before);
    expect(readdirSync(join(images, 'tmp')).some((n) => n.startsWith('import-'))).toBe(true);
    const pruned = spawnSync('node', [join(repo, 'bin/vessel.js'), 'image', 'prune'], { env: { ...process.env, VESSEL_ROOT: root }, encoding: 'utf8' });
    expect(pruned.status, pruned.stderr).toBe(0);
    expect(stagingLeft(images)).toEqual([]);
    rmSync(f);
  }, 120_000);
});
