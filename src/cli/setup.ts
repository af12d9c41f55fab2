import type { Command } from 'commander';
import { fail } from './main.js';

async function template(...parts: string[]): Promise<string> {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { config } = await import('../util/index.js');
  return readFileSync(join(config().packageDir, 'templates', ...parts), 'utf8');
}

/** The pf.conf lines of a template, as vessel loads them: they must agree with runtime/freebsd. */
async function checkPfLines(text: string, file: string): Promise<void> {
  const { pfConfLines } = await import('../runtime/freebsd/index.js');
  const lines = text.split('\n').filter((l) => /^(nat|rdr)-anchor /.test(l));
  if (lines.join('\n') !== pfConfLines().join('\n')) fail(`${file} does not match the anchors vessel loads`);
}

export function define(program: Command): void {
  const setup = program.command('setup').description('host configuration vessel needs (FreeBSD): print it, or install the rc.d script');
  setup
    .command('pf')
    .description('print the anchor lines to add to /etc/pf.conf (vessel never edits the main ruleset)')
    .action(async () => {
      const text = await template('pf', 'vessel-anchors.conf');
      // The template is what people read; the code is what loads rules: they must agree.
      await checkPfLines(text, 'templates/pf/vessel-anchors.conf');
      process.stdout.write(text);
    });
  setup
    .command('host')
    .description('print the sysrc, loader.conf, kldload and pf.conf lines set-up cannot do for you (FreeBSD)')
    .action(async () => {
      const text = await template('freebsd', 'host-setup.txt');
      await checkPfLines(text, 'templates/freebsd/host-setup.txt');
      process.stdout.write(text);
    });
  setup
    .command('rc.d')
    .description('install the rc.d(8) script that runs `vessel up` at boot (FreeBSD)')
    .option('--dest <file>', 'where to install it', '/usr/local/etc/rc.d/vessel')
    .option('--print', 'print the script instead of installing it')
    .action(async (opts: { dest: string; print?: boolean }) => {
      const { dirname, join } = await import('node:path');
      const { mkdirSync } = await import('node:fs');
      const { config } = await import('../util/index.js');
      const { writeFileAtomic } = await import('../util/index.js');
      const { renderRcScript } = await import('../emperor/index.js');
      const text = renderRcScript(await template('rc.d', 'vessel'), { node: process.execPath, cli: join(config().packageDir, 'bin', 'vessel.js') });
      if (opts.print) {
        process.stdout.write(text);
        return;
      }
      mkdirSync(dirname(opts.dest), { recursive: true });
      // rc.d(8) scripts are executable; 0555 as the ports install theirs.
      writeFileAtomic(opts.dest, text, 0o555);
      process.stdout.write(`installed ${opts.dest}\nnext: sysrc vessel_enable=YES && service vessel start\n`);
    });
}
