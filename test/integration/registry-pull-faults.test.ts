import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxTarball, makeRoot, processesMentioning, until, vessel, vesselSpawn, type TestRoot } from '../helpers/vessel.js';
import { hashTree, stagingLeft } from '../helpers/image.js';
import { manyLayerImage } from '../helpers/registry-images.js';
import { events, images, runCleanups, tampered } from '../helpers/registry-cases.js';
import { awsCli, startRadosgw, startS3rver, startSshd, startTcpProxy, type S3Server, type SshServer, type TcpProxy } from '../helpers/registry-servers.js';
import { seededRandom } from '../helpers/random.js';

/**
 * The pull path's own transports under faults, against the real servers: S3 through vessel's
 * small signed client (Ceph radosgw, which checks every signature; s3rver) and sftp through ssh2
 * to OpenSSH's sshd. A TCP proxy in front of each server slows a transfer so that it can be
 * killed in its middle, cuts every connection as a dying server would, and counts the bytes a
 * rerun fetched. What must hold on every transport: an interrupted pull leaves no image and its
 * rerun fetches only what is missing; a tampered layer is refused with the store unchanged.
 */
let src: TestRoot;
let rgw: S3Server;
let s3rver: S3Server;
let ssh: SshServer;
const cleanups: Array<() => Promise<void> | void> = [];
const LAYERS = 3;
const MB = 6;

interface Target {
  /** Where the image is published (straight to the server). */
  publish: string;
  /** The same registry through the proxy. */
  pull: string;
  env: Record<string, string>;
  proxy: TcpProxy;
  /** Replace a blob's bytes on the server (undefined: put the real ones back). */
  tamper(hex: string, bytes: Buffer | undefined): Promise<void>;
  /** A blob's bytes on the server. */
  blob(hex: string): Promise<Buffer>;
}
const targets: Record<string, Target> = {};

beforeAll(async () => {
  src = makeRoot('registry-pull-faults-src');
  cleanups.push(() => src.dispose());
  const servers = Promise.all([startRadosgw(), startS3rver(), startSshd()]);
  servers.then((all) => cleanups.push(...all.map((s) => () => s.stop())), () => undefined);
  await manyLayerImage(src, 'many:latest', LAYERS, MB);
  // Every way a layer is unpacked: plain (hashed by the gate alone), zstd (followed), gzip (zlib).
  await manyLayerImage(src, 'mixed:latest', LAYERS, MB, ['none', 'zstd', 'gzip']);
  [rgw, s3rver, ssh] = await servers;

  const s3Proxy = await startTcpProxy(Number(new URL(rgw.endpoint).port));
  const sshProxy = await startTcpProxy(ssh.port);
  cleanups.push(() => s3Proxy.stop(), () => sshProxy.stop());
  const originals = new Map<string, Buffer>();
  const s3Key = (hex: string) => `s3://${rgw.bucket}/faults/blobs/sha256/${hex}`;
  targets.s3 = {
    publish: `s3://${rgw.bucket}/faults`,
    pull: `s3://${rgw.bucket}/faults`,
    env: { ...rgw.env, AWS_ENDPOINT_URL: `http://127.0.0.1:${s3Proxy.port}` },
    proxy: s3Proxy,
    blob: async (hex) => {
      const f = join(src.root, `blob-${hex}`);
      await awsCli(rgw, ['s3', 'cp', '--only-show-errors', s3Key(hex), f]);
      return readFileSync(f);
    },
    async tamper(hex, bytes) {
      const f = join(src.root, `tamper-${hex}`);
      if (bytes && !originals.has(hex)) originals.set(hex, await this.blob(hex));
      writeFileSync(f, bytes ?? originals.get(hex)!);
      await awsCli(rgw, ['s3', 'cp', '--only-show-errors', f, s3Key(hex)]);
    },
  };
  const pin = `?hostkey=${encodeURIComponent(ssh.hostFingerprint)}`;
  const sftpFile = (hex: string) => join(ssh.dir, 'faults', 'blobs', 'sha256', hex);
  targets.sftp = {
    publish: `sftp://root@127.0.0.1:${ssh.port}${ssh.dir}/faults${pin}`,
    pull: `sftp://root@127.0.0.1:${sshProxy.port}${ssh.dir}/faults`,
    env: { VESSEL_SSH_KEY: ssh.key },
    proxy: sshProxy,
    blob: async (hex) => readFileSync(sftpFile(hex)),
    async tamper(hex, bytes) {
      if (bytes && !originals.has(hex)) originals.set(hex, readFileSync(sftpFile(hex)));
      writeFileSync(sftpFile(hex), bytes ?? originals.get(hex)!);
    },
  };
  for (const [name, t] of Object.entries(targets)) {
    for (const img of ['many', 'mixed']) {
      const p = await vessel(src, ['publish', img, t.publish], { env: t.env.AWS_ENDPOINT_URL ? rgw.env : t.env, timeoutMs: 180_000 });
      if (p.code !== 0) throw new Error(`publish ${img} to ${name}: ${p.stderr}`);
    }
  }
}, 300_000);

