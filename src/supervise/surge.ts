import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BESIDE_DIR_RE, VesselError, besideDir, config, containerPaths, acquireLock, hostOs } from '../util/index.js';
import { isDynamicPublish, type ContainerSpec } from '../spec/index.js';
import { driverFor, type Driver, type Resource } from '../runtime/index.js';
import type { ContainerState, NextRun } from './types.js';
import { readRawState, writeState } from './state.js';
import { resolveSpec } from './resolve.js';
import { resolveHealth } from './health.js';
import { releaseResources } from './leftovers.js';
import { supervisionRecords } from './plan.js';
import { stopMarker } from './control.js';
import { NO_RESTARTS } from './restart.js';
import { recordError } from './gc.js';

/**
 * A zero-downtime reload, in TypeScript's part (the monitor's part is native/common/monitor.c,
 * "surge"): when a running container's spec changes and both publish ports on the same network
 * and the new one has a health check, the next container is prepared beside the running one
 * (its own lease key, no published ports, its own writable layer), the published ports move to
 * it in one atomic step once it is healthy (net's switchPublished: one nft transaction, one pf
 * load), and when the old one is gone the next one takes the container's name (lease, layer,
 * state). A next container that never gets healthy is released and the old one never stopped.
 *
 * On FreeBSD the next run is a second jail with names of its own (runtime/freebsd/names.ts:
 * `NAME@RUNID`, its files and root in `NAME/next-RUNID/`); it keeps them for its whole life, so
 * only the lease and the writable layer take the container's place when the old one is gone.
 */

const samePublish = (a: ContainerSpec, b: ContainerSpec): boolean => JSON.stringify(a.network.publish) === JSON.stringify(b.network.publish);

/** Why a reload from CURRENT to NEXT cannot go beside it (stop-then-start instead), or undefined. */
export async function surgeRefusal(current: ContainerSpec, next: ContainerSpec): Promise<string | undefined> {
  // FreeBSD: a jail's children live inside it (`PARENT.CHILD`) and `jail -r` of the old one removes
  // them, so a parent jail cannot be replaced beside itself
  if (hostOs() === 'freebsd' && [current, next].some((s) => Number(s.jail['children.max'] ?? '0') > 0)) return 'a parent jail (children.max > 0) takes its child jails with it';
  if (current.network.mode !== 'bridge' || next.network.mode !== 'bridge') return 'not on a vessel network';
  if (current.network.name !== next.network.name) return 'the network changes';
  if (current.network.publish.length === 0 || next.network.publish.length === 0) return 'no published ports';
  // a host port chosen at start (`-p 80`, `8000-8010:80`) cannot be promised to the next one ahead
  if (!samePublish(current, next) && next.network.publish.some(isDynamicPublish)) return 'host ports chosen at start change';
  const { resolveImage } = await import('../image/index.js');
  const image = await resolveImage(next.image).catch(() => undefined);
  if (!image) return `image ${next.image} is not in the store`;
  if (!resolveHealth(next, image.record.config ?? {})) return 'the new spec has no health check';
  return undefined;
}

function nextPlanPath(name: string): string {
  return join(containerPaths(config(), name).dir, 'plan.next');
}

async function withContainer<T>(name: string, fn: (s: ContainerState) => Promise<T>): Promise<T> {
  const lock = await acquireLock(containerPaths(config(), name).lock, { what: `container ${name}` });
  try {
    const s = await readRawState(name);
    if (!s) throw new VesselError('E_NOT_FOUND', `no such container: ${name}`);
    return await fn(s);
  } finally {
    lock.release();
  }
}

/** The next container prepared and recorded beside the running one; returns its plan's path. */
export async function prepareNext(spec: ContainerSpec, facts: { service: string; heartbeatMs: number }): Promise<string> {
  return withContainer(spec.name, async (cur) => {
    if (cur.next) throw new VesselError('E_STATE', `container ${spec.name}: a reload is already under way`);
    const runId = randomBytes(4).toString('hex');
    const paths = containerPaths(config(), spec.name);
    // the ports it takes over at the switch: the running one's (host ports chosen at start
    // included), or its own spec's (switchToNext moves exactly these)
    const beside = {
      leaseKey: `${spec.name}@${runId}`,
      layerDir: besideDir(paths.dir, runId),
      ...(samePublish(cur.spec, spec) ? {} : { publish: spec.network.publish }),
    };
    const driver = await driverFor();
    // Recorded first: the lease (it is what resolve creates), then every run resource.
    let recorded: Resource[] = [];
    try {
      const resolved = await resolveSpec(spec, { ephemeral: false, output: { kind: 'file', path: paths.log }, runId, beside });
      const own = driver.resources(resolved.cfg);
      // where the runtime keeps its own objects there (FreeBSD), the directory is its resource
      const keeps = own.some((r) => r.kind === 'dir' && r.id === beside.layerDir);
      recorded = [...resolved.netResources, ...own, ...(keeps ? [] : [{ kind: 'dir' as const, id: beside.layerDir }])];
      const next: NextRun = {
        runId, spec, imageId: resolved.image.record.id, leaseKey: beside.leaseKey, layerDir: beside.layerDir, ...(keeps ? { keepsLayerDir: true as const } : {}), resources: recorded,
      };
      writeState({ ...cur, next });
      return await driver.writePlan(resolved.cfg, supervisionRecords(spec, resolved.cfg, {
        mode: 'emperor',
        statusPath: paths.status,
        stopMarker: stopMarker(spec.name),
        service: facts.service,
        heartbeatMs: facts.heartbeatMs,
      }), nextPlanPath(spec.name));
    } catch (e) {
      // Its directory goes only once everything in it is released: on FreeBSD a volume may still be
      // nullfs-mounted there, and removing through it would reach the host's files. If the release
      // fails the record stays, for `vessel gc` or the next start.
      const released = await releaseResources(driver, beside.leaseKey, recorded.filter((r) => r.kind !== 'dir')).then(() => true, () => false);
      if (released) rmSync(beside.layerDir, { recursive: true, force: true });
      writeState(released ? { ...cur } : { ...cur, next: { runId, spec, imageId: '', leaseKey: beside.leaseKey, layerDir: beside.layerDir, resources: recorded } });
      throw e;
    }
  });
}

