import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('doctor')
    .description('can this host run each vessel feature, and what to do if not')
    .option('--json', 'machine-readable report')
    .action(async (opts: { json?: boolean }) => {
      const { runDoctor, renderDoctor } = await import('../doctor/index.js');
      const r = await runDoctor();
      process.stdout.write(opts.json ? JSON.stringify(r, null, 2) + '\n' : renderDoctor(r));
      // Exit 1 when something is missing, so scripts (and set-up) can tell.
      if (r.checks.some((c) => c.status === 'missing')) process.exitCode = 1;
    });
}
