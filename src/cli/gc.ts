import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('gc')
    .description('remove what dead containers left behind (processes, cgroups, mounts, interfaces, rules, leases)')
    .option('--json', 'machine-readable report')
    .action(async (opts: { json?: boolean }) => {
      const { gc } = await import('../supervise/index.js');
      const r = await gc();
      if (opts.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else {
        for (const n of r.cleaned) process.stdout.write(`cleaned ${n}\n`);
        for (const n of r.removed) process.stdout.write(`removed ${n}\n`);
        for (const e of r.errors) process.stderr.write(`vessel: gc ${e.name}: ${e.error}\n`);
        if (!r.cleaned.length && !r.removed.length && !r.errors.length) process.stdout.write('nothing to clean\n');
      }
      if (r.errors.length) process.exitCode = 125;
    });
}
