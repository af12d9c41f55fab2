import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

// The store reads config() once per process: a private root before first use.
const root = mkdtempSync(join(tmpdir(), 'vessel-image-staging-'));
process.env.VESSEL_ROOT = root;
process.env.VESSEL_OS = 'linux';

import { Recorder, setHostRunner } from '../../src/util/host.js';
import { dropStaging, makeStaging, storeDir } from '../../src/image/store.js';

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
  rmSync(storeDir(), { recursive: true, force: true });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The chattr lines run for three stagings made and dropped in turn, chattr answering `exitCode`. */
async function chattrsFor(exitCode: number, storeExists: boolean): Promise<string[]> {
  // Without a store, each staging is a first import's, whose drop removes the empty store again.
  if (storeExists) mkdirSync(storeDir(), { recursive: true });
  const rec = new Recorder().respond('chattr', { exitCode, ...(exitCode ? { stderr: 'Operation not supported while setting flags' } : {}) });
  restore = setHostRunner(rec);
  for (let i = 0; i < 3; i++) await dropStaging(await makeStaging('t'));
  return rec.calls.map((c) => c.argv.join(' ').replace(root, 'ROOT'));
}

describe('staging trees spread over block groups (image/store.ts stagingRoot)', () => {
  it('ext4: the store and tmp/ flagged once, when tmp/ is made; tmp/ kept, empty, between stagings', async () => {
    expect(await chattrsFor(0, true)).toEqual(['chattr +T ROOT/images', 'chattr +T ROOT/images/tmp']);
    expect(readdirSync(join(storeDir(), 'tmp'))).toEqual([]);
  });

  it('a store whose tmp/ is there already: no chattr at all (vessel up, and every CLI import after the first)', async () => {
    mkdirSync(join(storeDir(), 'tmp'), { recursive: true });
    expect(await chattrsFor(0, true)).toEqual([]);
  });

  it('a first import that succeeded keeps tmp/ with what it committed; one that failed takes the store away', async () => {
    const ok = await makeStaging('t');
    writeFileSync(join(storeDir(), 'index.json'), '{}'); // what a commit leaves
    await dropStaging(ok);
    expect(readdirSync(storeDir()).sort()).toEqual(['index.json', 'tmp']);
    rmSync(storeDir(), { recursive: true });
    await dropStaging(await makeStaging('t'));
    expect(existsSync(storeDir())).toBe(false);
  });

  it('a file system that refuses the flag (xfs, btrfs, tmpfs): one chattr for the store, none for tmp/', async () => {
    // Each round's store is made anew, and taken away by the failed first import (see chattrsFor).
    expect(await chattrsFor(1, false)).toEqual(['chattr +T ROOT/images', 'chattr +T ROOT/images', 'chattr +T ROOT/images']);
    expect(existsSync(storeDir())).toBe(false);
  });
});
