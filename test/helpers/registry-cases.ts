import { expect } from 'vitest';
import { makeRoot, vessel, type TestRoot } from './vessel.js';

/**
 * Steps the registry test files share: the publish → pull round trip (busybox, then a layered
 * image sharing its base layer, tags listed, a fresh store pulls the layered image with the same
 * id and manifest digest, a second pull fetches nothing) and reading --json progress events.
 */
export interface ImageRow { name: string; tag: string; id: string }

export async function images(t: TestRoot): Promise<ImageRow[]> {
  const r = await vessel(t, ['images', '--json']);
  return JSON.parse(r.stdout) as ImageRow[];
}

/** A test file's cleanups, last first; one that fails is reported and the others still run. */
export async function runCleanups(cleanups: Array<() => Promise<void> | void>): Promise<void> {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch (e) {
      console.error('cleanup:', e);
    }
  }
}

/** A copy of a blob with its middle byte's bits flipped: the same size, another digest. */
export function tampered(blob: Buffer): Buffer {
  const fake = Buffer.from(blob);
  const at = fake.length >> 1;
  fake.writeUInt8(fake.readUInt8(at) ^ 0xff, at);
  return fake;
}

export function events(stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

export async function roundTrip(
  src: TestRoot, cleanups: Array<() => Promise<void> | void>, url: string, env: NodeJS.ProcessEnv = {},
  opts: { perRepositoryBlobs?: boolean; query?: string } = {},
): Promise<TestRoot> {
  const q = opts.query ?? '';
  const p1 = await vessel(src, ['publish', '--json', 'busybox', url + q], { env, timeoutMs: 120_000 });
  expect(p1.code, p1.stderr).toBe(0);
  const p2 = await vessel(src, ['publish', '--json', 'layered', url + q], { env, timeoutMs: 120_000 });
  expect(p2.code, p2.stderr).toBe(0);
  // The base layer is busybox's: already there, not sent again (the OCI API keeps blobs per
  // repository, so there a second tag of the same name shows it).
  const p3 = opts.perRepositoryBlobs ? await vessel(src, ['publish', '--json', '--as', 'layered:v2', 'layered', url + q], { env }) : p2;
  const blobs = events(p3.stdout).filter((e) => e.event === 'blob');
  if (opts.perRepositoryBlobs) expect(blobs.filter((e) => e.action === 'skip')).toHaveLength(3);
  else {
    expect(blobs.filter((e) => e.action === 'skip')).toHaveLength(1);
    expect(blobs.filter((e) => e.action === 'upload')).toHaveLength(2); // top layer + config
  }
  const done = events(p2.stdout).find((e) => e.event === 'done');
  expect(done?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

  const tags = await vessel(src, ['tags', '--json', `${url}/layered${q}`], { env });
  expect(tags.code, tags.stderr).toBe(0);
  expect(JSON.parse(tags.stdout)).toEqual(opts.perRepositoryBlobs ? ['latest', 'v2'] : ['latest']);

  const dst = makeRoot('registry-dst');
  cleanups.push(() => dst.dispose());
  const r = await vessel(dst, ['pull', '--json', `${url}/layered:latest${q}`], { env, timeoutMs: 120_000 });
  expect(r.code, r.stderr).toBe(0);
  expect(events(r.stdout).find((e) => e.event === 'done')?.digest).toBe(done?.digest);
  const want = (await images(src)).find((i) => i.name === 'layered')!;
  const got = (await images(dst)).find((i) => i.name === 'layered')!;
  expect(got.id).toBe(want.id);
  // A second pull has nothing to fetch.
  const again = await vessel(dst, ['pull', '--json', `${url}/layered:latest${q}`], { env });
  expect(again.code, again.stderr).toBe(0);
  expect(events(again.stdout).find((e) => e.event === 'done')?.transferred).toBe(0);
  return dst;
}
