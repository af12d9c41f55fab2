import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeRoot, vessel, type TestRoot } from '../helpers/vessel.js';
import { bigImage, importTestImages } from '../helpers/registry-images.js';
import { events, images, roundTrip } from '../helpers/registry-cases.js';
import { awsCli, execAsync, rcloneEnv, startRadosgw, startS3rver, type S3Server } from '../helpers/registry-servers.js';

/**
 * S3 against two real servers on 127.0.0.1, each started once for this file: s3rver (fast,
 * in-process, accepts any key) and Ceph radosgw (mon + memstore osd + rgw; checks signatures,
 * real multipart ETags). Interop: what vessel publishes is visible to awscli and fetchable by
 * rclone as plain objects.
 */
let src: TestRoot;
let s3rver: S3Server;
let rgw: S3Server;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  src = makeRoot('registry-s3-src');
  cleanups.push(() => src.dispose());
  const servers = Promise.all([startRadosgw(), startS3rver()]);
  servers.then(([a, b]) => cleanups.push(() => a.stop(), () => b.stop()), () => undefined);
  await importTestImages(src);
  // Several 8 MiB parts when published multipart.
  await bigImage(src, 'big:latest', 40);
  [rgw, s3rver] = await servers;
}, 240_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
}, 60_000);

const sha256File = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

/** The published layered image seen by awscli and rclone, as plain objects. */
async function interop(s3: S3Server, prefix: string): Promise<void> {
  const ls = await awsCli(s3, ['s3', 'ls', '--recursive', `s3://${s3.bucket}/${prefix}/`]);
  expect(ls).toContain(`${prefix}/refs/layered/_/latest`);
  const ref = JSON.parse(await awsCli(s3, ['s3', 'cp', `s3://${s3.bucket}/${prefix}/refs/layered/_/latest`, '-'])) as { digest: string };
  expect(ref.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  const blobs = [...ls.matchAll(/blobs\/sha256\/([0-9a-f]{64})/g)].map((m) => m[1]!);
  expect(blobs).toContain(ref.digest.slice(7));
  const out = mkdtempSync('/tmp/vessel-rclone-');
  try {
    await execAsync(['rclone', 'copy', `x:${s3.bucket}/${prefix}/blobs/sha256`, out], rcloneEnv(s3));
    const got = readdirSync(out).sort();
    expect(got).toEqual([...new Set(blobs)].sort());
    // Every object is what its name says: rclone fetched the exact bytes.
    for (const f of got) expect(sha256File(join(out, f))).toBe(f);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

describe('Ceph radosgw', () => {
  it('round trip with the SDK configured from the environment', async () => {
    await roundTrip(src, cleanups, `s3://${rgw.bucket}/images`, rgw.env);
  });

  it('awscli lists and rclone fetches what vessel published', async () => {
    await interop(rgw, 'images');
  });

  it('a 40 MB layer goes up as a multipart upload and comes back verified', async () => {
    const url = `s3://${rgw.bucket}/big`;
    // Below 200 MiB vessel streams one PutObject, like rclone; force multipart here.
    const p = await vessel(src, ['publish', '--json', 'big', url], { env: { ...rgw.env, VESSEL_S3_MULTIPART_THRESHOLD: String(8 << 20) }, timeoutMs: 120_000 });
    expect(p.code, p.stderr).toBe(0);
    const layer = events(p.stdout).find((e) => e.event === 'blob' && (e.size as number) > 30e6)!;
    const head = JSON.parse(await awsCli(rgw, ['s3api', 'head-object', '--bucket', rgw.bucket, '--key', `big/blobs/sha256/${(layer.digest as string).slice(7)}`])) as { ETag: string };
    expect(head.ETag).toMatch(/-6"$/); // 40 MiB and a tar header in 8 MiB parts
    const dst = makeRoot('registry-s3-big');
    cleanups.push(() => dst.dispose());
    const r = await vessel(dst, ['pull', `${url}/big:latest`], { env: rgw.env, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect((await images(dst)).find((i) => i.name === 'big')?.id).toBe((await images(src)).find((i) => i.name === 'big')?.id);
  });

  it('a wrong secret key is refused with a clear error, the secret never printed', async () => {
    const secret = 'not-the-secret-0123456789';
    const env = { ...rgw.env, AWS_SECRET_ACCESS_KEY: secret, VESSEL_LOG_LEVEL: 'debug' };
    const r = await vessel(src, ['publish', 'busybox', `s3://${rgw.bucket}/denied`], { env });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/access denied \((SignatureDoesNotMatch|HTTP 403)\)/);
    expect(r.stdout + r.stderr).not.toContain(secret);
    expect(await awsCli(rgw, ['s3', 'ls', '--recursive', `s3://${rgw.bucket}/`])).not.toContain('denied/');
  });

  it('credentials never appear in debug logs or progress', async () => {
    const r = await vessel(src, ['publish', '--json', '--as', 'busybox:logged', 'busybox', `s3://${rgw.bucket}/images`], { env: { ...rgw.env, VESSEL_LOG_LEVEL: 'debug' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(rgw.env.AWS_SECRET_ACCESS_KEY);
    // And no SDK warning about Node versions on stderr.
    expect(r.stderr).not.toMatch(/NodeVersionSupportWarning/);
  });
});

describe('s3rver', () => {
  it('awscli lists and rclone fetches what vessel published', async () => {
    await roundTrip(src, cleanups, `s3://${s3rver.bucket}/images`, s3rver.env);
    await interop(s3rver, 'images');
  });

  it('concurrent publishes of different tags all survive', async () => {
    const url = `s3://${s3rver.bucket}/race`;
    const tags = ['t1', 't2', 't3', 't4'];
    const rs = await Promise.all(tags.map((t) => vessel(src, ['publish', '--as', `layered:${t}`, 'layered', url], { env: s3rver.env, timeoutMs: 120_000 })));
    for (const r of rs) expect(r.code, r.stderr).toBe(0);
    const l = await vessel(src, ['tags', '--json', `${url}/layered`], { env: s3rver.env });
    expect(JSON.parse(l.stdout)).toEqual(tags);
  });
});