afterAll(() => runCleanups(cleanups), 60_000);

/** The image through the proxy: URL/NAME:latest (the sftp host key pinned as the query). */
function image(t: Target, name = 'many'): string {
  const q = t.pull.startsWith('sftp:') ? `?hostkey=${encodeURIComponent(ssh.hostFingerprint)}` : '';
  return `${t.pull}/${name}:latest${q}`;
}

/** The published image's layers (the same manifest on every server: read from sshd's directory). */
function layersOf(): Array<{ digest: string; size: number }> {
  const reg = join(ssh.dir, 'faults');
  const ref = JSON.parse(readFileSync(join(reg, 'refs', 'many', '_', 'latest'), 'utf8')) as { digest: string };
  return (JSON.parse(readFileSync(join(reg, 'blobs', 'sha256', ref.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string; size: number }> }).layers;
}

const idOf = async (t: TestRoot) => (await images(t)).find((i) => i.name === 'many')?.id;
const storeOf = (t: TestRoot) => join(t.root, 'images');
const readdirOrEmpty = (d: string): string[] => (existsSync(d) ? readdirSync(d) : []);

const total = LAYERS * (MB << 20);

/**
 * A pull through the target's proxy, slowed so that it is still running when a third of the
 * image has arrived; then `interrupt` runs (kill the pull, or the server) and the pace is lifted.
 */
async function pullTillAThird(t: Target, tag: string, env: Record<string, string>, interrupt: (pull: ChildProcess) => void) {
  const dst = makeRoot(`registry-pull-faults-${tag}`);
  cleanups.push(() => dst.dispose());
  t.proxy.throttle(6 << 20);
  const child = vesselSpawn(dst, ['pull', '--json', image(t)], { env: { ...t.env, ...env } });
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  try {
    await until(() => events(child.output()).some((e) => e.event === 'progress' && (e.done as number) > total / 3), 90_000, 'a third of the image');
    interrupt(child);
  } catch (e) {
    child.kill('SIGKILL'); // never left running by a failed test
    throw e;
  } finally {
    t.proxy.throttle(0);
  }
  return { dst, child, exited };
}

describe.each(['s3', 'sftp'])('%s: an interrupted pull', (name) => {
  it('SIGKILL mid-pull: no image visible; the rerun fetches only the missing bytes', async () => {
    const t = targets[name]!;
    const { dst, exited } = await pullTillAThird(t, `kill-${name}`, {}, (pull) => pull.kill('SIGKILL'));
    await exited;
    expect(await idOf(dst)).toBeUndefined();
    // OpenSSH's client goes with the pull that ran it (its stdin closed with the killed process).
    if (name === 'sftp') await until(() => processesMentioning(`-p ${t.proxy.port} `).length === 0, 15_000, 'the ssh client to exit');
    const before = t.proxy.down();
    const mark = t.proxy.requests.length;
    const r = await vessel(dst, ['pull', '--json', image(t)], { env: t.env, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const fetched = t.proxy.down() - before;
    // What the rerun moved: about the two thirds it lacked (plus requests and protocol), not all of it.
    expect(fetched).toBeLessThan(total * 0.8);
    expect(events(r.stdout).find((e) => e.event === 'done')!.transferred as number).toBeLessThan(total * 0.75);
    if (name === 's3') expect(t.proxy.requests.slice(mark).some((q) => q.method === 'GET' && /^bytes=[1-9]\d*-$/.test(q.range ?? ''))).toBe(true);
    expect(await idOf(dst)).toBe(await idOf(src));
    expect(stagingLeft(storeOf(dst))).toEqual([]);
  });

  it('the server killed mid-pull: clear error, no image visible; once it is back, the rerun fetches only what is missing', async () => {
    const t = targets[name]!;
    const { dst, child, exited } = await pullTillAThird(t, `crash-${name}`, { VESSEL_REGISTRY_ATTEMPTS: '2' }, () => t.proxy.crash());
    expect(await exited).toBe(125);
    expect(child.output()).toMatch(/gave up after 2 attempts/);
    expect(await idOf(dst)).toBeUndefined();
    await t.proxy.restore();
    const before = t.proxy.down();
    const r = await vessel(dst, ['pull', '--json', image(t)], { env: t.env, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(t.proxy.down() - before).toBeLessThan(total * 0.8);
    expect(await idOf(dst)).toBe(await idOf(src));
  });
});

describe.each(['s3', 'sftp'])('%s: SIGKILL at random moments', (name) => {
  // Kills land anywhere: before the connection, in the manifest, mid-layer (plain, zstd, gzip),
  // in the commit, after it. Whatever the moment, the store shows the image whole or not at all,
  // the next pull completes it, and removing the image and pruning leaves no trace.
  const ROUNDS = 6;
  const seed = Number(process.env.VESSEL_KILL_SEED ?? Date.now() % 1e9);
  it(`${ROUNDS} rounds: whole or absent, the rerun completes, prune leaves nothing (seed ${seed})`, async () => {
    const t = targets[name]!;
    const rnd = seededRandom(seed);
    const dst = makeRoot(`registry-pull-faults-random-${name}`);
    cleanups.push(() => dst.dispose());
    const want = (await images(src)).find((i) => i.name === 'mixed')?.id;
    expect(want).toBeDefined();
    const mixedId = async () => (await images(dst)).find((i) => i.name === 'mixed')?.id;
    for (let round = 0; round < ROUNDS; round++) {
      const at = `round ${round}, seed ${seed}`;
      // Slowed so that the whole pull spans ~2 s; one kill, sometimes a second on the first rerun.
      t.proxy.throttle(10 << 20);
      try {
        const kills = rnd() < 0.3 ? 2 : 1;
        for (let kill = 0; kill < kills; kill++) {
          const child = vesselSpawn(dst, ['pull', image(t, 'mixed')], { env: t.env });
          const exited = new Promise((r) => child.once('exit', r));
          await new Promise((r) => setTimeout(r, Math.floor(rnd() * 2200)));
          child.kill('SIGKILL');
          await exited;
          const id = await mixedId();
          expect(id === undefined || id === want, at).toBe(true);
        }
      } finally {
        t.proxy.throttle(0);
      }
      const r = await vessel(dst, ['pull', image(t, 'mixed')], { env: t.env, timeoutMs: 120_000 });
      expect(r.code, `${at}: ${r.stderr}`).toBe(0);
      expect(await mixedId(), at).toBe(want);
      expect(stagingLeft(storeOf(dst)), `${at}: tmp/ after the rerun`).toEqual([]);
      expect((await vessel(dst, ['image', 'rm', 'mixed'])).code, at).toBe(0);
      const p = await vessel(dst, ['image', 'prune']);
      expect(p.code, `${at}: ${p.stderr}`).toBe(0);
      expect(readdirOrEmpty(join(storeOf(dst), 'layers')), `${at}: layers after prune`).toEqual([]);
      expect(stagingLeft(storeOf(dst)), `${at}: tmp/ after prune`).toEqual([]);
    }
    // Nothing outlives the pulls it served: no gate, tar or decompressor working in this store,
    // no ssh client.
    await until(() => processesMentioning(dst.root).length === 0, 15_000, 'no process of this store left');
    if (name === 'sftp') await until(() => processesMentioning(`-p ${t.proxy.port} `).length === 0, 15_000, 'no ssh client left');
  }, 300_000);
});

describe.each(['s3', 'sftp'])('%s: a tampered layer', (name) => {
  it('is refused; the store is byte for byte unchanged', async () => {
    const t = targets[name]!;
    const layers = layersOf();
    const victim = layers[1]!.digest.slice(7);
    const real = await t.blob(victim);
    const fake = tampered(real);
    await t.tamper(victim, fake);
    try {
      const dst = makeRoot(`registry-pull-faults-tamper-${name}`);
      cleanups.push(() => dst.dispose());
      expect((await vessel(dst, ['image', 'import', busyboxTarball(), 'busybox:latest'])).code).toBe(0);
      const before = hashTree(storeOf(dst));
      const r = await vessel(dst, ['pull', image(t)], { env: t.env, timeoutMs: 120_000 });
      expect(r.code).toBe(125);
      // Whichever sees it first: the digest at the blob's end, or gzip's own check while unpacking.
      expect(r.stderr).toMatch(/digest mismatch|truncated or corrupt: gzip/);
      expect(hashTree(storeOf(dst))).toBe(before);
    } finally {
      await t.tamper(victim, undefined);
    }
  });
});

describe('sftp: keys and host keys, through OpenSSH\'s client', () => {
  const pull = (dst: TestRoot, env: Record<string, string>, url = image(targets.sftp!)) => vessel(dst, ['pull', url], { env: { ...targets.sftp!.env, ...env }, timeoutMs: 120_000 });

  it('a key with a passphrase: VESSEL_SSH_PASSPHRASE opens it; a wrong one is an authentication failure, never printed', async () => {
    const key = join(ssh.dir, 'locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'open sesame', '-f', key]);
    appendFileSync(join(ssh.dir, 'authorized_keys'), readFileSync(`${key}.pub`));
    const ok = makeRoot('registry-pull-faults-passphrase');
    cleanups.push(() => ok.dispose());
    const r = await pull(ok, { VESSEL_SSH_KEY: key, VESSEL_SSH_PASSPHRASE: 'open sesame' });
    expect(r.code, r.stderr).toBe(0);
    expect(await idOf(ok)).toBe(await idOf(src));
    const bad = makeRoot('registry-pull-faults-passphrase-bad');
    cleanups.push(() => bad.dispose());
    const w = await pull(bad, { VESSEL_SSH_KEY: key, VESSEL_SSH_PASSPHRASE: 'not it', VESSEL_LOG_LEVEL: 'debug' });
    expect(w.code).toBe(125);
    expect(w.stderr).toMatch(/ssh authentication failed for user "root"/);
    expect(w.stdout + w.stderr).not.toContain('not it');
  });

  it('a key others can read, and a file that is no key: one clear line each', async () => {
    const open = join(ssh.dir, 'open-key');
    copyFileSync(ssh.key, open);
    chmodSync(open, 0o644);
    const dst = makeRoot('registry-pull-faults-keyfile');
    cleanups.push(() => dst.dispose());
    const r = await pull(dst, { VESSEL_SSH_KEY: open });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/ssh authentication failed for user "root": ssh could not use the key \(bad permissions\)/);
    expect(r.stderr).toMatch(/chmod 600/);
    const junk = join(ssh.dir, 'junk-key');
    writeFileSync(junk, 'PuTTY-User-Key-File-3: ssh-ed25519\nnot really\n', { mode: 0o600 });
    const j = await pull(dst, { VESSEL_SSH_KEY: junk });
    expect(j.code).toBe(125);
    // OpenSSH names it "invalid format" or "error in libcrypto", as its version has it.
    expect(j.stderr).toMatch(/ssh could not use the key \((invalid format|error in libcrypto)\)/);
    expect(j.stderr).toMatch(/OpenSSH or PEM format/);
  });

  it('hashed known_hosts entries are honoured (no pin in the URL)', async () => {
    const kh = join(ssh.dir, 'known_hosts_hashed');
    const line = readFileSync(ssh.knownHosts, 'utf8').replace(/^\[127\.0\.0\.1\]:\d+/, `[127.0.0.1]:${targets.sftp!.proxy.port}`);
    writeFileSync(kh, line);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', kh]);
    expect(readFileSync(kh, 'utf8')).toMatch(/^\|1\|/);
    const dst = makeRoot('registry-pull-faults-hashed');
    cleanups.push(() => dst.dispose());
    const r = await pull(dst, { VESSEL_KNOWN_HOSTS: kh }, `${targets.sftp!.pull}/many:latest`);
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('S3: who we are and where the bucket is', () => {
  it('a wrong secret key: access denied, the secret never printed, nothing stored', async () => {
    const secret = 'not-the-secret-0123456789';
    const dst = makeRoot('registry-pull-faults-secret');
    cleanups.push(() => dst.dispose());
    expect((await vessel(dst, ['image', 'import', busyboxTarball(), 'busybox:latest'])).code).toBe(0);
    const before = hashTree(storeOf(dst));
    const r = await vessel(dst, ['pull', image(targets.s3!)], { env: { ...targets.s3!.env, AWS_SECRET_ACCESS_KEY: secret, VESSEL_LOG_LEVEL: 'debug' } });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/access denied \((SignatureDoesNotMatch|HTTP 403)\)/);
    expect(r.stdout + r.stderr).not.toContain(secret);
    expect(hashTree(storeOf(dst))).toBe(before);
  });

  it('credentials from a profile: plain keys in the shared files, and a credential process (the SDK\'s chain)', async () => {
    const dir = src.root;
    const creds = join(dir, 'aws-credentials');
    const config = join(dir, 'aws-config');
    const proc = join(dir, 'creds.sh');
    writeFileSync(creds, `[plain]\naws_access_key_id = ${rgw.env.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${rgw.env.AWS_SECRET_ACCESS_KEY}\n`);
    writeFileSync(proc, `#!/bin/sh\necho '{"Version":1,"AccessKeyId":"${rgw.env.AWS_ACCESS_KEY_ID}","SecretAccessKey":"${rgw.env.AWS_SECRET_ACCESS_KEY}"}'\n`);
    chmodSync(proc, 0o755);
    writeFileSync(config, `[profile plain]\nregion = us-east-1\n[profile process]\nregion = us-east-1\ncredential_process = ${proc}\n`);
    for (const profile of ['plain', 'process']) {
      const dst = makeRoot(`registry-pull-faults-profile-${profile}`);
      cleanups.push(() => dst.dispose());
      const env = { AWS_ENDPOINT_URL: rgw.endpoint, AWS_PROFILE: profile, AWS_SHARED_CREDENTIALS_FILE: creds, AWS_CONFIG_FILE: config, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_REGION: '' };
      const r = await vessel(dst, ['pull', `s3://${rgw.bucket}/faults/many:latest`], { env, timeoutMs: 120_000 });
      expect(r.code, `${profile}: ${r.stderr}`).toBe(0);
      expect(await idOf(dst)).toBe(await idOf(src));
    }
  });

  it('a bucket that does not exist, and an image that does not: one clear line each', async () => {
    const dst = makeRoot('registry-pull-faults-nobucket');
    cleanups.push(() => dst.dispose());
    const nb = await vessel(dst, ['pull', 's3://no-such-bucket/x/many:latest'], { env: s3rver.env });
    expect(nb.code).toBe(125);
    expect(nb.stderr).toMatch(/bucket "no-such-bucket" does not exist/);
    const ni = await vessel(dst, ['pull', `s3://${s3rver.bucket}/empty/many:latest`], { env: s3rver.env });
    expect(ni.code).toBe(125);
    expect(ni.stderr).toMatch(/many:latest: no such image/);
  });
});
