import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, makeRoot, until, vessel, vesselSpawn, type TestRoot } from '../helpers/vessel.js';
import { hashTree, stagingLeft } from '../helpers/image.js';
import { bigImage, importTestImages } from '../helpers/registry-images.js';
import { events, images, runCleanups, tampered } from '../helpers/registry-cases.js';
import { execAsync, startHttpServer, type HttpServer } from '../helpers/registry-servers.js';

/**
 * What goes wrong, against real servers on 127.0.0.1 (a Node http server with hooks that cut,
 * crash, pace and tamper; file:// registries; a small tmpfs as the image store): no visible
 * half-image, clear errors, stores left byte for byte as they were, resumed pulls that fetch only
 * what is missing, concurrent tags that all survive, signatures checked through the CLI, progress
 * on a TTY, and credentials that never reach the output.
 */
let src: TestRoot;
let srv: HttpServer;
const BIG_MB = 32;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  src = makeRoot('registry-faults-src');
  cleanups.push(() => src.dispose());
  srv = await startHttpServer();
  cleanups.push(() => srv.stop());
  await importTestImages(src);
  await bigImage(src, 'big:latest', BIG_MB);
}, 240_000);

afterAll(() => runCleanups(cleanups), 60_000);

/** A fresh root with busybox in its store (so "unchanged" means something). */
async function dstWithBusybox(tag: string): Promise<TestRoot> {
  const t = makeRoot(tag);
  cleanups.push(() => t.dispose());
  const r = await vessel(t, ['pull', `file://${await fileRegistry()}/busybox:latest`]);
  expect(r.code, r.stderr).toBe(0);
  return t;
}

let fileReg: string | undefined;
/** One file:// registry with busybox, layered and big published, shared by the tests. */
async function fileRegistry(): Promise<string> {
  if (fileReg) return fileReg;
  const dir = mkdtempSync('/tmp/vessel-reg-faults-');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const img of ['busybox', 'layered', 'big']) {
    const r = await vessel(src, ['publish', img, `file://${dir}`], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
  }
  fileReg = dir;
  return dir;
}

const storeOf = (t: TestRoot) => join(t.root, 'images');

function layerOf(dir: string, name: string): { digest: string; size: number } {
  const ref = JSON.parse(readFileSync(join(dir, 'refs', name, '_', 'latest'), 'utf8')) as { digest: string };
  const m = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', ref.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string; size: number }> };
  return m.layers[m.layers.length - 1]!;
}

