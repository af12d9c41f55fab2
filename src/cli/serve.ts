import { Command, CommanderError } from 'commander';
import type { CliOutcome, CliRequest, CliStream } from '../service/index.js';
import { config, serviceSocket } from '../util/index.js';
import { streamedIo, type CliIo } from './io.js';
import { commanderLine, report } from './main.js';
import type { RunCliOptions } from './run.js';
import type { StopOptions } from './stop.js';
import type { RmOptions } from './rm.js';
import type { PullCliOptions } from './pull.js';
import type { ImportCliOptions } from './image.js';

/**
 * `vessel up` serving the native front end (native/front/, service/cli.ts): `vessel run`, `stop`,
 * `rm`, `pull` and `image import` decided here, in the warm process, with the same command
 * definitions and code as the Node CLI, so a start, a stop or an image's bytes wait for no Node
 * start-up at all. Their words reach the caller as they are written (a progress bar on its
 * terminal); the caller going away stops them, as Ctrl-C stops the Node CLI. A detached run is started from here (its
 * monitor outlives nobody's CLI); a foreground run is prepared here and its monitor exec'd by the
 * front end in the user's terminal (supervise/handoff.ts). Anything else — another command, a
 * caller with another configuration, a cluster task — is answered `node`: the front end runs the
 * Node CLI, which does it as it always did. Nothing is done before that answer.
 */

const NODE: CliOutcome = { kind: 'node' };

/** The settings that choose vessel's state: the caller must have this process's, or it is not ours to serve. */
function configKeys(env: Record<string, string | undefined>): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || v === '' || k === 'VESSEL_LOG_LEVEL') continue;
    if (k.startsWith('VESSEL_') || k.startsWith('APPC_')) m.set(k, v);
  }
  return m;
}

export function sameConfig(req: Pick<CliRequest, 'env' | 'cwd'>, ours: Record<string, string | undefined> = process.env, cwd = process.cwd()): boolean {
  const a = configKeys(req.env);
  const b = configKeys(ours);
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  // a relative value resolves against the working directory: the caller's must be ours then
  return [...a.values()].every((v) => v.startsWith('/')) || req.cwd === cwd;
}

/**
 * What a registry transport reads from its environment besides vessel's own settings (S3's
 * credentials and files, the home that holds them and ssh's default key and known_hosts,
 * proxies, CA files; never an ssh agent: vessel's ssh uses none). A pull runs with vessel up's
 * environment, so it is served only when the caller's says the same on what its registry reads:
 * nothing for file://, the home for sftp://, all of it for any other scheme, for a registry
 * named by configuration (no URL given) and for a command line naming several schemes.
 */
const REGISTRY_ENV = /^(AWS_|HOME$|USERPROFILE$|(HTTPS?|ALL|NO)_PROXY$|(https?|all|no)_proxy$|NODE_EXTRA_CA_CERTS$|SSL_CERT_(FILE|DIR)$)/;
const SCHEME_ENV: Record<string, RegExp | undefined> = { 'file:': undefined, 'sftp:': /^(HOME|USERPROFILE)$/ };

