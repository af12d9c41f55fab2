import type { Command } from 'commander';
import { formatTable } from '../util/index.js';

export function define(program: Command): void {
  program
    .command('images')
    .description('list the images in the store')
    .option('-a, --all', 'also list untagged images')
    .option('--json', 'machine-readable output')
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      const { listImages } = await import('../image/index.js');
      const { formatAge, formatBytes } = await import('../image/index.js');
      const images = await listImages({ all: opts.all ?? false });
      if (opts.json) {
        process.stdout.write(JSON.stringify(images, null, 2) + '\n');
        return;
      }
      const rows = [['NAME', 'TAG', 'ID', 'CREATED', 'SIZE']];
      for (const i of images) rows.push([i.name, i.tag, i.id.slice(7, 19), formatAge(i.created), formatBytes(i.size)]);
      process.stdout.write(formatTable(rows, '   '));
    });
}
