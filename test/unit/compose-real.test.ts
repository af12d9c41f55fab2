import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertCompose, formatFindings, loadCompose, validateConversion, writeConversion } from '../../src/compose/index.js';
import { VesselError } from '../../src/util/errors.js';

/**
 * The converter against compose files written by other projects (test/fixtures/compose/real/,
 * vendored byte for byte from their npm and Debian packages: NOTICE.md). For each file, either
 *  - expected/GOLDEN/ holds exactly the specs `vessel compose convert -o DIR` writes (the set of
 *    files and each one's text), and expected/GOLDEN.out the one line naming what vessel leaves out
 *    (a warning, and the error under --strict) and the notes; or
 *  - expected/GOLDEN.error holds the one-line error, and nothing is written.
 * Absolute paths of this checkout read `<real>`. UPDATE_GOLDEN=1 rewrites them; review the diff.
 */
const REAL = resolve(__dirname, '..', 'fixtures', 'compose', 'real');

interface Case {
  /** Directory under real/ (the project name compose derives from it). */
  dir: string;
  file: string;
  /** --profile values. */
  profiles?: string[];
}

const CASES: Case[] = [
  { dir: 'ldapjs', file: 'docker-compose.yml' },
  { dir: 'redwood', file: 'docker-compose.dev.yml' },
  { dir: 'redwood', file: 'docker-compose.prod.yml' },
  { dir: 'electric-sql', file: 'compose.yaml' },
  { dir: 'electric-sql', file: 'compose.yaml', profiles: ['with-postgres'] },
  { dir: 'electric-sql', file: 'compose-with-postgres.yaml' },
  { dir: 'electric-sql', file: 'compose-with-postgres.yaml', profiles: ['with-postgres'] },
  { dir: 'grafana-create-plugin', file: 'docker-compose.yaml' },
  { dir: 'node-rdkafka', file: 'docker-compose.yml' },
  { dir: 'pino-elasticsearch', file: 'docker-compose-v8.yml' },
  { dir: 'patroni', file: 'docker-compose.yml' },
  { dir: 'crowdsec', file: 'docker-compose.yml' },
  { dir: 'smallstep-certificates', file: 'docker-compose.yml' },
  { dir: 'ipyparallel', file: 'docker-compose.yaml' },
  { dir: 'dd-opentracing-cpp', file: 'docker-compose.yml' },
  { dir: 'jaeger-client-ruby', file: 'docker-compose.yml' },
];

const goldenName = (c: Case) => c.file.replace(/\.ya?ml$/, '') + (c.profiles ?? []).map((p) => `+${p}`).join('');
const scrub = (text: string) => text.split(REAL).join('<real>');
const update = process.env.UPDATE_GOLDEN === '1';

const scratch = mkdtempSync(join(tmpdir(), 'vessel-compose-real-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

type Outcome = { error: string } | { specs: Map<string, string>; out: string };

/** What `vessel compose convert FILE -o DIR [--profile …]` does, in process, with an empty environment. */
async function convertCase(c: Case): Promise<Outcome> {
  const out = mkdtempSync(join(scratch, `${c.dir}-`));
  try {
    const conv = convertCompose(await loadCompose(join(REAL, c.dir, c.file), { env: {} }), { profiles: c.profiles ?? [] });
    validateConversion(conv);
    writeConversion(conv, out);
    const specs = new Map(readdirSync(out).sort().map((f) => [f, scrub(readFileSync(join(out, f), 'utf8'))]));
    const lines = [conv.unsupported.length === 0 ? 'nothing left out' : `left out (the error under --strict): ${formatFindings(conv.file, conv.unsupported)}`];
    for (const n of conv.notes) lines.push(`note: ${n}`);
    return { specs, out: scrub(lines.join('\n')) + '\n' };
  } catch (e) {
    if (!(e instanceof VesselError)) throw e;
    // Bad input changes nothing: no spec was written.
    expect(readdirSync(out)).toEqual([]);
    return { error: scrub(e.message) + '\n' };
  }
}

function golden(c: Case, got: Outcome): void {
  const base = join(REAL, c.dir, 'expected', goldenName(c));
  if (update) {
    for (const p of [base, `${base}.out`, `${base}.error`]) rmSync(p, { recursive: true, force: true });
    mkdirSync(dirname(base), { recursive: true });
    if ('error' in got) writeFileSync(`${base}.error`, got.error);
    else {
      mkdirSync(base, { recursive: true });
      for (const [f, text] of got.specs) writeFileSync(join(base, f), text);
      writeFileSync(`${base}.out`, got.out);
    }
  }
  if ('error' in got) {
    expect(existsSync(base), `${base} should not exist: the file is refused`).toBe(false);
    expect(got.error).toBe(readFileSync(`${base}.error`, 'utf8'));
    expect(got.error.trimEnd()).not.toContain('\n');
    return;
  }
  expect(existsSync(`${base}.error`), `${base}.error should not exist: the file converts`).toBe(false);
  // The set of files, not only those the golden has.
  expect([...got.specs.keys()]).toEqual(readdirSync(base).sort());
  for (const [f, text] of got.specs) expect(text, f).toBe(readFileSync(join(base, f), 'utf8'));
  expect(got.out).toBe(readFileSync(`${base}.out`, 'utf8'));
}

describe('compose convert: real compose files of other projects', () => {
  it('are the files their packages ship, byte for byte, each with its licence and a NOTICE entry', () => {
    const sums = readFileSync(join(REAL, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => l.split(/\s+/));
    expect(sums.length).toBeGreaterThanOrEqual(6);
    const notice = readFileSync(join(REAL, 'NOTICE.md'), 'utf8');
    for (const [sum, file] of sums) {
      expect(createHash('sha256').update(readFileSync(join(REAL, file!))).digest('hex'), file).toBe(sum);
      const dir = file!.split('/')[0]!;
      expect(notice, dir).toContain(`| \`${dir}/\` |`);
      expect(readdirSync(join(REAL, dir)).some((f) => /^(LICENSE|copyright)/.test(f)), `${dir} has its licence`).toBe(true);
      // Every vendored file is converted below.
      expect(CASES.some((c) => `${c.dir}/${c.file}` === file), `${file} has a case`).toBe(true);
    }
  });

  for (const c of CASES) {
    it(`${c.dir}/${c.file}${c.profiles ? ` --profile ${c.profiles.join(' --profile ')}` : ''}`, async () => {
      golden(c, await convertCase(c));
    });
  }

  it('a golden belongs to a case (none left behind by a removed one)', () => {
    for (const dir of new Set(CASES.map((c) => c.dir))) {
      const names = new Set(CASES.filter((c) => c.dir === dir).map(goldenName));
      for (const f of readdirSync(join(REAL, dir, 'expected'))) expect(names.has(f.replace(/\.(out|error)$/, '')), `${dir}/expected/${f}`).toBe(true);
    }
  });
});
