import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('kill')
    .description('send a signal to a container\'s main command (SIGKILL ends the whole container)')
    .argument('<names...>')
    .option('-s, --signal <sig>', 'signal to send', 'SIGKILL')
    .action(async (names: string[], opts: { signal: string }) => {
      const { killContainer } = await import('../supervise/index.js');
      const { signalNumber } = await import('../runtime/index.js');
      signalNumber(opts.signal); // validate before touching anything
      for (const n of names) {
        await killContainer(n, opts.signal);
        process.stdout.write(`${n}\n`);
      }
    });
}
