import type { Command } from 'commander';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function define(program: Command): void {
  program
    .command('exec')
    .description('run a command in a running container (its namespaces, root, working directory and cgroups)')
    .argument('<name>')
    .argument('<command...>')
    .option('-t, --tty', 'allocate a terminal')
    .option('-i, --interactive', 'keep stdin open')
    .option('-e, --env <K=V>', 'extra environment (repeatable)', collect)
    .option('-w, --workdir <dir>', 'working directory')
    .option('-u, --user <user>', 'user NAME or UID[:GID]')
    .passThroughOptions()
    .action(async (name: string, command: string[], opts: { tty?: boolean; interactive?: boolean; env?: string[]; workdir?: string; user?: string }) => {
      const { execIn } = await import('../supervise/index.js');
      process.exitCode = await execIn(name, command, opts);
    });
}
