import type { Command } from 'commander';
import { fail } from './main.js';

export function define(program: Command): void {
  const setup = program.command('setup').description('print host configuration vessel needs (FreeBSD)');
  setup
    .command('pf')
    .description('print the anchor lines to add to /etc/pf.conf (vessel never edits the main ruleset)')
    .action(async () => {
      const { readFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { config } = await import('../util/config.js');
      const { pfConfLines } = await import('../runtime/freebsd/pf.js');
      const text = readFileSync(join(config().packageDir, 'templates', 'pf', 'vessel-anchors.conf'), 'utf8');
      // The template is what people read; the code is what loads rules: they must agree.
      const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
      if (lines.join('\n') !== pfConfLines().join('\n')) fail('templates/pf/vessel-anchors.conf does not match the anchors vessel loads');
      process.stdout.write(text);
    });
}
