import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('ps')
    .description('list containers: state (image, status, restarts, last exit, spec errors) merged with the Emperor\'s view (loyal, heartbeat, throttle)')
    .option('-a, --all', 'also containers that have exited (default: running ones, vassals and rejected specs)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean; all?: boolean }) => {
      const { config } = await import('../util/index.js');
      const { errorMessage, hasErrno } = await import('../util/index.js');
      const { listStates } = await import('../supervise/index.js');
      const { listErrors } = await import('../supervise/index.js');
      const { fetchStats, emperorPaths, mergePs, formatPs } = await import('../emperor/index.js');
      const cfg = config();
      let stats;
      let emperorError: string | undefined;
      try {
        stats = await fetchStats(emperorPaths(cfg).stats);
      } catch (e) {
        // no stats socket: no Emperor runs (`vessel run` containers only); nothing to report
        if (!hasErrno(e, 'ENOENT') && !/ENOENT|ECONNREFUSED/.test(errorMessage(e))) emperorError = errorMessage(e);
      }
      const now = Date.now();
      const report = mergePs(stats, await listStates(), listErrors(), now, emperorError);
      // The host ports each container publishes, as its lease records them (chosen at start).
      const { publishedPorts, portsSummary } = await import('../net/index.js');
      const ports = new Map((await publishedPorts()).map((p) => [p.container, p.publish]));
      for (const row of report.containers) {
        const pub = ports.get(row.name);
        if (pub && pub.length > 0) row.ports = portsSummary(pub);
      }
      if (!opts.all) {
        // docker's ps: what runs (and here also what the Emperor holds and what was rejected)
        report.containers = report.containers.filter((c) => c.kind === 'vassal' || c.vassal !== undefined || c.error !== undefined || c.status === 'running' || c.status === 'stopping' || c.status === 'created');
      }
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatPs(report, now));
    });
}
