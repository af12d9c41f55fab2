import type { ContainerSpec, Dependency, DependencyCondition } from './types.js';
import { invalid, show } from './fail.js';
import { validateName } from './name.js';
import { didYouMean } from './suggest.js';
import { hasHealthCheck } from './health.js';

/**
 * Dependencies between specs: `depends_on[] = db`, `db:started`, `db:healthy`.
 *
 * Three parts, all pure:
 * - the value's form (parseDependency), checked when one spec is parsed;
 * - the set (checkDependencies): unknown names, cycles and `healthy` on a spec without a health
 *   check, checked where the whole set is known (the watcher of `vessel up`, `vessel compose`);
 * - the runtime (dependencyGate, stopOrder): may this container start now, and in which order a
 *   set stops (dependents before what they depend on), for whoever runs the set.
 */

const CONDITIONS: readonly DependencyCondition[] = ['started', 'healthy'];

/** `db`, `db:started` or `db:healthy`. */
export function parseDependency(text: string): Dependency {
  const t = text.trim();
  const colon = t.indexOf(':');
  const rawName = colon < 0 ? t : t.slice(0, colon);
  let name: string;
  try {
    name = validateName(rawName, 'container name');
  } catch {
    invalid(`${show(text)}: ${show(rawName)} is not a container name (a spec file's name without .ini)`);
  }
  if (colon < 0) return { name };
  const cond = t.slice(colon + 1);
  if (!(CONDITIONS as readonly string[]).includes(cond)) {
    invalid(`${show(text)}: ${show(cond)} is not a condition (started or healthy)${didYouMean(cond, CONDITIONS)}`);
  }
  return { name, condition: cond as DependencyCondition };
}

export function formatDependency(d: Dependency): string {
  return d.condition === undefined ? d.name : `${d.name}:${d.condition}`;
}

/** One spec's list: no duplicates, and never itself (the smallest cycle, known without the set). */
export function checkOwnDependencies(self: string, deps: readonly Dependency[]): void {
  const seen = new Set<string>();
  for (const d of deps) {
    if (d.name === self) invalid(`${show(d.name)}: a container cannot depend on itself`);
    if (seen.has(d.name)) invalid(`${show(d.name)} is listed more than once`);
    seen.add(d.name);
  }
}

/** What the set check needs of each spec. */
export interface DependencyNode {
  name: string;
  /** The spec file, named in every message. */
  file: string;
  dependsOn: readonly Dependency[];
  hasHealthCheck: boolean;
}

export function dependencyNode(spec: ContainerSpec): DependencyNode {
  return { name: spec.name, file: spec.source ?? spec.name, dependsOn: spec.dependsOn ?? [], hasHealthCheck: hasHealthCheck(spec) };
}

export interface SetCheckOptions {
  /** Names that exist but could not be read (a spec with an error of its own): known, edges unknown. */
  known?: ReadonlySet<string>;
  /** How to name a missing spec in a message, e.g. `no db.ini in /srv/vassals`. */
  missing?: (name: string) => string;
}

/**
 * The set check: every dependency names a spec of the set, `healthy` only where that spec has a
 * health check, and no cycle. Returns one message per spec that fails (a spec on a cycle, or with
 * an unknown dependency); the others are fine. Each message is one line naming the files involved.
 */
export function checkDependencies(nodes: readonly DependencyNode[], opts: SetCheckOptions = {}): Map<string, string> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const errors = new Map<string, string>();
  const missing = opts.missing ?? ((n: string) => `no spec named ${show(n)} in the set`);
  for (const n of nodes) {
    for (const d of n.dependsOn) {
      const dep = byName.get(d.name);
      if (dep === undefined) {
        if (opts.known?.has(d.name)) continue;
        const hint = didYouMean(d.name, byName.keys());
        errors.set(n.name, `${n.file}: [container] depends_on: ${show(d.name)}: ${missing(d.name)}${hint}`);
        break;
      }
      if (d.condition === 'healthy' && !dep.hasHealthCheck) {
        errors.set(n.name, `${n.file}: [container] depends_on: ${formatDependency(d)}: ${dep.file} has no health check ([health] missing or disabled), so it can never be healthy`);
        break;
      }
    }
  }
  for (const cycle of findCycles(nodes, byName)) {
    const path = cycleText(cycle.map((name) => byName.get(name)!.file));
    for (const name of cycle) {
      if (errors.has(name)) continue;
      errors.set(name, `${byName.get(name)!.file}: [container] depends_on: a dependency cycle: ${path}`);
    }
  }
  return errors;
}

/** `a.ini → b.ini → a.ini`; a long cycle is shortened so the message stays one readable line. */
function cycleText(files: string[]): string {
  const MAX = 8;
  if (files.length <= MAX) return [...files, files[0]!].join(' → ');
  return `${[...files.slice(0, MAX - 2), '…', files[files.length - 1]!, files[0]!].join(' → ')} (${files.length} specs)`;
}

