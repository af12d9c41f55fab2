import type { Command } from 'commander';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export interface RunCliOptions {
  tty?: boolean;
  interactive?: boolean;
  detach?: boolean;
  rm?: boolean;
  name?: string;
  volume?: string[];
  tmpfs?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  memory?: string;
  pids?: string;
  cpus?: string;
  restart?: string;
  network?: string;
  publish?: string[];
  publishAll?: boolean;
  stopTimeout?: string;
  stopSignal?: string;
  wait?: string;
  entrypoint?: string;
  spec?: string;
  foreground?: boolean;
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthRetries?: string;
  healthStartPeriod?: string;
  /** commander's name for --no-healthcheck: false when it is given. */
  healthcheck?: boolean;
}

export function define(program: Command): void {
  program
    .command('run')
    .description('run a command in a new container (IMAGE [CMD…]), or a spec file (--spec FILE / --foreground FILE)')
    .argument('[image]', 'image NAME[:TAG], or the spec file with --foreground')
    .argument('[command...]', 'command and arguments (default: the image\'s CMD)')
    .option('-t, --tty', 'allocate a terminal')
    .option('-i, --interactive', 'keep stdin open')
    .option('-d, --detach', 'run in the background under a vessel supervisor')
    .option('--rm', 'remove the container when it exits (its writable layer lives in memory)')
    .option('--name <name>', 'container name')
    .option('-v, --volume <SRC:DST[:ro|rw]>', 'bind a host path, or mount a named volume NAME:DST (repeatable)', collect)
    .option('--tmpfs <DST[:size=…]>', 'mount a tmpfs (repeatable)', collect)
    .option('-e, --env <K=V>', 'set an environment variable (repeatable)', collect)
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user>', 'user NAME or UID[:GID]')
    .option('--hostname <name>', 'container host name')
    .option('--memory <size>', 'memory limit, e.g. 64M')
    .option('--pids <n>', 'process limit')
    .option('--cpus <cpu>', 'cpu limit: 50% or 0.5 (cores)')
    .option('--restart <policy>', 'always | on-failure[:N] | no (detached containers)')
    .option('--network <net>', 'none | host | NAME')
    .option('-p, --publish <[IP:][HOST:]CONTAINER[/proto]>', 'publish a port or range (8000-8010:8000-8010); no HOST: a free one; IPv6 as [::1]:8080:80 (repeatable)', collect)
    .option('-P, --publish-all', 'publish every port the image exposes on a free host port')
    .option('--stop-timeout <sec>', 'seconds between the stop signal and SIGKILL')
    .option('--stop-signal <sig>', 'signal that stops the container')
    .option('--wait <mode>', 'all (jail semantics, default) | main (ends with the main command)')
    .option('--entrypoint <cmd>', 'override the image\'s entrypoint')
    .option('--health-cmd <cmd>', 'health check: a shell command run inside the container (non-zero: unhealthy)')
    .option('--health-interval <duration>', 'time between health checks (30s, 1m30s; default 30s)')
    .option('--health-timeout <duration>', 'a check running longer fails (default 30s)')
    .option('--health-retries <n>', 'failures in a row that make the container unhealthy (default 3)')
    .option('--health-start-period <duration>', 'failures in this time after start do not count (default 0s)')
    .option('--no-healthcheck', 'do not run the image\'s HEALTHCHECK')
    .option('--spec <file>', 'run the container described by a spec file (flags override it)')
    .option('--foreground', 'run the spec file given as IMAGE in the foreground, as a cluster task (Nomad, Slurm)')
    .passThroughOptions()
    .action(async (image: string | undefined, command: string[], opts: RunCliOptions) => {
      const { runCommand } = await import('./run-action.js');
      process.exitCode = await runCommand(image, command, opts);
    });
}
