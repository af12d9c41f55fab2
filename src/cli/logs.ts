import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('logs')
    .description('print a detached or Emperor-run container\'s output')
    .argument('<name>')
    .option('-f, --follow', 'keep printing new output until the container stops')
    .action(async (name: string, opts: { follow?: boolean }) => {
      const { printLogs } = await import('../supervise/index.js');
      await printLogs(name, opts.follow ?? false);
    });
}