/** Every cycle of the graph, each once, as the names along it (Tarjan's strongly connected components). */
function findCycles(nodes: readonly DependencyNode[], byName: Map<string, DependencyNode>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const edges = (name: string) => (byName.get(name)?.dependsOn ?? []).map((d) => d.name).filter((d) => byName.has(d));
  // Iterative: a long chain of specs must not exhaust the JavaScript stack.
  for (const start of [...nodes].map((n) => n.name).sort()) {
    if (idx.has(start)) continue;
    const work: Array<{ name: string; next: number }> = [{ name: start, next: 0 }];
    idx.set(start, index); low.set(start, index); index++;
    stack.push(start); onStack.add(start);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const es = edges(top.name);
      if (top.next < es.length) {
        const w = es[top.next++]!;
        if (!idx.has(w)) {
          idx.set(w, index); low.set(w, index); index++;
          stack.push(w); onStack.add(w);
          work.push({ name: w, next: 0 });
        } else if (onStack.has(w)) low.set(top.name, Math.min(low.get(top.name)!, idx.get(w)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]!.name;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.name)!));
      }
      if (low.get(top.name) === idx.get(top.name)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== top.name);
        if (comp.length > 1) out.push(orderCycle(comp, edges));
      }
    }
  }
  return out;
}

/** The component's names in the order one walk along it meets them, from the smallest name. */
function orderCycle(comp: string[], edges: (name: string) => string[]): string[] {
  const set = new Set(comp);
  const first = [...comp].sort()[0]!;
  const path = [first];
  const seen = new Set(path);
  for (;;) {
    const next = edges(path[path.length - 1]!).find((e) => set.has(e) && !seen.has(e));
    if (next === undefined) break;
    path.push(next);
    seen.add(next);
  }
  return path;
}

/** A dependency as whoever runs the set sees it now. */
export interface DependencyStatus {
  /**
   * `missing`: no such spec; `rejected`: its spec has an error; `waiting`: itself waiting for its
   * own dependencies; `starting`: being prepared; `running`; `exited` / `failed`: not running.
   */
  state: 'missing' | 'rejected' | 'waiting' | 'starting' | 'running' | 'exited' | 'failed';
  /** Its health check's verdict, once one ran (undefined: no check, or none ran yet). */
  health?: 'starting' | 'healthy' | 'unhealthy';
  /** Whether its spec has a [health] section: decides the default condition. */
  hasHealthCheck: boolean;
}

export type GateResult = { ready: true } | { ready: false; reason: string };

/** The condition that applies: the written one, else healthy when the dependency has a health check. */
export function effectiveCondition(d: Dependency, status: Pick<DependencyStatus, 'hasHealthCheck'> | undefined): DependencyCondition {
  return d.condition ?? (status?.hasHealthCheck ? 'healthy' : 'started');
}

/**
 * May `spec` start now? Ready when every dependency is in its condition; otherwise the reason,
 * for `vessel ps`: `waiting for db (healthy; now starting)`. Only the first unmet dependency is
 * named, in the spec's order, so the reason reads as one line.
 */
export function dependencyGate(spec: Pick<ContainerSpec, 'dependsOn'>, lookup: (name: string) => DependencyStatus | undefined): GateResult {
  for (const d of spec.dependsOn ?? []) {
    const st = lookup(d.name);
    const cond = effectiveCondition(d, st);
    if (st === undefined || st.state !== 'running') {
      return { ready: false, reason: `waiting for ${d.name} (${cond}; now ${st?.state ?? 'missing'})` };
    }
    if (cond === 'healthy' && st.health !== 'healthy') {
      return { ready: false, reason: `waiting for ${d.name} (healthy; now ${st.health === undefined ? 'running, no health result yet' : st.health})` };
    }
  }
  return { ready: true };
}

/**
 * The order to stop a set in: every container before the containers it depends on (the reverse
 * of the start order). Names with no order between them come sorted, so the result is stable;
 * dependencies outside the set are ignored, and a cycle (which the set check refuses) is broken
 * at its smallest name rather than looping.
 */
export function stopOrder(specs: ReadonlyArray<Pick<ContainerSpec, 'name' | 'dependsOn'>>): string[] {
  return startOrder(specs).reverse();
}

/** Dependencies first: the order a set starts in. */
export function startOrder(specs: ReadonlyArray<Pick<ContainerSpec, 'name' | 'dependsOn'>>): string[] {
  const names = new Set(specs.map((s) => s.name));
  const deps = new Map(specs.map((s) => [s.name, (s.dependsOn ?? []).map((d) => d.name).filter((n) => names.has(n) && n !== s.name)]));
  const out: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (root: string): void => {
    // Depth-first post-order, iterative for long chains.
    const work: Array<{ name: string; i: number }> = [{ name: root, i: 0 }];
    visiting.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const ds = [...(deps.get(top.name) ?? [])].sort();
      if (top.i < ds.length) {
        const d = ds[top.i++]!;
        if (done.has(d) || visiting.has(d)) continue;
        visiting.add(d);
        work.push({ name: d, i: 0 });
        continue;
      }
      work.pop();
      visiting.delete(top.name);
      done.add(top.name);
      out.push(top.name);
    }
  };
  for (const n of [...names].sort()) if (!done.has(n)) visit(n);
  return out;
}
