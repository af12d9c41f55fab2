import type { Command } from 'commander';

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
      const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
      for (const r of rows) process.stdout.write(r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('   ') + '\n');
    });
}
