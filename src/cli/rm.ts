import type { Command } from 'commander';
import { processIo, type CliIo } from './io.js';

export function define(program: Command): void {
  program
    .command('rm')
    .description('remove stopped containers (their writable layer, logs and state)')
    .argument('<names...>')
    .option('-f, --force', 'stop running containers first')
    .action((names: string[], opts: RmOptions) => rmAction(names, opts, processIo()));
}

export interface RmOptions {
  force?: boolean;
}

/** `vessel rm`, for this process or for a caller of vessel up (serve.ts). */
export async function rmAction(names: string[], opts: RmOptions, io: CliIo): Promise<void> {
  const { removeContainer } = await import('../supervise/index.js');
  for (const n of names) {
    await removeContainer(n, { force: opts.force ?? false });
    io.out(`${n}\n`);
  }
}