export function sameRegistryEnv(env: Record<string, string | undefined>, ours: Record<string, string | undefined> = process.env, args: string[] = []): boolean {
  const schemes = new Set(args.filter((a) => a.includes('://')).map((a) => /^([a-z][a-z0-9+.-]*:)\/\//i.exec(a)?.[1]?.toLowerCase() ?? '?'));
  const only = schemes.size === 1 ? [...schemes][0]! : '?';
  const reads = only in SCHEME_ENV ? SCHEME_ENV[only] : REGISTRY_ENV;
  if (reads === undefined) return true;
  const keys = new Set([...Object.keys(env), ...Object.keys(ours)].filter((k) => reads.test(k)));
  for (const k of keys) if ((env[k] ?? '') !== (ours[k] ?? '')) return false;
  return true;
}

/** The command words: the verb, and for `image` its sub-command. */
function verbOf(args: string[]): string | undefined {
  const words = args.filter((a) => !a.startsWith('-'));
  return words[0] === 'image' ? `image ${words[1] ?? ''}` : words[0];
}

export async function serveCli(req: CliRequest, stream: CliStream): Promise<CliOutcome> {
  if (!sameConfig(req)) return NODE;
  const verb = verbOf(req.args);
  if (verb !== 'run' && verb !== 'stop' && verb !== 'rm' && verb !== 'pull' && verb !== 'image import') return NODE;
  if (verb === 'pull' && !sameRegistryEnv(req.env, process.env, req.args)) return NODE;
  const io = streamedIo(req.cwd, req.env, stream, req.term !== undefined);
  const done = (code: number): CliOutcome => ({ kind: 'done', stdout: '', stderr: '', code });
  const program = new Command('vessel')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(commanderLine(s)) });
  // the command's own definition, its action given this caller's io (the literal imports keep
  // each command's chunk of its own: cli/main.ts says why)
  let outcome: CliOutcome | undefined;
  const command = (define: (p: Command) => void): Command => {
    define(program);
    const [top, sub] = verb.split(' ');
    const c = program.commands.find((x) => x.name() === top)!;
    return sub === undefined ? c : c.commands.find((x) => x.name() === sub)!;
  };
  if (verb === 'run') {
    command((await import('./run.js')).define).action(async (image: string | undefined, args: string[], o: RunCliOptions) => {
      outcome = await serveRun(image, args, o, io, req);
    });
  } else if (verb === 'pull') {
    const m = await import('./pull.js');
    command(m.define).action((image: string, o: PullCliOptions) => m.pullAction(image, o, io));
  } else if (verb === 'image import') {
    const m = await import('./image.js');
    command(m.define).action((file: string, name: string | undefined, o: ImportCliOptions) => m.importAction(file, name, o, io));
  } else if (verb === 'stop') {
    const m = await import('./stop.js');
    command(m.define).action((names: string[], o: StopOptions) => m.stopAction(names, o, io));
  } else {
    const m = await import('./rm.js');
    command(m.define).action((names: string[], o: RmOptions) => m.rmAction(names, o, io));
  }
  try {
    await program.parseAsync(req.args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return done(e.exitCode === 0 ? 0 : 125);
    return done(report(e, io));
  }
  return outcome ?? done(0);
}

/**
 * `vessel run` for the front end. A cluster task (--foreground) reads its scheduler's variables
 * and is the Node CLI's. Detached: started here. Foreground: prepared here, run by the monitor the
 * front end becomes.
 */
async function serveRun(image: string | undefined, args: string[], o: RunCliOptions, io: CliIo, req: CliRequest): Promise<CliOutcome> {
  if (o.foreground) return NODE;
  const { runSpec, runDetached, releaseArgv } = await import('./run-action.js');
  const spec = await runSpec(image, args, o, io);
  if (o.detach) {
    const code = await runDetached(spec, o, io);
    return { kind: 'done', stdout: '', stderr: '', code };
  }
  const { prepareHandoff } = await import('../supervise/index.js');
  const { initBinary } = await import('../runtime/index.js');
  const plan = await prepareHandoff(spec, { pid: req.pid, autoRemove: o.rm ?? false, service: serviceSocket(config()), releaseArgv: releaseArgv(spec.name) });
  // As the waiting CLI runs it (runtime/monitor-spawn.ts): the user's terminal hears the
  // container, not the monitor, unless debug lines are asked for.
  const level = req.env.VESSEL_LOG_LEVEL;
  const env: Record<string, string> = level === 'debug' || level === 'trace' ? {} : { VESSEL_LOG_LEVEL: 'silent' };
  return { kind: 'exec', stderr: '', argv: [initBinary(), 'monitor', plan], env };
}
