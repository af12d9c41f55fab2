import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The store reads config() once per process: a private root before first use. A file of its own:
// keepStagingRoot() is for the rest of the process (vessel up's), so image-staging.test.ts's
// counts would see it.
const root = mkdtempSync(join(tmpdir(), 'vessel-image-staging-kept-'));
process.env.VESSEL_ROOT = root;
process.env.VESSEL_OS = 'linux';

import { Recorder, setHostRunner } from '../../src/util/host.js';
import { dropStaging, keepStagingRoot, makeStaging, storeDir } from '../../src/image/store.js';

const repo = join(__dirname, '..', '..');
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('vessel up keeps the store\'s tmp/ between the imports it serves (image/store.ts keepStagingRoot)', () => {
  it('made and flagged once, however many stagings come and go; left empty between them', async () => {
    mkdirSync(storeDir(), { recursive: true });
    const rec = new Recorder().respond('chattr', { exitCode: 0 });
    const restore = setHostRunner(rec);
    try {
      keepStagingRoot();
      for (let i = 0; i < 3; i++) await dropStaging(await makeStaging('t'));
    } finally {
      restore();
    }
    expect(rec.calls.map((c) => c.argv.join(' ').replace(root, 'ROOT'))).toEqual(['chattr +T ROOT/images', 'chattr +T ROOT/images/tmp']);
    expect(readdirSync(join(storeDir(), 'tmp'))).toEqual([]);
  });

  it('removed when the process exits (empty), kept when a staging of another process is in it', () => {
    const dir = mkdtempSync(join(root, 'exit-'));
    const script = `import(${JSON.stringify(join(repo, 'dist', 'image', 'store.js'))}).then(async (m) => { m.keepStagingRoot(); await m.dropStaging(await m.makeStaging('t')); const fs = await import('node:fs'); if (!fs.existsSync(m.paths.tmp())) throw new Error('tmp/ gone before the exit'); if (process.argv[1] === 'busy') fs.mkdirSync(m.paths.tmp() + '/import-1-000000000000'); })`;
    for (const [how, left] of [['idle', []], ['busy', ['import-1-000000000000']]] as const) {
      const env = { ...process.env, VESSEL_ROOT: join(dir, how) };
      // a store already there (a first import's failure takes the whole store away: store.ts)
      mkdirSync(join(dir, how, 'images'), { recursive: true });
      execFileSync(process.execPath, ['-e', script, how], { env, stdio: 'pipe' });
      const tmp = join(dir, how, 'images', 'tmp');
      expect([how, existsSync(tmp) ? readdirSync(tmp) : 'gone']).toEqual([how, left.length ? left : 'gone']);
    }
  });
});
