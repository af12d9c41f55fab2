import type { Path } from './load.js';
import type { ProjectContext } from './service.js';
import { asBool, asList, asMap, asText, bad, isMap } from './values.js';

/**
 * What one service says of others: depends_on, links (and, in mounts.ts, volumes_from), each of
 * which docker compose also reads as start order.
 */

/**
 * A service another one names (depends_on, links): its spec's name. One left out by its profiles
 * is an error, as in docker compose, unless the reference is optional (`required: false`).
 */
export function referenced(ctx: ProjectContext, p: Path, service: string, optional = false): string | undefined {
  const name = ctx.specName(service);
  if (name !== undefined) return name;
  const profiles = ctx.inactiveProfiles(service);
  if (profiles === undefined) bad(ctx, p, `${JSON.stringify(service)} is not a service of this file`);
  if (optional) return undefined;
  return bad(ctx, p, `service ${service} is only in profile ${profiles.join(', ')}, which is not active (--profile ${profiles[0]!} converts it)`);
}

/** depends_on: a list (each service_started) or a map with condition → service → `NAME:COND`. */
export function dependsOn(ctx: ProjectContext, path: Path, v: unknown, deps: Map<string, string>): void {
  if (isMap(v)) {
    for (const [service, x] of Object.entries(v)) {
      const p = [...path, service];
      const m = asMap(ctx, p, x);
      const cond = m.condition === undefined ? 'service_started' : asText(ctx, [...p, 'condition'], m.condition);
      const required = m.required === undefined ? true : asBool(ctx, [...p, 'required'], m.required);
      const name = referenced(ctx, p, service, !required);
      // `required: false` on a service its profiles leave out: compose goes on without it.
      if (name === undefined) continue;
      for (const k of Object.keys(m)) {
        if (k === 'restart' || k === 'required') ctx.unsupported([...p, k], 'vessel orders starts only (condition)');
        else if (k !== 'condition') bad(ctx, [...p, k], 'not a key of depends_on');
      }
      if (cond === 'service_started') deps.set(service, `${name}:started`);
      else if (cond === 'service_healthy') deps.set(service, `${name}:healthy`);
      else if (cond === 'service_completed_successfully') {
        ctx.unsupported([...p, 'condition'], 'service_completed_successfully: vessel waits for a dependency to be started or healthy, not to have exited');
      } else bad(ctx, [...p, 'condition'], `${JSON.stringify(cond)} is not service_started, service_healthy or service_completed_successfully`);
    }
    return;
  }
  // The short form is service_started (compose), written out so a health check does not change it.
  asList(ctx, path, v).forEach((x, i) => {
    const service = asText(ctx, [...path, i], x);
    deps.set(service, `${referenced(ctx, [...path, i], service)!}:started`);
  });
}

/**
 * links: `SERVICE` or `SERVICE:ALIAS`. Services reach each other by name anyway; what a link adds
 * is start order (compose starts a linked service first, as for depends_on), kept here as
 * `NAME:started` unless depends_on already names that service.
 */
export function links(ctx: ProjectContext, path: Path, v: unknown, deps: Map<string, string>): void {
  asList(ctx, path, v).forEach((x, i) => {
    const p = [...path, i];
    const text = asText(ctx, p, x);
    const colon = text.indexOf(':');
    const service = colon < 0 ? text : text.slice(0, colon);
    const alias = colon < 0 ? service : text.slice(colon + 1);
    const name = referenced(ctx, p, service)!;
    if (!deps.has(service)) deps.set(service, `${name}:started`);
    if (alias !== service) ctx.unsupported(p, `link alias ${JSON.stringify(alias)}: vessel resolves ${service} by its name and its networks: aliases, not by a name only this service sees`);
  });
}
