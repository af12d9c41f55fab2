import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxTarball, makeRoot, vessel, type TestRoot } from '../helpers/vessel.js';
import { startDockerRegistry, type OciServer } from '../helpers/registry-servers.js';

/**
 * FreeBSD's official images are published as multi-platform indexes (os: freebsd, amd64 and
 * arm64) on Docker Hub and ghcr. vessel's own OCI client, against a real docker-registry holding
 * such an index (a Linux and a FreeBSD image under one tag), pulls the FreeBSD one on FreeBSD
 * (VESSEL_OS=freebsd, the test seam) and the Linux one on Linux — and the FreeBSD one is then
 * refused by `vessel run` here.
 */
let src: TestRoot;
let dst: TestRoot;
let reg: OciServer;
let fake: string;

/** OCI (Go) architecture names of this host, so the index always has an entry for it. */
const ARCH = process.arch === 'x64' ? 'amd64' : process.arch;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

async function manifestOf(tag: string): Promise<{ digest: string; size: number; mediaType: string }> {
  const r = await fetch(`http://${reg.hostPort}/v2/vessel/base/manifests/${tag}`, { headers: { accept: `${OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json` } });
  expect(r.status).toBe(200);
  const body = Buffer.from(await r.arrayBuffer());
  return { digest: r.headers.get('docker-content-digest')!, size: body.length, mediaType: r.headers.get('content-type')!.split(';')[0]! };
}

beforeAll(async () => {
  src = makeRoot('freebsd-pull-src');
  dst = makeRoot('freebsd-pull-dst');
  reg = await startDockerRegistry();
  fake = mkdtempSync('/tmp/vessel-test-fakebsd-');
  mkdirSync(join(fake, 'rescue'));
  writeFileSync(join(fake, 'rescue', 'rescue'), '\x7fELF crunched\n', { mode: 0o555 });
  linkSync(join(fake, 'rescue', 'rescue'), join(fake, 'rescue', 'sh'));
  for (const [args, what] of [
    [['image', 'import', busyboxTarball(), 'base:linux'], 'import'],
    [['image', 'base', 'base:freebsd', '--from', fake], 'image base'],
    [['publish', 'base:linux', `oci://${reg.hostPort}/vessel`], 'publish linux'],
    [['publish', 'base:freebsd', `oci://${reg.hostPort}/vessel`], 'publish freebsd'],
  ] as const) {
    const r = await vessel(src, [...args], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`${what}: ${r.stderr}`);
  }
  const [linux, bsd] = [await manifestOf('linux'), await manifestOf('freebsd')];
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { ...linux, platform: { os: 'linux', architecture: ARCH } },
      { ...bsd, platform: { os: 'freebsd', architecture: ARCH } },
    ],
  };
  const put = await fetch(`http://${reg.hostPort}/v2/vessel/base/manifests/multi`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
    body: JSON.stringify(index),
  });
  if (put.status !== 201) throw new Error(`PUT index: ${put.status} ${await put.text()}`);
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  src?.dispose();
  dst?.dispose();
  rmSync(fake, { recursive: true, force: true });
});

const os = async (ref: string) => (JSON.parse((await vessel(dst, ['image', 'inspect', ref])).stdout) as { os: string }).os;

describe('pulling a multi-platform index that carries a FreeBSD image', () => {
  it('on FreeBSD: the freebsd image; on Linux: the linux one, and the freebsd one is refused by run', async () => {
    const a = await vessel(dst, ['pull', '--as', 'pulled:bsd', `oci://${reg.hostPort}/vessel/base:multi`], { env: { VESSEL_OS: 'freebsd' }, timeoutMs: 120_000 });
    expect(a.code, a.stderr).toBe(0);
    expect(await os('pulled:bsd')).toBe('freebsd');
    const b = await vessel(dst, ['pull', '--as', 'pulled:linux', `oci://${reg.hostPort}/vessel/base:multi`], { timeoutMs: 120_000 });
    expect(b.code, b.stderr).toBe(0);
    expect(await os('pulled:linux')).toBe('linux');
    const run = await vessel(dst, ['run', '--rm', 'pulled:bsd', 'sh', '-c', 'true']);
    expect(run.code).toBe(125);
    expect(run.stderr).toMatch(/image pulled:bsd is a freebsd image \(os: freebsd\); this host runs linux containers/);
  });
});
