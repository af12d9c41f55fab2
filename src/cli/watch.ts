import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('watch')
    .description('render the specs of a directory into the Emperor directory as they change (vessel up runs this too)')
    .option('--vassals <dir>', 'spec directory (default: ./vassals or VESSEL_VASSALS)')
    .action(async (opts: { vassals?: string }) => {
      const { initLog } = await import('../util/index.js');
      await initLog({ pretty: process.stderr.isTTY === true });
      const { config } = await import('../util/index.js');
      const { SpecWatcher, emperorPaths } = await import('../emperor/index.js');
      const cfg = config();
      const watcher = new SpecWatcher({
        vassalsDir: opts.vassals ?? cfg.vassalsDir,
        emperorDir: cfg.emperorDir,
        statsSocket: emperorPaths(cfg).stats,
      });
      await watcher.start();
      await new Promise<void>((res) => {
        const done = (): void => res();
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      await watcher.close();
    });
}
