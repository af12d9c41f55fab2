import type { Command } from 'commander';

interface UpFlags {
  vassals?: string;
  detach?: boolean;
  requiredHeartbeat?: string;
  throttle?: string;
  maxThrottle?: string;
  metrics?: string;
  metricsAllowRemote?: boolean;
}

export function define(program: Command): void {
  program
    .command('up')
    .description('run the uWSGI Emperor and the spec watcher: every spec in the directory becomes a supervised container')
    .option('--vassals <dir>', 'spec directory (default: ./vassals or VESSEL_VASSALS)')
    .option('-d, --detach', 'run in the background (log in $run/emperor.log)')
    .option('--required-heartbeat <s>', 'seconds of vassal silence after which the Emperor kills it (default 30)')
    .option('--throttle <ms>', 'respawn delay added per unloyal death (default 1000)')
    .option('--max-throttle <ms>', 'largest respawn delay (default 60000)')
    .option('--metrics <host:port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (loopback only; or VESSEL_METRICS)')
    .option('--metrics-allow-remote', 'allow --metrics on an address other than loopback (or VESSEL_METRICS_ALLOW_REMOTE=1)')
    .action(async (opts: UpFlags) => {
      const { VesselError } = await import('../util/index.js');
      const num = (flag: string, v: string): number => {
        const n = Number(v);
        if (!Number.isInteger(n) || n <= 0) throw new VesselError('E_USAGE', `${flag}: expected a positive integer, got ${JSON.stringify(v)}`);
        return n;
      };
      const tuning = {
        ...(opts.requiredHeartbeat !== undefined ? { requiredHeartbeatSec: num('--required-heartbeat', opts.requiredHeartbeat) } : {}),
        ...(opts.throttle !== undefined ? { throttleMs: num('--throttle', opts.throttle) } : {}),
        ...(opts.maxThrottle !== undefined ? { maxThrottleMs: num('--max-throttle', opts.maxThrottle) } : {}),
      };
      const { config } = await import('../util/index.js');
      const { parseMetricsAddress } = await import('../emperor/index.js');
      const cfg = config();
      const address = opts.metrics ?? cfg.metrics;
      const metrics = address === undefined ? undefined : {
        address,
        allowRemote: opts.metricsAllowRemote === true || cfg.metricsAllowRemote,
        source: opts.metrics !== undefined ? '--metrics' : cfg.sources.metrics ?? 'VESSEL_METRICS',
      };
      // a refused address is said before anything starts (and before --detach forks)
      if (metrics) parseMetricsAddress(metrics.address, metrics.allowRemote, metrics.source);
      if (opts.detach) {
        const { upDetached } = await import('../emperor/index.js');
        const args = process.argv.slice(process.argv.indexOf('up') + 1).filter((a) => a !== '-d' && a !== '--detach');
        const { pid, logFile } = await upDetached(args);
        process.stdout.write(`vessel up running in the background (pid ${pid}); log: ${logFile}\n`);
        process.exit(0);
      }
      const { initLog } = await import('../util/index.js');
      await initLog({ pretty: process.stderr.isTTY === true });
      const { up } = await import('../emperor/index.js');
      // run, stop, rm, pull and image import from the native front end are served by this process (serve.ts)
      const { serveCli } = await import('./serve.js');
      const code = await up({ ...(opts.vassals !== undefined ? { vassalsDir: opts.vassals } : {}), tuning, ...(metrics ? { metrics } : {}), cli: serveCli });
      process.exit(code);
    });
}
