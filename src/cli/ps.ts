import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('ps')
    .description('list containers: state (image, status, restarts, last exit, spec errors) merged with the Emperor\'s view (loyal, heartbeat, throttle)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { config } = await import('../util/config.js');
      const { errorMessage } = await import('../util/errors.js');
      const { listStates } = await import('../supervise/index.js');
      // TODO(lead): export listErrors from supervise/index.ts; imported from its file meanwhile.
      const { listErrors } = await import('../supervise/gc.js');
      const { fetchStats, emperorPaths, mergePs, formatPs } = await import('../emperor/index.js');
      const cfg = config();
      let stats;
      let emperorError: string | undefined;
      try {
        stats = await fetchStats(emperorPaths(cfg).stats);
      } catch (e) {
        emperorError = errorMessage(e);
      }
      const now = Date.now();
      const report = mergePs(stats, await listStates(), listErrors(), now, emperorError);
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatPs(report, now));
    });
}
