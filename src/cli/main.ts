import { Command, CommanderError } from 'commander';
import { VesselError, errorMessage, isVesselError } from '../util/index.js';
import type { CliIo } from './io.js';

/**
 * The `vessel` program. Each command lives in its own file exporting `define(program)`, which
 * declares flags and imports its service lazily inside the action: `vessel run` loads the code
 * of `run` and nothing else, so start-up stays close to Node's own.
 *
 * To add a command: create src/cli/<file>.ts and add one line to COMMANDS (name → loader). The
 * imports are literal so the bundler (esbuild, see package.json "build") splits each command into
 * its own chunk.
 */
export type CommandModule = { define(program: Command): void };

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  run: () => import('./run.js'),
  ps: () => import('./ps.js'),
  stop: () => import('./stop.js'),
  kill: () => import('./kill.js'),
  rm: () => import('./rm.js'),
  exec: () => import('./exec.js'),
  logs: () => import('./logs.js'),
  inspect: () => import('./inspect.js'),
  stats: () => import('./stats.js'),
  gc: () => import('./gc.js'),
  config: () => import('./config.js'),
  images: () => import('./images.js'),
  image: () => import('./image.js'),
  build: () => import('./build.js'),
  network: () => import('./network.js'),
  _release: () => import('./release.js'),
  volume: () => import('./volume.js'),
  compose: () => import('./compose.js'),
  port: () => import('./port.js'),
  plan: () => import('./plan.js'),
  setup: () => import('./setup.js'),
  watch: () => import('./watch.js'),
  up: () => import('./up.js'),
  cluster: () => import('./cluster.js'),
  publish: () => import('./publish.js'),
  pull: () => import('./pull.js'),
  tags: () => import('./tags.js'),
  doctor: () => import('./doctor.js'),
  selftest: () => import('./selftest.js'),
};

/** commander's "error: …" said as every vessel error is. */
export function commanderLine(s: string): string {
  return s.startsWith('error: ') ? `vessel: ${s.slice(7)}` : s;
}

export function fail(message: string, hint?: string): never {
  throw new VesselError('E_USAGE', message, hint === undefined ? {} : { hint });
}

/** A failed command's lines (to IO's stderr, default ours) and its exit code. */
function report(e: unknown, io: Pick<CliIo, 'err' | 'env'> = { err: (s) => void process.stderr.write(s), env: process.env }): number {
  if (isVesselError(e)) {
    io.err(`vessel: ${e.message}\n`);
    if (e.hint) io.err(`  hint: ${e.hint}\n`);
    if (io.env.VESSEL_LOG_LEVEL === 'debug' && e.stack) io.err(e.stack + '\n');
    return e.exitCode;
  }
  io.err(`vessel: internal error: ${errorMessage(e)}\n`);
  if (e instanceof Error && e.stack) io.err(e.stack + '\n');
  return 125;
}

export async function main(argv: string[]): Promise<void> {
  // `vessel images | head`: a closed pipe ends the output, not the process with a stack trace
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  const program = new Command('vessel')
    .description('application containers for FreeBSD jails and Linux namespaces, supervised by the uWSGI Emperor')
    .version('0.1.0')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(commanderLine(s)) });

  const first = argv.find((a) => !a.startsWith('-'));
  const loaders = first !== undefined && COMMANDS[first] ? [COMMANDS[first]] : [...new Set(Object.values(COMMANDS))];
  const mods = [...new Set(await Promise.all(loaders.map((l) => l())))];
  for (const m of mods) m.define(program);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; usage errors exit 125 like docker's.
      process.exitCode = e.exitCode === 0 ? 0 : 125;
      return;
    }
    process.exitCode = report(e);
  }
}


export { report };