/** The published ports move to the next container: one step on the host. */
export async function switchToNext(name: string): Promise<void> {
  const cur = await readRawState(name);
  const next = cur?.next;
  if (!cur || !next) throw new VesselError('E_STATE', `container ${name}: no reload under way`);
  const { switchPublished } = await import('../net/index.js');
  await switchPublished({
    network: next.spec.network.name!,
    from: name,
    to: next.leaseKey,
    // the ports the running one has (host ports chosen at start included), or the new spec's own
    ...(samePublish(cur.spec, next.spec) ? {} : { publish: next.spec.network.publish }),
    record: async (resources) => {
      await withContainer(name, async (s) => {
        if (s.next) writeState({ ...s, next: { ...s.next, resources: [...s.next.resources, ...resources] } });
      });
    },
  });
}

/**
 * The old container is gone (its monitor removed its cgroups; on FreeBSD the old jail's command):
 * what TypeScript created for it is released, and the next one takes the container's name — its
 * lease, its writable layer, the state file's run. On FreeBSD its jail, files and root stay where
 * they are, under its own names (keepsLayerDir).
 */
export async function retireCurrent(name: string): Promise<void> {
  await withContainer(name, async (cur) => {
    const next = cur.next;
    if (!next) throw new VesselError('E_STATE', `container ${name}: no reload under way`);
    const driver = await driverFor();
    await releaseResources(driver, name, cur.resources.filter((r) => r.kind !== 'process'));
    const { renameLease } = await import('../net/index.js');
    const leased = await renameLease(next.leaseKey, name);
    const paths = containerPaths(config(), name);
    // Its writable layer takes the container's place (overlayfs, and FreeBSD's unionfs, hold the
    // layer by reference, not by path: renaming a directory in use is safe), so the next start
    // finds it there. Not a directory something is mounted on (a memory-backed upper): that stays.
    const mountedOn = new Set(next.resources.filter((r) => r.kind === 'mount').map((r) => r.id));
    for (const [from, to] of [[join(next.layerDir, 'upper'), paths.upper], [join(next.layerDir, 'work'), paths.work]] as const) {
      rmSync(to, { recursive: true, force: true });
      if (existsSync(from) && !mountedOn.has(from)) renameSync(from, to);
    }
    if (!next.keepsLayerDir) rmSync(next.layerDir, { recursive: true, force: true });
    if (existsSync(nextPlanPath(name))) renameSync(nextPlanPath(name), paths.plan);
    // what the renamed lease now is replaces the next one's records of those kinds (Linux: the
    // lease, its veth and nft rules; FreeBSD: the lease alone, its epair and anchor are the run's)
    const replaced = new Set(leased.map((r) => r.kind));
    const kept = next.resources.filter((r) => !replaced.has(r.kind) && !(r.kind === 'dir' && r.id === next.layerDir && !next.keepsLayerDir));
    const now = new Date().toISOString();
    const { next: _done, error: _rolledBack, ...rest } = cur;
    writeState({
      ...rest,
      spec: next.spec,
      runId: next.runId,
      imageId: next.imageId,
      resources: [...leased, ...kept],
      restarts: cur.restarts + 1,
      restartCount: NO_RESTARTS,
      startedAt: now,
      status: 'running',
    });
  });
  await recordError(name, undefined);
}

/** The next container never served: released, and why is shown by `vessel ps`. */
export async function abandonNext(name: string, reason: string): Promise<void> {
  await withContainer(name, async (cur) => {
    const next = cur.next;
    if (!next) return;
    await releaseResources(await driverFor(), next.leaseKey, next.resources.filter((r) => r.kind !== 'dir'));
    rmSync(next.layerDir, { recursive: true, force: true });
    rmSync(nextPlanPath(name), { force: true });
    const { next: _gone, ...rest } = cur;
    // in the state, not the spec-error file: the watcher clears that one when the spec is valid
    writeState({ ...rest, error: `reload rolled back: ${reason}` });
  });
}

/**
 * A reload cut short (its monitor or vessel up killed mid-way): the next run its state records is
 * released under its own lease key, then what is left of it in the container's directory. Called
 * once the container's own leftovers are gone (nothing is mounted under its directory any more).
 */
export async function removeReloadLeftovers(name: string, prev: ContainerState | undefined, driver: Driver): Promise<void> {
  if (prev?.next) await releaseResources(driver, prev.next.leaseKey, prev.next.resources.filter((r) => r.kind !== 'dir'));
  removeStaleNextDirs(containerPaths(config(), name).dir);
}

/** What an aborted reload left in the container's directory (its monitor was killed mid-way). */
function removeStaleNextDirs(dir: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) if (BESIDE_DIR_RE.test(e) || e === 'plan.next') rmSync(join(dir, e), { recursive: true, force: true });
}
