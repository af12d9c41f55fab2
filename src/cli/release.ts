import type { Command } from 'commander';

/**
 * `vessel _release NAME`: what a detached container's monitor runs once at the end of the
 * container's life when no `vessel up` serves it — the release of what TypeScript created
 * (address lease, firewall rules, a FreeBSD jail's objects). Hidden: not for people.
 */
export function define(program: Command): void {
  program
    .command('_release <name>', { hidden: true })
    .action(async (name: string) => {
      const { releaseRun } = await import('../supervise/index.js');
      await releaseRun(name);
    });
}
