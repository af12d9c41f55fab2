/**
 * `vessel vassal --config NAME.vessel` without the CLI around it: the entry the wrapper execs
 * for every container start and respawn. Same code path as the `vassal` command, minus loading
 * commander and every command's definition (~20 ms of each start, measured).
 * Bundled as dist/bundle/vassal-main.js; runs on import.
 */
import { runVassal } from './vassal.js';

function configArg(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--config') return argv[i + 1];
    if (a.startsWith('--config=')) return a.slice('--config='.length);
  }
  return undefined;
}

const file = configArg(process.argv.slice(2));
if (file === undefined || file === '') {
  process.stderr.write('vessel vassal: --config NAME.vessel is required\n');
  process.exit(125);
}
try {
  process.exit(await runVassal({ configFile: file }));
} catch (e) {
  process.stderr.write(`vessel vassal: ${e instanceof Error ? e.message : String(e)}\n`);
  // Non-zero and not 26: the Emperor respawns (throttled) rather than exiling the vassal.
  process.exit(125);
}
