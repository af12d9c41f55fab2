import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

// The volume store against a private state root; ZFS commands go to a recorder whose transcript
// is the golden file test/fixtures/freebsd/volume-zfs/commands.txt (zfs(8): create -p -o
// mountpoint=…, list -H -o name, destroy without -r).
const root = mkdtempSync(join(tmpdir(), 'vessel-volume-store-'));
process.env.VESSEL_ROOT = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));

import { Recorder, setHostRunner } from '../../src/util/host.js';
import { ensureVolume, inspectVolume, listVolumeInfo, listVolumes, pruneVolumes, removeVolume } from '../../src/volume/index.js';
import { expectGolden, normalizeRoot } from '../helpers/freebsd.js';

const vols = join(root, 'volumes');
const none = async () => [];
let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

describe('the volume store', () => {
  it('sweeps what an interrupted creation or removal left (dead pids), never a live one', async () => {
    mkdirSync(join(vols, '.data.new-4194305', '_data'), { recursive: true });
    mkdirSync(join(vols, `.data.rm-${process.pid}`), { recursive: true });
    mkdirSync(join(vols, '.old.rm-4194306'), { recursive: true });
    const v = await ensureVolume('data');
    expect(v.created).toBe(true);
    expect(readdirSync(vols).sort()).toEqual([`.data.rm-${process.pid}`, 'data']);
    rmSync(join(vols, `.data.rm-${process.pid}`), { recursive: true });
    expect((await ensureVolume('data')).created).toBe(false);
    expect(await removeVolume('data', none)).toBe(true);
    expect(readdirSync(vols)).toEqual([]);
  });

  it('a directory without a record is not adopted', async () => {
    mkdirSync(join(vols, 'handmade'), { recursive: true });
    writeFileSync(join(vols, 'handmade', 'keep'), 'x');
    await expect(ensureVolume('handmade')).rejects.toThrow(/handmade exists but holds no volume record/);
    expect(existsSync(join(vols, 'handmade', 'keep'))).toBe(true);
    expect(await listVolumes()).toEqual([]);
    rmSync(join(vols, 'handmade'), { recursive: true });
  });

  it('in use (by the users the caller hands in) → refused; prune keeps it', async () => {
    await ensureVolume('db');
    const users = async () => [{ name: 'pg', volumes: ['db'] }, { name: 'web', volumes: [] }];
    await expect(removeVolume('db', users)).rejects.toThrow(/^volume db is in use by container pg$/);
    await expect(removeVolume('db', users, { force: true })).rejects.toThrow(/in use/);
    expect(await pruneVolumes(users)).toEqual([]);
    expect(await pruneVolumes(none)).toEqual(['db']);
  });

  it('a corrupt record is an error naming its file, for ls, inspect, rm and prune — never a volume quietly gone from them', async () => {
    await ensureVolume('cache');
    await ensureVolume('broken');
    const record = join(vols, 'broken', 'volume.json');
    writeFileSync(record, '{"name": "broken", "driv');
    const notJson = `${record}: not valid JSON`;
    await expect(listVolumes()).rejects.toThrow(notJson);
    await expect(listVolumeInfo(none)).rejects.toThrow(notJson);
    await expect(inspectVolume('broken', none)).rejects.toThrow(notJson);
    await expect(removeVolume('broken', none)).rejects.toThrow(notJson);
    // prune reads every record before it removes anything: the unused `cache` stays too
    await expect(pruneVolumes(none)).rejects.toThrow(notJson);
    expect(readdirSync(vols).sort()).toEqual(['broken', 'cache']);
    // valid JSON that is another volume's record (a removal deletes by the record's name)
    writeFileSync(record, JSON.stringify({ name: 'cache', driver: 'local', createdAt: '', createdBy: 'first use' }));
    await expect(listVolumes()).rejects.toThrow(`${record}: not the record of volume broken (expected {"name": "broken", "driver": "local"|"zfs", …})`);
    rmSync(join(vols, 'broken'), { recursive: true });
    expect(await pruneVolumes(none)).toEqual(['cache']);
  });

  it('on a FreeBSD ZFS store: a dataset per volume, recorded before it is created (golden transcript)', async () => {
    const rec = new Recorder();
    // zfs list of a dataset that does not exist exits 1 (zfs(8): "dataset does not exist")
    let exists = false;
    rec.respond((argv) => argv[1] === 'list', { exitCode: 1, stderr: "cannot open 'zroot/vessel/volumes/pgdata': dataset does not exist" });
    restore = setHostRunner({
      run: async (argv, opts) => {
        if (argv[1] === 'create') {
          // the record is on disk before the dataset exists
          expect(existsSync(join(vols, 'pgdata', 'volume.json'))).toBe(true);
          exists = true;
        }
        if (argv[1] === 'list' && exists) {
          rec.calls.push({ argv: [...argv] });
          return { argv, exitCode: 0, stdout: 'zroot/vessel/volumes/pgdata\n', stderr: '' };
        }
        return rec.run(argv, opts);
      },
      spawn: (argv, opts) => rec.spawn(argv, opts),
    });
    const v = await ensureVolume('pgdata', { zfsStore: 'zroot/vessel' });
    expect(v.record).toMatchObject({ driver: 'zfs', dataset: 'zroot/vessel/volumes/pgdata' });
    await ensureVolume('pgdata', { zfsStore: 'zroot/vessel' });
    await removeVolume('pgdata', none);
    expect(existsSync(join(vols, 'pgdata'))).toBe(false);
    expectGolden('volume-zfs', 'commands.txt', normalizeRoot(rec.transcript(), root));
  });
});
