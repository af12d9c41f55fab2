import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('inspect')
    .description('print a container\'s state (spec, resources, last exit) and live usage as JSON')
    .argument('<names...>')
    .action(async (names: string[]) => {
      const { mustState, refOf, inspectView, isLive } = await import('../supervise/index.js');
      const { driverFor } = await import('../runtime/index.js');
      const { publishedPorts } = await import('../net/index.js');
      const leases = await publishedPorts();
      const out = [];
      for (const n of names) {
        const s = await mustState(n);
        const stats = isLive(s) ? await (await driverFor()).stats(refOf(s)).catch(() => undefined) : undefined;
        // The mappings as published now, host ports chosen at start included (the spec keeps what was asked).
        const ports = leases.find((l) => l.container === n);
        out.push({ ...inspectView(s, stats), ...(ports ? { ports } : {}) });
      }
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    });
}
