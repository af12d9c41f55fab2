import type { Path } from './load.js';
import { referenced } from './references.js';
import type { ProjectContext } from './service.js';
import { asList, asText, asTextList, bad, isMap } from './values.js';
import { convertTmpfs, convertVolume, type VolumeOut } from './volumes.js';

/**
 * A service's mounts as `volume[]` lines: its volumes and tmpfs, its secrets and configs (docker
 * compose without swarm bind-mounts their files read-only), and what volumes_from copies from
 * other services of the file.
 */
export interface ServiceMounts {
  volumes: VolumeOut[];
  tmpfs: VolumeOut[];
  files: VolumeOut[];
  /** From volumes_from. */
  copied: VolumeOut[];
  /** The services volumes_from names: compose starts them first. */
  from: string[];
}

/** The container path of a `SRC:DST:MODE` / `tmpfs:DST[:OPTS]` line. */
function targetOf(line: string): string {
  if (line.startsWith('tmpfs:')) return line.slice(6).split(':')[0]!;
  const mode = line.lastIndexOf(':');
  return line.slice(line.lastIndexOf(':', mode - 1) + 1, mode);
}

function fileMounts(ctx: ProjectContext, path: Path, svc: Record<string, unknown>): VolumeOut[] {
  const out: VolumeOut[] = [];
  for (const kind of ['secrets', 'configs'] as const) {
    asList(ctx, [...path, kind], svc[kind]).forEach((x, i) => {
      const p = [...path, kind, i];
      const m = isMap(x) ? x : { source: x };
      const source = asText(ctx, [...p, 'source'], m.source);
      const host = ctx.fileObject(kind, source, p);
      if (host === undefined) return;
      // docker compose (without swarm) bind-mounts file secrets read-only at /run/secrets/NAME, configs at /NAME.
      const dflt = kind === 'secrets' ? `/run/secrets/${source}` : `/${source}`;
      const target = m.target === undefined ? dflt : asText(ctx, [...p, 'target'], m.target);
      out.push({ line: `${host}:${target.startsWith('/') ? target : `/run/secrets/${target}`}:ro` });
      for (const k of Object.keys(m)) if (!['source', 'target'].includes(k)) ctx.unsupported([...p, k], 'vessel mounts the file as it is');
    });
  }
  return out;
}

export function serviceMounts(ctx: ProjectContext, service: string, svc: Record<string, unknown>): ServiceMounts {
  const path = ['services', service];
  const vctx = { ...ctx, service };
  const volumes = asList(ctx, [...path, 'volumes'], svc.volumes).flatMap((x, i) => convertVolume(vctx, [...path, 'volumes', i], x) ?? []);
  const tmpfs = svc.tmpfs === undefined ? [] : asTextList(ctx, [...path, 'tmpfs'], svc.tmpfs).map((t, i) => ({ line: convertTmpfs(vctx, [...path, 'tmpfs', i], t) }));
  const files = fileMounts(ctx, path, svc);
  const taken = new Set([...volumes, ...tmpfs, ...files].map((m) => targetOf(m.line)));
  const copied: VolumeOut[] = [];
  const from: string[] = [];
  // volumes_from: SERVICE or service:SERVICE, then :ro or :rw. docker copies the other container's
  // mount points (not its tmpfs), each keeping its own mode unless :ro makes it read-only, and a
  // path the service mounts itself keeps its own mount.
  asList(ctx, [...path, 'volumes_from'], svc.volumes_from).forEach((x, i) => {
    const p = [...path, 'volumes_from', i];
    const text = asText(ctx, p, x);
    const parts = text.split(':');
    if (parts[0] === 'container') {
      ctx.unsupported(p, `${JSON.stringify(text)}: vessel copies the mounts of services of this file, not of other containers`);
      return;
    }
    if (parts[0] === 'service') parts.shift();
    const [source, mode = 'rw'] = parts as [string, string?];
    if (parts.length > 2 || (mode !== 'ro' && mode !== 'rw')) bad(ctx, p, `${JSON.stringify(text)} is not [service:]SERVICE[:ro|rw]`);
    referenced(ctx, p, source);
    if (!from.includes(source)) from.push(source);
    for (const m of ctx.mountsOf(source)) {
      const target = targetOf(m.line);
      if (m.line.startsWith('tmpfs:') || taken.has(target)) continue;
      taken.add(target);
      copied.push({ ...m, line: mode === 'ro' ? m.line.replace(/:rw$/, ':ro') : m.line });
    }
  });
  return { volumes, tmpfs, files, copied, from };
}

/** Every mount of a service, copied ones included (what another service's volumes_from takes). */
export function allMounts(m: ServiceMounts): VolumeOut[] {
  return [...m.volumes, ...m.tmpfs, ...m.files, ...m.copied];
}
