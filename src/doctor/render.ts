import type { Check, DoctorReport } from './types.js';

const LABEL: Record<Check['status'], string> = { ok: 'ok', warn: 'warn', missing: 'MISSING', info: 'info' };

/** One screen: a line per feature, the fix indented below what is missing. Pure, for goldens. */
export function renderDoctor(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.feature.length));
  const lines = [`vessel doctor: can this ${r.os === 'freebsd' ? 'FreeBSD' : 'Linux'} host run each feature?`, ''];
  for (const c of r.checks) {
    lines.push(`  ${LABEL[c.status].padEnd(7)}  ${c.feature.padEnd(width)}  ${c.detail}`);
    if (c.fix !== undefined && (c.status === 'missing' || c.status === 'warn')) lines.push(`  ${''.padEnd(7)}  ${''.padEnd(width)}  -> ${c.fix}`);
  }
  const missing = r.checks.filter((c) => c.status === 'missing').length;
  const warn = r.checks.filter((c) => c.status === 'warn').length;
  lines.push('', missing === 0 && warn === 0 ? 'everything vessel uses is here' : `${missing} missing, ${warn} with limits`);
  return lines.join('\n') + '\n';
}
