import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('_supervise', { hidden: true })
    .description('internal: the detached supervisor of one container')
    .argument('<name>')
    .action(async (name: string) => {
      const { superviseDetached } = await import('../supervise/index.js');
      process.exitCode = await superviseDetached(name);
    });
}
