import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('inspect')
    .description('print a container\'s state (spec, resources, last exit) and live usage as JSON')
    .argument('<names...>')
    .action(async (names: string[]) => {
      const { mustState, refOf, inspectView, isLive } = await import('../supervise/index.js');
      const { driverFor } = await import('../runtime/index.js');
      const out = [];
      for (const n of names) {
        const s = await mustState(n);
        const stats = isLive(s) ? await (await driverFor()).stats(refOf(s)).catch(() => undefined) : undefined;
        out.push(inspectView(s, stats));
      }
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    });
}
