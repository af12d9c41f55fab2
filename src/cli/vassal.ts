import type { Command } from 'commander';

export function define(program: Command): void {
  program
    .command('vassal')
    .description('run one container as a uWSGI Emperor vassal (what the Emperor starts for NAME.vessel)')
    .requiredOption('--config <file>', 'the rendered spec, NAME.vessel')
    .action(async (opts: { config: string }) => {
      // No initLog(): the vassal's lines go out through log()'s built-in JSON writer, which
      // spares every container start pino's ~40 ms of loading. `vessel up` relays the lines.
      const { runVassal } = await import('../emperor/index.js');
      const code = await runVassal({ configFile: opts.config });
      // The Emperor's socket keeps the event loop alive; the exit code is the whole message.
      process.exit(code);
    });
}
