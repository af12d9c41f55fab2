import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { isAbsolute, posix, resolve } from 'node:path';
import { formatSize, isVolumeName, parseSize } from '../spec/index.js';
import type { Path } from './load.js';
import { asBool, asMap, asText, bad, isMap, type Reader } from './values.js';

/**
 * `volumes:` and `tmpfs:` of a service → `volume[]` lines. Compose's rules: a source starting with
 * `.`, `/` or `~` is a host path (relative to the compose file's directory), anything else a volume
 * declared at the top level, named PROJECT_NAME unless it has a `name:` or is `external`; a target
 * alone is an anonymous volume, kept here as a named volume PROJECT_SERVICE_anon_HASH so its data
 * survives the container as docker's does.
 */
export interface VolumeContext extends Reader {
  project: string;
  service: string;
  dir: string;
  /** Top-level volume key → the vessel volume name; undefined when not declared. */
  volumeName(key: string): string | undefined;
  unsupported(path: Path, reason: string): void;
}

export interface VolumeOut {
  line: string;
  named?: string;
}

function hostPath(ctx: VolumeContext, source: string): string {
  const p = source === '~' || source.startsWith('~/') ? homedir() + source.slice(1) : source;
  return isAbsolute(p) ? posix.normalize(p) : resolve(ctx.dir, p);
}

function anonymous(ctx: VolumeContext, target: string): string {
  return `${ctx.project}_${ctx.service}_anon_${createHash('sha256').update(target).digest('hex').slice(0, 8)}`;
}

function named(ctx: VolumeContext, path: Path, key: string): string {
  const name = ctx.volumeName(key);
  if (name === undefined) bad(ctx, path, `service ${ctx.service} mounts volume ${JSON.stringify(key)}, which the top-level volumes: does not declare`);
  return name;
}

const BIND_MODES = new Set(['ro', 'rw']);
// SELinux relabelling and macOS consistency hints: no meaning for vessel's mounts.
const NO_EFFECT = new Set(['z', 'Z', 'cached', 'delegated', 'consistent', 'nocopy']);

function tmpfsLine(ctx: VolumeContext, path: Path, target: string, size: string | undefined, mode: string | undefined): string {
  const opts: string[] = [];
  if (size !== undefined) {
    try {
      opts.push(`size=${formatSize(parseSize(size))}`);
    } catch (e) {
      bad(ctx, path, (e as Error).message);
    }
  }
  if (mode !== undefined) opts.push(`mode=${mode}`);
  return `tmpfs:${target}${opts.length > 0 ? `:${opts.join(',')}` : ''}`;
}

function shortSyntax(ctx: VolumeContext, path: Path, text: string): VolumeOut {
  const parts = text.split(':');
  if (parts.length === 1) {
    const name = anonymous(ctx, parts[0]!);
    return { line: `${name}:${parts[0]}:rw`, named: name };
  }
  if (parts.length > 3) bad(ctx, path, `${JSON.stringify(text)} is not SOURCE:TARGET[:MODE]`);
  const [source, target] = [parts[0]!, parts[1]!];
  let ro = false;
  for (const m of (parts[2] ?? '').split(',').filter((x) => x !== '')) {
    if (BIND_MODES.has(m)) ro = m === 'ro';
    else if (!NO_EFFECT.has(m)) ctx.unsupported(path, `volume option ${JSON.stringify(m)} (vessel mounts take ro or rw)`);
  }
  const mode = ro ? 'ro' : 'rw';
  if (source !== '' && isVolumeName(source)) {
    const name = named(ctx, path, source);
    return { line: `${name}:${target}:${mode}`, named: name };
  }
  return { line: `${hostPath(ctx, source)}:${target}:${mode}` };
}

function longSyntax(ctx: VolumeContext, path: Path, m: Record<string, unknown>): VolumeOut | undefined {
  const type = m.type === undefined ? 'volume' : asText(ctx, [...path, 'type'], m.type);
  if (m.target === undefined) bad(ctx, [...path, 'target'], 'missing (the path inside the container)');
  const target = asText(ctx, [...path, 'target'], m.target);
  const ro = m.read_only === undefined ? false : asBool(ctx, [...path, 'read_only'], m.read_only);
  const known = new Set(['type', 'source', 'target', 'read_only', 'bind', 'volume', 'tmpfs', 'consistency']);
  for (const k of Object.keys(m)) if (!known.has(k)) ctx.unsupported([...path, k], 'not expressible in a vessel volume');
  const sub = (key: string, allowed: string[]) => {
    const o = asMap(ctx, [...path, key], m[key]);
    for (const k of Object.keys(o)) if (!allowed.includes(k)) ctx.unsupported([...path, key, k], 'not expressible in a vessel volume');
    return o;
  };
  const mode = ro ? 'ro' : 'rw';
  switch (type) {
    case 'bind': {
      // create_host_path: vessel never creates host paths; a missing one stops the spec at up.
      sub('bind', ['create_host_path']);
      if (m.source === undefined) bad(ctx, [...path, 'source'], 'missing (a bind mount needs the host path)');
      return { line: `${hostPath(ctx, asText(ctx, [...path, 'source'], m.source))}:${target}:${mode}` };
    }
    case 'volume': {
      sub('volume', ['nocopy']);
      if (m.source === undefined || m.source === '') {
        const name = anonymous(ctx, target);
        return { line: `${name}:${target}:${mode}`, named: name };
      }
      const name = named(ctx, [...path, 'source'], asText(ctx, [...path, 'source'], m.source));
      return { line: `${name}:${target}:${mode}`, named: name };
    }
    case 'tmpfs': {
      const t = sub('tmpfs', ['size', 'mode']);
      const size = t.size === undefined ? undefined : asText(ctx, [...path, 'tmpfs', 'size'], t.size);
      // YAML 1.2 reads `mode: 01777` as the number 1777: its digits are the octal mode people meant.
      const octal = t.mode === undefined ? undefined : asText(ctx, [...path, 'tmpfs', 'mode'], t.mode).replace(/^0o/, '');
      return { line: tmpfsLine(ctx, path, target, size, octal) };
    }
    default:
      ctx.unsupported([...path, 'type'], `volume type ${JSON.stringify(type)} (vessel mounts bind, volume and tmpfs)`);
      return undefined;
  }
}

export function convertVolume(ctx: VolumeContext, path: Path, v: unknown): VolumeOut | undefined {
  if (isMap(v)) return longSyntax(ctx, path, v);
  return shortSyntax(ctx, path, asText(ctx, path, v));
}

/** The service's `tmpfs:` entries (`/run` or `/run:size=64m,mode=1777`). */
export function convertTmpfs(ctx: VolumeContext, path: Path, text: string): string {
  const colon = text.indexOf(':');
  const target = colon < 0 ? text : text.slice(0, colon);
  let size: string | undefined;
  let mode: string | undefined;
  for (const o of colon < 0 ? [] : text.slice(colon + 1).split(',')) {
    const [k, val] = o.split('=');
    if (k === 'size' && val !== undefined) size = val;
    else if (k === 'mode' && val !== undefined) mode = val;
    else if (k !== 'rw') ctx.unsupported(path, `tmpfs option ${JSON.stringify(o)} (vessel's tmpfs takes size and mode)`);
  }
  return tmpfsLine(ctx, path, target, size, mode);
}
