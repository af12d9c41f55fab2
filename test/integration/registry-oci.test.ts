import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeRoot, vessel, type TestRoot } from '../helpers/vessel.js';
import { hashTree } from '../helpers/image.js';
import { importTestImages, layeredArchive } from '../helpers/registry-images.js';
import { events, images } from '../helpers/registry-cases.js';
import { execAsync, startDockerRegistry, type OciServer } from '../helpers/registry-servers.js';

/**
 * The OCI distribution API against Debian's docker-registry behind a bearer-token server, with
 * skopeo on the other side: what vessel pushes skopeo pulls, what skopeo pushes vessel pulls (and
 * runs). Signatures stored as a `sha256-<hex>.sig` tag and checked through the CLI. Credentials
 * never reach the output, even with debug logs.
 */
let src: TestRoot;
let reg: OciServer;
let tmp: string;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  src = makeRoot('registry-oci-src');
  cleanups.push(() => src.dispose());
  tmp = mkdtempSync('/tmp/vessel-oci-test-');
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  reg = await startDockerRegistry({ token: true });
  cleanups.push(() => reg.stop());
  await importTestImages(src);
}, 180_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const env = () => ({ VESSEL_REGISTRY_USER: reg.user!, VESSEL_REGISTRY_PASSWORD: reg.password! });
// Asynchronous: the token server runs in this process, a sync exec would deadlock it.
const skopeo = (args: string[]) => execAsync(['skopeo', ...args]);
const creds = () => `${reg.user}:${reg.password}`;

describe('skopeo interop', () => {
  it('an image vessel pushed is copied by skopeo, and imports back with the same id', async () => {
    const p = await vessel(src, ['publish', '--json', 'layered', `oci://${reg.hostPort}/vessel`], { env: env() });
    expect(p.code, p.stderr).toBe(0);
    const digest = events(p.stdout).find((e) => e.event === 'done')?.digest;
    const inspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', '--creds', creds(), `docker://${reg.hostPort}/vessel/layered:latest`])) as { Digest: string };
    expect(inspect.Digest).toBe(digest);
    const archive = join(tmp, 'from-vessel.tar');
    await skopeo(['copy', '--src-tls-verify=false', '--src-creds', creds(), `docker://${reg.hostPort}/vessel/layered:latest`, `oci-archive:${archive}:latest`]);
    const back = makeRoot('registry-oci-back');
    cleanups.push(() => back.dispose());
    const r = await vessel(back, ['image', 'import', archive, 'layered:latest']);
    expect(r.code, r.stderr).toBe(0);
    expect((await images(back)).find((i) => i.name === 'layered')?.id).toBe((await images(src)).find((i) => i.name === 'layered')?.id);
  });

  it('an image skopeo pushed is pulled by vessel and runs', async () => {
    const archive = join(tmp, 'for-skopeo.tar');
    await layeredArchive(archive, 'pushed by skopeo');
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds(), `oci-archive:${archive}:latest`, `docker://${reg.hostPort}/vessel/fromskopeo:v1`]);
    const dst = makeRoot('registry-oci-skopeo');
    cleanups.push(() => dst.dispose());
    const r = await vessel(dst, ['pull', `oci://${reg.hostPort}/vessel/fromskopeo:v1`], { env: env(), timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const run = await vessel(dst, ['run', '--rm', 'fromskopeo:v1', 'cat', '/etc/motd']);
    expect(run.stdout, run.stderr).toBe('pushed by skopeo\n');
  });
});

describe('signatures on the OCI registry', () => {
  let keys: string;
  beforeAll(() => {
    keys = join(tmp, 'keys');
    execFileSync('mkdir', ['-p', keys]);
    for (const k of ['good', 'other']) {
      execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', join(keys, `${k}.pem`)]);
      execFileSync('openssl', ['pkey', '-in', join(keys, `${k}.pem`), '-pubout', '-out', join(keys, `${k}.pub`)]);
    }
  });

  it('publish --sign stores a .sig tag; pull --verify accepts the right key and refuses others and unsigned images', async () => {
    const url = `oci://${reg.hostPort}/signed`;
    const s = await vessel(src, ['publish', '--json', '--sign', join(keys, 'good.pem'), 'layered', url], { env: env() });
    expect(s.code, s.stderr).toBe(0);
    const digest = events(s.stdout).find((e) => e.event === 'done')?.digest as string;
    const listed = JSON.parse(await skopeo(['list-tags', '--tls-verify=false', '--creds', creds(), `docker://${reg.hostPort}/signed/layered`])) as { Tags: string[] };
    expect(listed.Tags.sort()).toEqual(['latest', `sha256-${digest.slice(7)}.sig`]);
    // vessel's own tag list hides the signature tags.
    expect(JSON.parse((await vessel(src, ['tags', '--json', `${url}/layered`], { env: env() })).stdout)).toEqual(['latest']);
    const u = await vessel(src, ['publish', 'busybox', url], { env: env() });
    expect(u.code, u.stderr).toBe(0);

    const dst = makeRoot('registry-oci-verify');
    cleanups.push(() => dst.dispose());
    const before = hashTree(join(dst.root, 'images'));
    const wrong = await vessel(dst, ['pull', '--verify', join(keys, 'other.pub'), `${url}/layered:latest`], { env: env() });
    expect(wrong.code).toBe(125);
    expect(wrong.stderr).toMatch(/does not verify with the given public key/);
    const unsigned = await vessel(dst, ['pull', '--verify', join(keys, 'good.pub'), `${url}/busybox:latest`], { env: env() });
    expect(unsigned.code).toBe(125);
    expect(unsigned.stderr).toMatch(/not signed/);
    expect(hashTree(join(dst.root, 'images'))).toBe(before);
    const ok = await vessel(dst, ['pull', '--verify', join(keys, 'good.pub'), `${url}/layered:latest`], { env: env() });
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe('credentials', () => {
  it('never appear in output or debug logs, from the environment or from the URL', async () => {
    const a = await vessel(src, ['publish', '--json', '--as', 'busybox:dbg', 'busybox', `oci://${reg.hostPort}/vessel`], { env: { ...env(), VESSEL_LOG_LEVEL: 'debug' } });
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout + a.stderr).not.toContain(reg.password!);
    const b = await vessel(src, ['pull', '--json', `oci://${reg.user}:${encodeURIComponent(reg.password!)}@${reg.hostPort}/vessel/busybox:dbg`], { env: { VESSEL_LOG_LEVEL: 'debug' } });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout + b.stderr).not.toContain(reg.password!);
    // The bearer token the server handed out is a credential too.
    expect(b.stdout + b.stderr).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}/);
  });
});
