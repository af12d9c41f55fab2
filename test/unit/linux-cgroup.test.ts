import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupLimitWrites, type LimitWrite } from '../../src/runtime/linux/cgroup-limits.js';
import type { Limits } from '../../src/spec/index.js';

// Issue 12 item 7: the Linux limit writes rendered as data, under golden files a reviewer can read
// (as the FreeBSD rctl rules are), for cgroup v1 and v2.
const DIR = join(__dirname, '..', 'fixtures', 'linux', 'cgroup');

const CASES: Record<string, Limits> = {
  none: {},
  memory: { memoryBytes: 64 * 1024 * 1024 },
  pids: { maxproc: 50 },
  cpu: { cpuPercent: 50 },
  'cpu-tiny': { cpuPercent: 0.2 },
  all: { memoryBytes: 256 * 1024 * 1024, maxproc: 100, cpuPercent: 150 },
};

const show = (ws: LimitWrite[]) => ws.map((w) => `${w.controller}/${w.file} = ${w.value}${w.when ? `   (${w.when})` : ''}\n`).join('');

describe('cgroupLimitWrites: limits → file writes', () => {
  const written: string[] = [];
  for (const version of [1, 2] as const) {
    for (const [name, limits] of Object.entries(CASES)) {
      it(`v${version} ${name}`, () => {
        const file = `v${version}-${name}.txt`;
        written.push(file);
        const text = show(cgroupLimitWrites(version, limits));
        const path = join(DIR, file);
        if (process.env.UPDATE_GOLDEN === '1') {
          mkdirSync(DIR, { recursive: true });
          writeFileSync(path, text);
          return;
        }
        expect(existsSync(path), `golden ${file}`).toBe(true);
        expect(text).toBe(readFileSync(path, 'utf8'));
      });
    }
  }
  it('every golden file is one a case writes (none missing, none stale)', () => {
    if (process.env.UPDATE_GOLDEN === '1') return;
    expect(readdirSync(DIR).sort()).toEqual([...written].sort());
  });
});
