import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { FSWatcher } from 'chokidar';
import { checkDependencies, dependencyNode, parseSpecFile, renderSpec, type ContainerSpec, type DependencyNode } from '../spec/index.js';
import { checkStartable, readState, recordError, removeContainer } from '../supervise/index.js';
import { VesselError, pidAlive, writeFileAtomic, errorMessage, hasErrno, log as rootLog, type Log } from '../util/index.js';
import { poke } from './stats.js';

/**
 * `vessel watch`: the user's spec directory (vassals/NAME.ini) → the Emperor's directory
 * (emperor.d/NAME.vessel). Only valid specs reach the Emperor; a bad edit leaves the running
 * container alone and records the error for `vessel ps`.
 *
 * The directory is also the set `depends_on` names refer to: a spec whose dependency has no file
 * here, or that is on a dependency cycle, is rejected like any bad spec (one line naming the files),
 * and re-checked whenever another spec of the set changes, so fixing or adding `db.ini` lets a
 * waiting `web.ini` through.
 */

export interface WatchOptions {
  vassalsDir: string;
  emperorDir: string;
  /** The Emperor's stats socket: connecting to it makes the Emperor rescan at once. */
  statsSocket?: string;
  log?: Log;
  /** Can this spec start here? Default: its image is in the store and its volume sources exist.
   *  (Unit tests without a store pass their own.) */
  check?: (spec: ContainerSpec) => Promise<void>;
}

export type WatchEvent =
  | { kind: 'rendered'; name: string; file: string; target: string }
  | { kind: 'unchanged'; name: string; file: string }
  | { kind: 'removed'; name: string; target: string }
  | { kind: 'rejected'; name: string; file: string; error: string };

interface WatcherEvents {
  event: [WatchEvent];
}

/** First line of every rendered file: marks it as ours and names its source. */
export const RENDERED_MARK = '; rendered by vessel watch from ';

/** Whether CONTENT (an Emperor file) was rendered from NAME's spec in the spec directory DIR. */
export function renderedFrom(content: string, dir: string, name: string): boolean {
  return content.split('\n', 1)[0] === `${RENDERED_MARK}${join(dir, `${name}${SPEC_EXT}`)}`;
}

const SPEC_EXT = '.ini';
const RECHECK_MS = 250;

/** The container name a file of the spec directory stands for; undefined for files not watched. */
export function specName(file: string): string | undefined {
  const base = basename(file);
  // NAME.ini.off, editor swap files and hidden temp files are not specs.
  if (!base.endsWith(SPEC_EXT) || base.startsWith('.') || base.length === SPEC_EXT.length) return undefined;
  return base.slice(0, -SPEC_EXT.length);
}

/** The rendered `NAME.vessel`: a mark naming the source, then the normalized spec. */
export function renderVessel(sourceFile: string, specText: string): string {
  return `${RENDERED_MARK}${sourceFile}\n${specText.endsWith('\n') ? specText : specText + '\n'}`;
}

/**
 * uWSGI compares mtimes in whole seconds and ignores one that does not grow (bug 1): the new
 * file gets max(now, previous + 1 s), so two renders within one second are both noticed.
 */
export function nextMtime(previousMs: number | undefined, nowMs: number): Date {
  const now = Math.floor(nowMs / 1000);
  const prev = previousMs === undefined ? undefined : Math.floor(previousMs / 1000);
  return new Date(1000 * (prev === undefined ? now : Math.max(now, prev + 1)));
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}

export class SpecWatcher extends EventEmitter<WatcherEvents> {
  readonly vassalsDir: string;
  readonly emperorDir: string;
  private readonly statsSocket: string | undefined;
  private readonly log: Log;
  private watcher: FSWatcher | undefined;
  /** Per name: the sync running now, and whether another must follow it. */
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly rechecks = new Map<string, NodeJS.Timeout>();
  private closed = false;
  private readonly check: (spec: ContainerSpec) => Promise<void>;
  /** The last parse of every spec file present: what the set check of depends_on reads. */
  private readonly graph = new Map<string, DependencyNode>();
  /** Spec files present that do not parse: known names to the set check, their edges unknown. */
  private readonly unreadable = new Set<string>();
  /** The set check's verdict after the last sync, per name. */
  private setErrors = new Map<string, string>();

  constructor(opts: WatchOptions) {
    super();
    this.vassalsDir = resolve(opts.vassalsDir);
    this.emperorDir = resolve(opts.emperorDir);
    this.statsSocket = opts.statsSocket;
    this.log = (opts.log ?? rootLog()).child({ component: 'watch' });
    this.check = opts.check ?? checkStartable;
  }

