import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
  it('ext4: the store flagged once per process, tmp/ each time it is made (it goes whenever it is empty)', async () => {
    expect(await chattrsFor(0, true)).toEqual([
      'chattr +T ROOT/images',
      'chattr +T ROOT/images/tmp',
      'chattr +T ROOT/images/tmp',
      'chattr +T ROOT/images/tmp',
    ]);
  });

  it('a file system that refuses the flag (xfs, btrfs, tmpfs): one chattr for the store, none for each tmp/', async () => {
    // Each round's store is made anew (see chattrsFor), so it is asked each time; tmp/ never.
    expect(await chattrsFor(1, false)).toEqual(['chattr +T ROOT/images', 'chattr +T ROOT/images', 'chattr +T ROOT/images']);
  });
});
