import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('rm')
    .description('remove stopped containers (their writable layer, logs and state)')
    .argument('<names...>')
    .option('-f, --force', 'stop running containers first')
    .action(async (names: string[], opts: { force?: boolean }) => {
      const { removeContainer } = await import('../supervise/index.js');
      for (const n of names) {
        await removeContainer(n, { force: opts.force ?? false });
        process.stdout.write(`${n}\n`);
      }
    });
}
