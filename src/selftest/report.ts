import { release, arch } from 'node:os';
import type { DoctorReport } from '../doctor/index.js';
import { renderDoctor } from '../doctor/index.js';
import type { CaseResult, SelftestRun } from './run.js';

const LABEL = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' } as const;

/** One case as the report and the live output show it: PASS/FAIL/SKIP, the feature, the container; why, when not PASS. */
export function renderCaseLine(c: Pick<CaseResult, 'status' | 'feature' | 'container' | 'reason'>): string {
  const why = c.status === 'pass' ? '' : `\n      ${c.reason ?? ''}`;
  return `${LABEL[c.status]}  ${c.feature}  [${c.container}]${why}\n`;
}

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
    // the live line, with the case's title under a failure (what was tried)
    const [head, ...why] = renderCaseLine(c).trimEnd().split('\n');
    lines.push(head!, ...(c.status === 'fail' ? [`      ${c.title}`] : []), ...why);
  }
  const count = (s: CaseResult['status']) => r.results.filter((c) => c.status === s).length;
  lines.push('', `${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped`, '', renderDoctor(doctor).trimEnd());
  return lines.join('\n') + '\n';
}
