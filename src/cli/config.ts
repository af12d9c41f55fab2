import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('config')
    .description('print the effective configuration (paths, registry) and where each value comes from')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { config } = await import('../util/index.js');
      const c = config();
      const rows: Array<[string, string, string]> = [
        ['root', c.root, c.sources.root ?? ''],
        ['images', c.images, c.sources.images ?? ''],
        ['containers', c.containers, c.sources.containers ?? ''],
        ['archive', c.archive, c.sources.archive ?? ''],
        ['networks', c.networks, c.sources.networks ?? ''],
        ['run', c.run, c.sources.run ?? ''],
        ['emperor_dir', c.emperorDir, c.sources.emperorDir ?? ''],
        ['vassals', c.vassalsDir, c.sources.vassalsDir ?? ''],
        ['libexec', c.libexec, c.sources.libexec ?? ''],
        ['registry', c.registry ?? '', c.sources.registry ?? ''],
        ['cgroup_parent', c.cgroupParent, c.sources.cgroupParent ?? ''],
        ['metrics', c.metrics ?? '', c.sources.metrics ?? ''],
        ['metrics_allow_remote', String(c.metricsAllowRemote), c.sources.metricsAllowRemote ?? ''],
      ];
      if (opts.json) {
        process.stdout.write(JSON.stringify(Object.fromEntries(rows.map(([k, v, s]) => [k, { value: v, source: s }])), null, 2) + '\n');
        return;
      }
      const w = Math.max(...rows.map((r) => r[0].length));
      for (const [k, v, s] of rows) process.stdout.write(`${k.padEnd(w)}  ${v || '-'}  (${s})\n`);
    });
}