describe('server dies mid-upload', () => {
  it('a cut connection is retried and the publish completes', async () => {
    srv.failPuts(1);
    const r = await vessel(src, ['publish', '--json', 'big', `${srv.url}/retry`], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(events(r.stdout).some((e) => e.event === 'retry')).toBe(true);
    expect(existsSync(join(srv.root, 'retry/refs/big/_/latest'))).toBe(true);
  });

  it('a server that stays dead: clear error, no ref, and a rerun sends only what is missing', async () => {
    srv.crashOnPut(1); // the base layer goes up, the server dies on the next upload
    const r = await vessel(src, ['publish', '--json', 'layered', `${srv.url}/crash`], { env: { VESSEL_REGISTRY_ATTEMPTS: '3' }, timeoutMs: 120_000 });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/gave up after 3 attempts/);
    expect(r.stderr).toMatch(/a rerun resumes/);
    // Nothing names a half-uploaded image.
    expect(existsSync(join(srv.root, 'crash/refs'))).toBe(false);
    const uploaded = readdirSync(join(srv.root, 'crash/blobs/sha256')).filter((f) => !f.endsWith('.upload'));
    expect(uploaded).toHaveLength(1);
    await srv.restart();
    const again = await vessel(src, ['publish', '--json', 'layered', `${srv.url}/crash`], { timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    const blobs = events(again.stdout).filter((e) => e.event === 'blob');
    expect(blobs.filter((e) => e.action === 'skip').map((e) => (e.digest as string).slice(7)).sort()).toEqual(uploaded.sort());
    expect(JSON.parse((await vessel(src, ['tags', '--json', `${srv.url}/crash/layered`])).stdout)).toEqual(['latest']);
  });
});

describe('wrong credentials', () => {
  it('http basic auth: clear error, the password never printed (even in debug logs)', async () => {
    const auth = await startHttpServer({ auth: { user: 'vessel', password: 'right-password-123' } });
    cleanups.push(() => auth.stop());
    const url = auth.url.replace('://', '://vessel:wrong-password-456@');
    const r = await vessel(src, ['publish', 'busybox', url], { env: { VESSEL_LOG_LEVEL: 'debug' } });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/access denied \(HTTP 401\)/);
    expect(r.stdout + r.stderr).not.toContain('wrong-password-456');
    const ok = await vessel(src, ['publish', '--json', 'busybox', auth.url.replace('://', '://vessel:right-password-123@')], { env: { VESSEL_LOG_LEVEL: 'debug' } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout + ok.stderr).not.toContain('right-password-123');
    expect(ok.stdout).toContain(`"registry":"${auth.url.replace('://', '://vessel:***@')}"`);
  });
});

describe('tampered blobs', () => {
  it('http: a layer whose bytes changed on the server is refused; the store is unchanged', async () => {
    const p = await vessel(src, ['publish', 'layered', `${srv.url}/tamper`]);
    expect(p.code, p.stderr).toBe(0);
    const layer = layerOf(join(srv.root, 'tamper'), 'layered');
    const real = readFileSync(join(srv.root, 'tamper/blobs/sha256', layer.digest.slice(7)));
    const fake = tampered(real);
    srv.tamper(`/tamper/blobs/sha256/${layer.digest.slice(7)}`, fake);
    const dst = await dstWithBusybox('registry-tamper-http');
    const before = hashTree(storeOf(dst));
    const r = await vessel(dst, ['pull', `${srv.url}/tamper/layered:latest`]);
    srv.tamper(`/tamper/blobs/sha256/${layer.digest.slice(7)}`, undefined);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/digest mismatch/);
    expect(hashTree(storeOf(dst))).toBe(before);
  });

  it('file://: a changed blob file is refused; the store is unchanged', async () => {
    const dir = mkdtempSync('/tmp/vessel-reg-tamper-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    expect((await vessel(src, ['publish', 'layered', `file://${dir}`])).code).toBe(0);
    const layer = layerOf(dir, 'layered');
    const f = join(dir, 'blobs/sha256', layer.digest.slice(7));
    const b = readFileSync(f);
    b.writeUInt8(b.readUInt8(10) ^ 0x01, 10);
    writeFileSync(f, b);
    const dst = await dstWithBusybox('registry-tamper-file');
    const before = hashTree(storeOf(dst));
    const r = await vessel(dst, ['pull', `file://${dir}/layered:latest`]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/digest mismatch/);
    expect(hashTree(storeOf(dst))).toBe(before);
  });
});

describe('the disk fills during a pull', () => {
  it('a small tmpfs as the image store: clear error, store unchanged', async () => {
    const reg = await fileRegistry();
    const t = makeRoot('registry-enospc');
    const store = storeOf(t);
    mkdirSync(store, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', store]);
    cleanups.push(() => {
      execFileSync('umount', [store]);
      t.dispose();
    });
    const b = await vessel(t, ['pull', `file://${reg}/busybox:latest`]);
    expect(b.code, b.stderr).toBe(0);
    const before = hashTree(store);
    const r = await vessel(t, ['pull', `file://${reg}/big:latest`], { timeoutMs: 120_000 });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/no space left on device while pulling/);
    expect(r.stderr).toMatch(/nothing was stored/);
    expect(hashTree(store)).toBe(before);
    expect((await images(t)).map((i) => i.name)).toEqual(['busybox']);
  });
});

describe('an interrupted pull', () => {
  it('killed mid-transfer, the rerun fetches only the missing bytes (server-side count)', async () => {
    const p = await vessel(src, ['publish', 'big', `${srv.url}/resume`], { timeoutMs: 120_000 });
    expect(p.code, p.stderr).toBe(0);
    const layer = layerOf(join(srv.root, 'resume'), 'big');
    expect(layer.size).toBeGreaterThan(BIG_MB * 1e6 * 0.9);
    const dst = makeRoot('registry-resume');
    cleanups.push(() => dst.dispose());
    srv.throttleGets(16 << 20);
    const child = vesselSpawn(dst, ['pull', '--json', `${srv.url}/resume/big:latest`]);
    const exited = new Promise((r) => child.once('exit', r));
    try {
      // Kill it once a quarter of the layer has arrived.
      await until(() => events(child.output()).some((e) => e.event === 'progress' && (e.done as number) > layer.size / 4), 60_000, 'a quarter of the layer');
    } finally {
      child.kill('SIGKILL');
      srv.throttleGets(0);
    }
    await exited;
    const mark = srv.requests.length;
    const r = await vessel(dst, ['pull', '--json', `${srv.url}/resume/big:latest`], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const gets = srv.requests.slice(mark).filter((q) => q.method === 'GET' && q.path.endsWith(layer.digest.slice(7)));
    expect(gets).toHaveLength(1);
    const from = Number(/^bytes=(\d+)-$/.exec(gets[0]!.range ?? '')?.[1] ?? 0);
    expect(from).toBeGreaterThan(layer.size / 4);
    expect(gets[0]!.sent).toBe(layer.size - from);
    const done = events(r.stdout).find((e) => e.event === 'done')!;
    expect(done.transferred).toBe(layer.size - from);
    expect(events(r.stdout).some((e) => e.event === 'blob' && e.action === 'resume')).toBe(true);
    expect((await images(dst)).find((i) => i.name === 'big')?.id).toBe((await images(src)).find((i) => i.name === 'big')?.id);
    // The pull directory is gone once committed.
    expect(stagingLeft(storeOf(dst))).toEqual([]);
  });
});

describe('a pull killed after its commit', () => {
  // SIGKILL between committing the image and removing its download directory leaves the
  // directory behind with nothing to resume: the next pull of that image removes it, and so does
  // prune — but neither while a live pull of that manifest holds its lock.
  it('the rerun and image prune remove the leftover directory; a live pull\'s is kept', async () => {
    const dst = await dstWithBusybox('registry-leftover');
    const url = `file://${await fileRegistry()}/layered:latest`;
    const first = await vessel(dst, ['pull', '--json', url], { timeoutMs: 120_000 });
    expect(first.code, first.stderr).toBe(0);
    const key = (events(first.stdout).find((e) => e.event === 'done')!.digest as string).slice(7);
    const dir = join(storeOf(dst), 'tmp', `pull-${key}`);
    const leave = () => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${'0'.repeat(64)}.part`), 'left by a killed run');
    };
    leave();
    const again = await vessel(dst, ['pull', url], { timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(stagingLeft(storeOf(dst))).toEqual([]);

    // A live pull holds the manifest's lock (its owner's pid, alive: this test's): kept.
    leave();
    const lock = join(dst.root, 'run', 'locks', `pull-${key.slice(0, 32)}.lock`);
    mkdirSync(join(dst.root, 'run', 'locks'), { recursive: true });
    writeFileSync(lock, `${process.pid}\n`);
    const held = await vessel(dst, ['image', 'prune']);
    expect(held.code, held.stderr).toBe(0);
    expect(held.stderr).toMatch(/blobs and layers kept: an import or pull is in progress \(a pull of manifest sha256:/);
    expect(existsSync(dir)).toBe(true);
    rmSync(lock);
    const pruned = await vessel(dst, ['image', 'prune']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(stagingLeft(storeOf(dst))).toEqual([]);
    expect((await images(dst)).map((i) => i.name).sort()).toEqual(['busybox', 'layered']);
  }, 180_000);
});

describe('concurrent publishes', () => {
  it('http (tag index by compare-and-swap on ETags): six tags published at once all survive', async () => {
    const tags = ['a', 'b', 'c', 'd', 'e', 'f'];
    const rs = await Promise.all(tags.map((t) => vessel(src, ['publish', '--as', `layered:${t}`, 'layered', `${srv.url}/race`], { timeoutMs: 120_000 })));
    for (const r of rs) expect(r.code, r.stderr).toBe(0);
    const l = await vessel(src, ['tags', '--json', `${srv.url}/race/layered`]);
    expect(JSON.parse(l.stdout)).toEqual(tags);
  });

  it('http without ETags: the write-and-check fallback still lists every tag', async () => {
    // No compare-and-swap here: concurrent writers can only be narrowed, not excluded (documented),
    // so this checks the fallback path itself with publishes one after the other.
    const plain = await startHttpServer({ etags: false });
    cleanups.push(() => plain.stop());
    for (const t of ['one', 'two', 'three']) {
      const r = await vessel(src, ['publish', '--as', `layered:${t}`, 'layered', plain.url]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(JSON.parse((await vessel(src, ['tags', '--json', `${plain.url}/layered`])).stdout)).toEqual(['one', 'three', 'two']);
    expect(plain.requests.some((q) => q.method === 'PUT' && q.path.endsWith('_tags.json'))).toBe(true);
  });

  it('file:// (tags listed from the refs): six tags published at once all survive', async () => {
    const dir = mkdtempSync('/tmp/vessel-reg-race-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const tags = ['a', 'b', 'c', 'd', 'e', 'f'];
    const rs = await Promise.all(tags.map((t) => vessel(src, ['publish', '--as', `layered:${t}`, 'layered', `file://${dir}`], { timeoutMs: 120_000 })));
    for (const r of rs) expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse((await vessel(src, ['tags', '--json', `file://${dir}/layered`])).stdout)).toEqual(tags);
  });
});

describe('signatures through the CLI', () => {
  let keys: string;
  beforeAll(() => {
    keys = mkdtempSync('/tmp/vessel-keys-');
    cleanups.push(() => rmSync(keys, { recursive: true, force: true }));
    for (const k of ['good', 'other']) {
      execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', join(keys, `${k}.pem`)]);
      execFileSync('openssl', ['pkey', '-in', join(keys, `${k}.pem`), '-pubout', '-out', join(keys, `${k}.pub`)]);
    }
  });

  it('publish --sign, pull --verify: accepted with the right key; unsigned or another key refused, nothing committed', async () => {
    const dir = mkdtempSync('/tmp/vessel-reg-sign-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const s = await vessel(src, ['publish', '--sign', join(keys, 'good.pem'), '--as', 'layered:signed', 'layered', `file://${dir}`]);
    expect(s.code, s.stderr).toBe(0);
    // A signature vouches for a manifest digest: an unsigned image is one with another manifest.
    const u = await vessel(src, ['publish', '--as', 'busybox:unsigned', 'busybox', `file://${dir}`]);
    expect(u.code, u.stderr).toBe(0);
    const dst = await dstWithBusybox('registry-sign');
    const before = hashTree(storeOf(dst));

    const wrong = await vessel(dst, ['pull', '--verify', join(keys, 'other.pub'), `file://${dir}/layered:signed`]);
    expect(wrong.code).toBe(125);
    expect(wrong.stderr).toMatch(/does not verify with the given public key.*refusing it/);
    const unsigned = await vessel(dst, ['pull', '--verify', join(keys, 'good.pub'), `file://${dir}/busybox:unsigned`]);
    expect(unsigned.code).toBe(125);
    expect(unsigned.stderr).toMatch(/not signed .*refusing it because --verify was given/);
    expect(hashTree(storeOf(dst))).toBe(before);

    const ok = await vessel(dst, ['pull', '--verify', join(keys, 'good.pub'), `file://${dir}/layered:signed`]);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await images(dst)).some((i) => i.name === 'layered' && i.tag === 'signed')).toBe(true);
  });
});

describe('progress', () => {
  it('on a TTY: a bar with bytes, rate and ETA', async () => {
    const dir = mkdtempSync('/tmp/vessel-reg-tty-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // script(1) gives the command a pseudo-terminal, as a user's shell would.
    const out = await execAsync(['script', '-qec', `${process.execPath} ${BIN} publish big file://${dir}`, '/dev/null'], src.env as Record<string, string>);
    const last = out.split('\r').map((l) => l.replace(/\x1b\[K/g, '')).filter((l) => l.includes('ETA')).pop() ?? '';
    expect(last).toMatch(/^publishing big \[#{24}\] 100% {2}\d+(\.\d+)? MB \/ \d+(\.\d+)? MB {2}\S+ [kMG]?B\/s {2}ETA \d\d:\d\d/);
    expect(statSync(join(dir, 'refs/big/_/latest')).isFile()).toBe(true);
  });

  it('--json: start, blob, progress and done events', async () => {
    const dir = mkdtempSync('/tmp/vessel-reg-json-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const r = await vessel(src, ['publish', '--json', 'big', `file://${dir}`], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const ev = events(r.stdout).map((e) => e.event);
    expect(ev[0]).toBe('start');
    expect(ev).toContain('blob');
    expect(ev.at(-1)).toBe('done');
  });
});

describe('bad URLs', () => {
  it('an unknown scheme or a malformed URL: clear error, nothing done', async () => {
    const a = await vessel(src, ['publish', 'busybox', 'gopher://127.0.0.1/x']);
    expect(a.code).toBe(125);
    expect(a.stderr).toMatch(/registry URL "gopher:\/\/127\.0\.0\.1\/x": unknown scheme "gopher"/);
    const b = await vessel(src, ['pull', 'not a url/x:y', '--registry', 'http://[::1']);
    expect(b.code).toBe(125);
    expect(b.stderr).toMatch(/malformed URL|not a URL/);
    const c = await vessel(src, ['pull', 'sftp://user:s3cret@/path/x:1']);
    expect(c.code).toBe(125);
    expect(c.stderr).not.toContain('s3cret');
  });
});
