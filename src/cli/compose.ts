import type { Command } from 'commander';
import type { ComposeConversion } from '../compose/index.js';

/**
 * `vessel compose convert|up|down`: docker compose files as vessel specs (src/compose), run under
 * the Emperor with the same code as `vessel up --vassals DIR` (src/emperor). docs/compose.md.
 */
interface Common {
  file?: string;
  projectName?: string;
  strict?: boolean;
  profile?: string[];
}

const collect = (v: string, prev: string[]) => [...prev, v];
const PROFILE_HELP = 'activate a profile: its services are converted too (repeatable; default COMPOSE_PROFILES; "*" is every profile)';

const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];

async function composeFile(given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  const { existsSync } = await import('node:fs');
  const found = DEFAULT_FILES.find((f) => existsSync(f));
  if (found === undefined) {
    const { VesselError } = await import('../util/index.js');
    throw new VesselError('E_USAGE', `no compose file here (${DEFAULT_FILES.join(', ')})`, { hint: 'name it: vessel compose convert FILE, or -f FILE' });
  }
  return found;
}

/** Load, convert, validate; print (or, under --strict, refuse) what vessel cannot express. Nothing written yet. */
async function convert(file: string, o: Common): Promise<ComposeConversion> {
  const c = await import('../compose/index.js');
  const { VesselError } = await import('../util/index.js');
  const src = await c.loadCompose(file, o.projectName !== undefined ? { project: o.projectName } : {});
  const conv = c.convertCompose(src, { profiles: o.profile ?? [] });
  if (conv.unsupported.length > 0) {
    const line = c.formatFindings(conv.file, conv.unsupported);
    if (o.strict) throw new VesselError('E_UNSUPPORTED', line, { hint: 'without --strict these keys are left out with a warning; docs/compose.md lists what maps to what' });
    process.stderr.write(`vessel: warning: ${line}; left out\n`);
  }
  for (const n of conv.notes) process.stderr.write(`vessel: note: ${n}\n`);
  c.validateConversion(conv);
  return conv;
}

/** $VESSEL_ROOT/compose/PROJECT: the converted specs (vassals/) and what `down` must undo (project.json). */
async function projectPaths(project: string) {
  const { join } = await import('node:path');
  const { config } = await import('../util/index.js');
  const dir = join(config().root, 'compose', project);
  return { dir, vassals: join(dir, 'vassals'), record: join(dir, 'project.json') };
}

interface ProjectRecord {
  project: string;
  file: string;
  containers: string[];
  networks: string[];
  volumes: string[];
  /** The `vessel up` running it (this process in the foreground, the background one with -d). */
  upPid?: number;
}

async function buildImages(conv: ComposeConversion, always: boolean): Promise<void> {
  const steps = conv.services.flatMap((s) => (s.build ? [s.build] : []));
  if (steps.length === 0) return;
  const { resolveImage } = await import('../image/index.js');
  const { buildImage } = await import('../build/index.js');
  for (const b of steps) {
    if (!always && (await resolveImage(b.image).then(() => true, () => false))) continue;
    process.stderr.write(`vessel: building ${b.image} from ${b.dockerfile}\n`);
    await buildImage({ context: b.context, file: b.dockerfile, tag: b.image, buildArgs: b.args, log: (l) => process.stderr.write(l + '\n') });
  }
}

