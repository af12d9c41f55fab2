import { release, arch } from 'node:os';
import type { DoctorReport } from '../doctor/index.js';
import { renderDoctor } from '../doctor/index.js';
import type { SelftestRun } from './run.js';

/** Everything a bug report needs from one selftest: host, versions, each case, the doctor screen. Pure. */
export function renderSelftestReport(r: SelftestRun, doctor: DoctorReport, meta: { version: string; date: string; node: string; kernel?: string }): string {
  const lines = [
    `vessel selftest report, ${meta.date}`,
    `vessel ${meta.version}, node ${meta.node}, ${doctor.os} ${meta.kernel ?? `${release()} ${arch()}`}`,
    `image ${r.image} (${r.imageId})`,
    '',
  ];
  if (r.swept.length) lines.push(`removed leftovers of an earlier selftest: ${r.swept.join(', ')}`, '');
  for (const c of r.results) {
    lines.push(`${c.ok ? 'PASS' : 'FAIL'}  ${c.feature}  [${c.container}]`);
    if (!c.ok) lines.push(`      ${c.title}`, `      ${c.error ?? ''}`);
  }
  const failed = r.results.filter((c) => !c.ok).length;
  lines.push('', `${r.results.length - failed} passed, ${failed} failed`, '', renderDoctor(doctor).trimEnd());
  return lines.join('\n') + '\n';
}

/** One line per case, as it ends. */
export function renderCaseLine(c: { ok: boolean; feature: string; container: string; error?: string }): string {
  return `${c.ok ? 'PASS' : 'FAIL'}  ${c.feature}  [${c.container}]${c.ok ? '' : `\n      ${c.error ?? ''}`}\n`;
}
