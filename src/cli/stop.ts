import type { Command } from 'commander';
import { processIo, type CliIo } from './io.js';

export function define(program: Command): void {
  program
    .command('stop')
    .description('stop running containers: stop signal to every process, SIGKILL after the timeout')
    .argument('<names...>')
    .option('-t, --time <sec>', 'seconds to wait before SIGKILL (default: the container\'s stop_timeout)')
    .action((names: string[], opts: StopOptions) => stopAction(names, opts, processIo()));
}

export interface StopOptions {
  time?: string;
}

/** `vessel stop`, for this process or for a caller of vessel up (serve.ts). */
export async function stopAction(names: string[], opts: StopOptions, io: CliIo): Promise<void> {
  const { stopContainer } = await import('../supervise/index.js');
  const { VesselError } = await import('../util/index.js');
  const t = opts.time === undefined ? undefined : Number(opts.time);
  if (t !== undefined && (!Number.isFinite(t) || t < 0)) throw new VesselError('E_USAGE', `--time: "${opts.time}" is not a number of seconds`);
  for (const n of names) {
    await stopContainer(n, t);
    io.out(`${n}\n`);
  }
}