export function define(program: Command): void {
  const cmd = program.command('compose').description('docker compose files: convert them to vessel specs, run them under the Emperor');

  cmd
    .command('convert')
    .description('write one vessel spec (INI) per service of a compose file')
    .argument('[file]', `the compose file (default: ${DEFAULT_FILES.join(', ')})`)
    .option('-f, --file <file>', 'the compose file')
    .option('-o, --output <dir>', 'directory to write NAME.ini files into (default: print them)')
    .option('-p, --project-name <name>', 'project name (default: name:, COMPOSE_PROJECT_NAME, or the directory\'s name)')
    .option('--strict', 'refuse the file when it has keys vessel cannot express (default: leave them out with a warning)')
    .option('--profile <name>', PROFILE_HELP, collect, [])
    .action(async (arg: string | undefined, o: Common & { output?: string }) => {
      const conv = await convert(await composeFile(arg ?? o.file), o);
      if (o.output === undefined) {
        process.stdout.write(conv.services.map((s) => `# ---- ${s.name}.ini\n${s.text}`).join('\n'));
        return;
      }
      const { writeConversion } = await import('../compose/index.js');
      for (const p of writeConversion(conv, o.output)) process.stdout.write(`${p}\n`);
    });

  cmd
    .command('up')
    .description('convert a compose file and run it under the uWSGI Emperor (vessel up on the converted specs)')
    .option('-f, --file <file>', 'the compose file')
    .option('-p, --project-name <name>', 'project name')
    .option('--strict', 'refuse the file when it has keys vessel cannot express')
    .option('--profile <name>', PROFILE_HELP, collect, [])
    .option('--build', 'build every service with build: even when its image is in the store')
    .option('-d, --detach', 'run in the background (log in $run/emperor.log)')
    .action(async (o: Common & { build?: boolean; detach?: boolean }) => {
      const { writeJsonAtomic, initLog } = await import('../util/index.js');
      const { writeConversion } = await import('../compose/index.js');
      const conv = await convert(await composeFile(o.file), o);
      const emperor = await import('../emperor/index.js');
      const { config, VesselError } = await import('../util/index.js');
      const running = emperor.runningEmperor(emperor.emperorPaths(config()));
      if (running !== undefined) {
        // Checked before anything is written: one Emperor per state root (docs/compose.md).
        throw new VesselError('E_EXISTS', `an Emperor already runs for ${config().root} (pid ${running})`, {
          hint: 'convert into its spec directory instead: vessel compose convert -o VASSALS_DIR, or use another VESSEL_ROOT',
        });
      }
      await buildImages(conv, o.build === true);
      const p = await projectPaths(conv.project);
      const record: ProjectRecord = {
        project: conv.project,
        file: conv.file,
        containers: conv.services.map((s) => s.name),
        networks: [...new Set(conv.services.flatMap((s) => (s.network ? [s.network] : [])))],
        volumes: [...new Set(conv.services.flatMap((s) => s.volumes))],
      };
      writeJsonAtomic(p.record, record);
      writeConversion(conv, p.vassals, { prune: true });
      if (o.detach) {
        const { pid, logFile } = await emperor.upDetached(['--vassals', p.vassals]);
        writeJsonAtomic(p.record, { ...record, upPid: pid });
        process.stdout.write(`${conv.project}: ${conv.services.length} service${conv.services.length === 1 ? '' : 's'} under vessel up (pid ${pid}); log: ${logFile}\n`);
        process.exit(0);
      }
      writeJsonAtomic(p.record, { ...record, upPid: process.pid });
      await initLog({ pretty: process.stderr.isTTY === true });
      process.exit(await emperor.up({ vassalsDir: p.vassals }));
    });

  cmd
    .command('down')
    .description('stop what compose up runs and remove its containers, networks and converted specs (-v: also its volumes)')
    .option('-f, --file <file>', 'the compose file (for the project name)')
    .option('-p, --project-name <name>', 'project name')
    .option('-v, --volumes', 'also remove the named volumes it declared')
    .option('-t, --timeout <sec>', 'seconds to wait for everything to stop', '90')
    .action(async (o: Common & { volumes?: boolean; timeout: string }) => {
      const { existsSync, rmSync } = await import('node:fs');
      const { setTimeout: sleep } = await import('node:timers/promises');
      const { readJsonFile, writeJsonAtomic, pidAlive, config, VesselError, errorMessage } = await import('../util/index.js');
      if (!/^\d+$/.test(o.timeout)) throw new VesselError('E_USAGE', `--timeout ${o.timeout}: expected a whole number of seconds`);
      let project = o.projectName;
      if (project === undefined) {
        const { loadCompose } = await import('../compose/index.js');
        project = (await loadCompose(await composeFile(o.file))).project;
      } else project = (await import('../compose/index.js')).normalizeProject(project);
      const p = await projectPaths(project);
      const rec = await readJsonFile<ProjectRecord>(p.record);
      if (rec === undefined) {
        process.stdout.write(`${project}: nothing to stop\n`);
        return;
      }
      if (rec.upPid !== undefined && pidAlive(rec.upPid)) {
        // vessel up's shutdown stops every container through the Emperor and sweeps what they left.
        process.kill(rec.upPid, 'SIGTERM');
        const upDeadline = Date.now() + Number(o.timeout) * 1000;
        while (pidAlive(rec.upPid)) {
          if (Date.now() > upDeadline) throw new VesselError('E_RUNTIME', `${project}: vessel up (pid ${rec.upPid}) did not stop within ${o.timeout} s`);
          await sleep(50);
        }
      }
      const { readState, removeContainer, volumeUsers, isLive } = await import('../supervise/index.js');
      // Each step runs whatever the ones before it met: each failure is one line, the record keeps
      // only what is left (so `compose down` again retries just that), and the exit is non-zero.
      const left: ProjectRecord = { project: rec.project, file: rec.file, containers: [], networks: [], volumes: o.volumes ? [] : rec.volumes };
      const failures: Array<{ what: string; error: unknown }> = [];
      const attempt = async (kind: 'containers' | 'networks' | 'volumes', name: string, step: () => Promise<unknown>) => {
        try {
          await step();
        } catch (e) {
          const what = `${kind.slice(0, -1)} ${name}`;
          process.stderr.write(`vessel: ${project}: ${what}: ${errorMessage(e)}\n`);
          failures.push({ what, error: e });
          left[kind].push(name);
        }
      };
      // A vessel up that was SIGKILLed takes its Emperor with it (pdeathsig), whose vassals are
      // still stopping their containers for a moment: their removal is theirs until they are gone.
      const deadline = Date.now() + Number(o.timeout) * 1000;
      for (const name of rec.containers) {
        await attempt('containers', name, async () => {
          for (let st = await readState(name); st !== undefined && st.mode === 'vassal' && isLive(st); st = await readState(name)) {
            if (Date.now() > deadline) throw new VesselError('E_RUNTIME', `still supervised by pid ${st.supervisorPid} after ${o.timeout} s`);
            await sleep(50);
          }
          if ((await readState(name)) !== undefined) await removeContainer(name, { force: true });
        });
      }
      const { removeNetwork } = await import('../net/index.js');
      for (const n of rec.networks) {
        await attempt('networks', n, () => removeNetwork(n).catch((e: unknown) => {
          if (!(e instanceof VesselError && e.code === 'E_NOT_FOUND')) throw e;
        }));
      }
      // The Emperor's copies of the specs, rendered from this project's directory: a later
      // `vessel up` would remove them as orphans, but down leaves nothing behind.
      const { renderedFrom } = await import('../emperor/index.js');
      const { join } = await import('node:path');
      const { readFileSync } = await import('node:fs');
      for (const name of rec.containers) {
        const target = join(config().emperorDir, `${name}.vessel`);
        let content = '';
        try { content = readFileSync(target, 'utf8'); } catch { continue; }
        if (renderedFrom(content, p.vassals, name)) rmSync(target, { force: true });
      }
      rmSync(p.vassals, { recursive: true, force: true });
      // Last: a volume another container still mounts is the likeliest failure, and it must not
      // keep the rest of the project from going.
      if (o.volumes) {
        const { removeVolume } = await import('../volume/index.js');
        for (const v of rec.volumes) await attempt('volumes', v, () => removeVolume(v, volumeUsers, { force: true }));
      }
      if (failures.length > 0) {
        writeJsonAtomic(p.record, left);
        const first = failures[0]!.error;
        throw new VesselError(first instanceof VesselError ? first.code : 'E_RUNTIME', `${project}: down removed the rest but not ${failures.map((f) => f.what).join(', ')} (the reason${failures.length === 1 ? '' : 's'} above)`, {
          hint: `vessel compose down${o.volumes ? ' -v' : ''} -p ${project} again removes what is left once that is fixed`,
        });
      }
      if (existsSync(p.dir)) rmSync(p.dir, { recursive: true, force: true });
      process.stdout.write(`${project}: down\n`);
    });
}
