import type { Command } from 'commander';
import { formatTable } from '../util/index.js';

/** `vessel volume create|ls|inspect|rm|prune`: named volumes (src/volume). */
export function define(program: Command): void {
  const cmd = program.command('volume').description('manage named volumes (data kept across containers)');

  cmd
    .command('create <name>')
    .description('create a volume (a container mounting NAME:/path creates it on first use too)')
    .action(async (name: string) => {
      const { ensureVolume } = await import('../volume/index.js');
      const { zfsVolumeStore } = await import('../supervise/index.js');
      const v = await ensureVolume(name, { ...zfsVolumeStore(), createdBy: 'volume create' });
      process.stdout.write(`${v.record.name}\n`);
    });

  cmd
    .command('ls')
    .alias('list')
    .description('list volumes')
    .option('-q, --quiet', 'names only')
    .option('--json', 'machine-readable output')
    .action(async (opts: { quiet?: boolean; json?: boolean }) => {
      const { listVolumeInfo } = await import('../volume/index.js');
      const { volumeUsers } = await import('../supervise/index.js');
      const vols = await listVolumeInfo(volumeUsers);
      if (opts.json) {
        process.stdout.write(JSON.stringify(vols, null, 2) + '\n');
        return;
      }
      if (opts.quiet) {
        process.stdout.write(vols.map((v) => `${v.name}\n`).join(''));
        return;
      }
      const rows = [
        ['NAME', 'DRIVER', 'CREATED BY', 'USED BY', 'MOUNTPOINT'],
        ...vols.map((v) => [v.name, v.driver, v.createdBy, v.usedBy.length > 0 ? v.usedBy.join(',') : '-', v.mountpoint]),
      ];
      process.stdout.write(formatTable(rows));
    });

  cmd
    .command('inspect <name...>')
    .description('show volumes: driver, dataset, mountpoint, the containers that mount them (JSON)')
    .action(async (names: string[]) => {
      const { inspectVolume } = await import('../volume/index.js');
      const { volumeUsers } = await import('../supervise/index.js');
      const out = [];
      for (const n of names) out.push(await inspectVolume(n, volumeUsers));
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    });

  cmd
    .command('rm <name...>')
    .alias('remove')
    .description('remove volumes and their data; refused while a container (running or stopped) mounts one')
    .option('-f, --force', 'a volume that does not exist is not an error')
    .action(async (names: string[], opts: { force?: boolean }) => {
      const { removeVolume } = await import('../volume/index.js');
      const { volumeUsers } = await import('../supervise/index.js');
      for (const n of names) {
        if (await removeVolume(n, volumeUsers, opts.force ? { force: true } : {})) process.stdout.write(`${n}\n`);
      }
    });

  cmd
    .command('prune')
    .description('remove every volume no container (running or stopped) mounts')
    .action(async () => {
      const { pruneVolumes } = await import('../volume/index.js');
      const { volumeUsers } = await import('../supervise/index.js');
      const removed = await pruneVolumes(volumeUsers);
      process.stdout.write(removed.map((n) => `${n}\n`).join('') + `${removed.length} volume${removed.length === 1 ? '' : 's'} removed\n`);
    });
}