  /** Start watching; resolves once every existing spec was synced and orphans were removed. */
  async start(): Promise<void> {
    const { watch } = await import('chokidar');
    const initial: Array<Promise<void>> = [];
    let ready = false;
    this.watcher = watch(this.vassalsDir, {
      depth: 0,
      ignoreInitial: false,
      // Editors that save by rename-over produce unlink+add; atomic merges them into one change.
      atomic: 100,
      ignored: (path, stats) => path !== this.vassalsDir && (stats?.isDirectory() ?? false),
    });
    const onPath = (path: string): void => {
      const name = specName(path);
      if (name === undefined) {
        // `web.ini.off` appearing means `web.ini` went away: the unlink event handles it.
        return;
      }
      const p = this.schedule(name);
      if (!ready) initial.push(p);
      this.recheckLater(name);
    };
    this.watcher.on('add', onPath).on('change', onPath).on('unlink', onPath);
    this.watcher.on('error', (e) => this.log.error({ err: errorMessage(e) }, 'watch error'));
    await new Promise<void>((res) => this.watcher!.once('ready', () => res()));
    ready = true;
    await Promise.all(initial);
    await this.removeOrphans();
    this.log.info({ vassals: this.vassalsDir, emperor: this.emperorDir }, 'watching specs');
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.rechecks.values()) clearTimeout(t);
    this.rechecks.clear();
    await this.watcher?.close();
    this.watcher = undefined;
    await this.idle();
  }

  /** Resolves when no sync is running or queued. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  /**
   * chokidar drops events for a file replaced again within a few tens of milliseconds (measured
   * with rename-over at 0–20 ms gaps: the last replacements produced no event at all). A sync is
   * idempotent, so every event also schedules one more look a little later: the final content
   * always reaches the Emperor.
   */
  private recheckLater(name: string): void {
    if (this.closed || this.rechecks.has(name)) return;
    this.rechecks.set(
      name,
      setTimeout(() => {
        this.rechecks.delete(name);
        if (!this.closed) void this.schedule(name);
      }, RECHECK_MS),
    );
  }

  /** Sync one name now (also what every file event does). */
  schedule(name: string): Promise<void> {
    const current = this.running.get(name);
    if (current) {
      // Coalesce: whatever happened meanwhile, one more sync after this one sees the final state.
      this.again.add(name);
      return current;
    }
    const p = (async () => {
      try {
        do {
          this.again.delete(name);
          await this.sync(name).catch((e) => this.log.error({ name, err: errorMessage(e) }, 'sync failed'));
          this.recheckSet(name);
        } while (this.again.has(name));
      } finally {
        this.running.delete(name);
      }
    })();
    this.running.set(name, p);
    return p;
  }

  private targetOf(name: string): string {
    return join(this.emperorDir, `${name}.vessel`);
  }

  private async sync(name: string): Promise<void> {
    const file = join(this.vassalsDir, `${name}${SPEC_EXT}`);
    const target = this.targetOf(name);
    let exists = true;
    try {
      exists = statSync(file).isFile();
    } catch (e) {
      if (!hasErrno(e, 'ENOENT')) throw e;
      exists = false;
    }
    if (!exists) {
      this.graph.delete(name);
      this.unreadable.delete(name);
      await this.remove(name, target);
      return;
    }
    let text: string;
    try {
      const spec = await this.parseNode(name, file);
      await this.loadDependencies(spec);
      const setError = this.computeSetErrors().get(name);
      if (setError !== undefined) throw new VesselError('E_SPEC', setError);
      // A spec that could never start (image not in the store, volume source missing) is
      // rejected here, so a running earlier version is not stopped for a start that must fail.
      await this.check(spec);
      text = renderVessel(file, renderSpec(spec));
    } catch (e) {
      const error = errorMessage(e);
      // One line: the message already names file, key and reason.
      this.log.error({ file, name, error }, 'spec rejected; a running container keeps its previous spec');
      await recordError(name, error).catch((re) => this.log.warn({ name, err: errorMessage(re) }, 'cannot record the error'));
      this.emit('event', { kind: 'rejected', name, file, error });
      return;
    }
    await this.clearError(name);
    const previous = readIfExists(target);
    if (previous === text) {
      this.emit('event', { kind: 'unchanged', name, file });
      return;
    }
    let prevMtime: number | undefined;
    try {
      prevMtime = statSync(target).mtimeMs;
    } catch {
      prevMtime = undefined;
    }
    writeFileAtomic(target, text, 0o644, { mtime: nextMtime(prevMtime, Date.now()) });
    this.log.info({ name, file, target }, previous === undefined ? 'spec added' : 'spec changed');
    await this.poke();
    this.emit('event', { kind: 'rendered', name, file, target });
  }

  /** Parse NAME.ini into the set's graph; one that does not parse stays a known name with unknown edges (and throws). */
  private async parseNode(name: string, file: string): Promise<ContainerSpec> {
    try {
      const spec = await parseSpecFile(file);
      this.graph.set(name, dependencyNode(spec));
      this.unreadable.delete(name);
      return spec;
    } catch (e) {
      this.graph.delete(name);
      this.unreadable.add(name);
      throw e;
    }
  }

  /** Dependencies (and theirs) whose files exist but were not read yet: read now, so the set check sees them. */
  private async loadDependencies(spec: ContainerSpec): Promise<void> {
    const queue = (spec.dependsOn ?? []).map((d) => d.name);
    while (queue.length > 0) {
      const dep = queue.shift()!;
      if (this.graph.has(dep) || this.unreadable.has(dep)) continue;
      const file = join(this.vassalsDir, `${dep}${SPEC_EXT}`);
      if (!existsSync(file)) continue;
      // A dependency that does not parse is rejected by its own sync; here it is only a known name.
      const loaded = await this.parseNode(dep, file).catch(() => undefined);
      for (const d of loaded?.dependsOn ?? []) queue.push(d.name);
    }
  }

  private computeSetErrors(): Map<string, string> {
    const nodes = [...this.graph.values()];
    if (!nodes.some((n) => n.dependsOn.length > 0)) return new Map();
    return checkDependencies(nodes, {
      known: this.unreadable,
      missing: (dep) => `no ${dep}${SPEC_EXT} in ${this.vassalsDir}`,
    });
  }

  /** After a sync: every other spec whose set verdict changed (a dependency appeared, went, or closed a cycle) is synced again. */
  private recheckSet(current: string): void {
    const now = this.computeSetErrors();
    const before = this.setErrors;
    this.setErrors = now;
    if (this.closed) return;
    for (const n of new Set([...before.keys(), ...now.keys()])) {
      if (n !== current && before.get(n) !== now.get(n)) void this.schedule(n);
    }
  }

  private async remove(name: string, target: string): Promise<void> {
    const content = readIfExists(target);
    await this.clearError(name);
    if (content === undefined || !this.isOurs(name, content)) return;
    try {
      unlinkSync(target);
    } catch (e) {
      if (!hasErrno(e, 'ENOENT')) throw e;
      return;
    }
    this.log.info({ name, target }, 'spec removed; the Emperor stops its container');
    await this.poke();
    await this.forgetUnsupervised(name);
    this.emit('event', { kind: 'removed', name, target });
  }

  /**
   * A deleted spec deletes its container. While the Emperor runs, the vassal does that when it
   * stops; with no vassal alive (no Emperor, or the spec went away while none ran) it is done here.
   * Containers of `vessel run` that happen to share the name are not touched.
   */
  private async forgetUnsupervised(name: string): Promise<void> {
    try {
      const st = await readState(name);
      // A live vassal (even one idling over a finished container) removes it itself on its stop.
      if (st === undefined || st.mode !== 'vassal' || (st.supervisorPid !== undefined && pidAlive(st.supervisorPid))) return;
      await removeContainer(name);
      this.log.info({ name }, 'container of a deleted spec removed');
    } catch (e) {
      this.log.warn({ name, err: errorMessage(e) }, 'cannot remove the container of a deleted spec');
    }
  }

  private async clearError(name: string): Promise<void> {
    try {
      await recordError(name, undefined);
    } catch (e) {
      this.log.warn({ name, err: errorMessage(e) }, 'cannot clear the recorded error');
    }
  }

  /** Rendered files whose spec is gone (removed while no watcher ran). */
  private async removeOrphans(): Promise<void> {
    let entries: string[];
    try {
      entries = readdirSync(this.emperorDir);
    } catch (e) {
      if (hasErrno(e, 'ENOENT')) return;
      throw e;
    }
    let removed = false;
    for (const entry of entries) {
      if (!entry.endsWith('.vessel')) continue;
      const name = entry.slice(0, -'.vessel'.length);
      const path = join(this.emperorDir, entry);
      const first = (readIfExists(path) ?? '').split('\n', 1)[0] ?? '';
      // A file put there by hand is not ours to remove.
      if (!first.startsWith(RENDERED_MARK)) continue;
      if (this.isOurs(name, first)) {
        await this.schedule(name);
        continue;
      }
      // Rendered from another spec directory (an earlier `vessel up --vassals`): the Emperor
      // runs exactly the specs of the directory watched now.
      try { unlinkSync(path); } catch { /* already gone */ }
      this.log.info({ name, target: path, from: first.slice(RENDERED_MARK.length) }, 'removed a spec rendered from another directory');
      await this.forgetUnsupervised(name);
      this.emit('event', { kind: 'removed', name, target: path });
      removed = true;
    }
    if (removed) await this.poke();
  }

  private isOurs(name: string, content: string): boolean {
    return renderedFrom(content, this.vassalsDir, name);
  }

  private async poke(): Promise<void> {
    if (this.statsSocket) await poke(this.statsSocket);
  }
}
