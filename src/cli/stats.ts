import type { Command } from 'commander';

interface StatsFlags {
  /** commander's name for --no-stream: false when it is given. */
  stream?: boolean;
  json?: boolean;
}

/** docker's pace: a sample a second, and --no-stream waits for the second one (CPU % is a rate). */
const INTERVAL_MS = 1000;
/** What docker writes to redraw its table on a terminal: clear the screen, cursor home. */
const REDRAW = '\u001b[2J\u001b[H';

export function define(program: Command): void {
  program
    .command('stats')
    .description('live usage of running containers (CPU %, memory, network and block I/O, processes), like docker stats')
    .argument('[names...]', 'containers (default: every running one)')
    .option('--no-stream', 'print one sample and exit')
    .option('--json', 'JSON: one document; while streaming, one line per sample')
    .action(async (names: string[], opts: StatsFlags) => {
      const { statsTargets, sampleUsage, statsRow, formatStats } = await import('../supervise/index.js');
      const { setTimeout: sleep } = await import('node:timers/promises');
      type Sample = Awaited<ReturnType<typeof sampleUsage>>;
      const stream = opts.stream !== false;
      const tty = process.stdout.isTTY === true;
      const take = async (): Promise<Map<string, Sample>> => {
        // every sample lists the containers again: without names, new ones appear and ended ones go
        const targets = await statsTargets(names);
        return new Map(await Promise.all(targets.map(async (s) => [s.name, await sampleUsage(s)] as const)));
      };
      // the first sample only starts the counters: every printed row has a CPU %
      let prev = await take();
      for (;;) {
        await sleep(INTERVAL_MS);
        const now = await take();
        const rows = [...now].map(([name, sample]) => statsRow(name, sample, prev.get(name)));
        prev = now;
        if (opts.json) process.stdout.write(stream ? JSON.stringify(rows) + '\n' : JSON.stringify(rows, null, 2) + '\n');
        else process.stdout.write((stream && tty ? REDRAW : '') + formatStats(rows));
        if (!stream) return;
      }
    });
}
