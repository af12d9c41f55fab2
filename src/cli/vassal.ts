import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('vassal')
    .description('run one container as a uWSGI Emperor vassal (what the Emperor starts for NAME.vessel)')
    .requiredOption('--config <file>', 'the rendered spec, NAME.vessel')
    .action(async (opts: { config: string }) => {
      const { initLog } = await import('../util/log.js');
      // The Emperor's stderr is a pipe or a log file: JSON lines, relayed by `vessel up`.
      await initLog({ pretty: false });
      const { runVassal } = await import('../emperor/vassal.js');
      const code = await runVassal({ configFile: opts.config });
      // The Emperor's socket keeps the event loop alive; the exit code is the whole message.
      process.exit(code);
    });
}
