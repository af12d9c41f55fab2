import { run } from '../util/index.js';
import type { Check } from './types.js';

/** uWSGI 2.0.x is what vessel's Emperor integration is written and tested against. */
export async function uwsgiCheck(installHint: string): Promise<Check> {
  const r = await run(['uwsgi', '--version'], { allowFailure: true });
  const version = r.stdout.trim().split('\n')[0] ?? '';
  const base = { id: 'uwsgi', feature: 'uWSGI Emperor (vessel up)' };
  if (r.exitCode !== 0 || version === '') return { ...base, status: 'missing', detail: 'uwsgi is not on PATH', fix: installHint };
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m || Number(m[1]) !== 2) return { ...base, status: 'warn', detail: `uwsgi ${version}: vessel is tested with 2.0.x`, fix: installHint };
  return { ...base, status: 'ok', detail: `uwsgi ${version}` };
}

/** package.json engines: node >= 20. */
export function nodeCheck(version: string, installHint: string): Check {
  const major = Number(/^v?(\d+)/.exec(version)?.[1] ?? 0);
  const base = { id: 'node', feature: 'Node.js (vessel itself)' };
  return major >= 20 ? { ...base, status: 'ok', detail: `node ${version}` } : { ...base, status: 'missing', detail: `node ${version}: vessel needs 20 or later`, fix: installHint };
}
