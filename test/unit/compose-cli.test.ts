import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// `vessel compose convert` as a user runs it (the built CLI, no root needed): warnings vs --strict,
// and bad input as one line that creates nothing.
const BIN = resolve(__dirname, '..', '..', 'bin', 'vessel.js');
const dir = mkdtempSync(join(tmpdir(), 'vessel-compose-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function vessel(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, VESSEL_ROOT: join(dir, 'root') }, cwd: dir });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const FILE = join(dir, 'compose.yaml');
writeFileSync(FILE, 'services:\n  web:\n    image: busybox\n    privileged: true\n    labels: [a=b]\n  db:\n    image: busybox\n');

describe('vessel compose convert', () => {
  it('leaves out what vessel cannot express with one warning line, and writes the specs', () => {
    const out = join(dir, 'out');
    const r = vessel(['compose', 'convert', FILE, '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`vessel: warning: ${FILE}: 2 compose keys vessel cannot express: services.web.privileged (line 4: vessel runs no privileged containers (use cap_add)); services.web.labels (line 5: vessel keeps no labels); left out\n`);
    const name = `${dir.split('/').pop()!.toLowerCase()}`;
    expect(readdirSync(out).sort()).toEqual([`${name}-db.ini`, `${name}-web.ini`]);
    expect(r.stdout).toBe(`${join(out, `${name}-web.ini`)}\n${join(out, `${name}-db.ini`)}\n`);
  });

  it('--strict refuses them: one line, nothing written', () => {
    const out = join(dir, 'strict');
    const r = vessel(['compose', 'convert', '--strict', '-f', FILE, '-o', out, '-p', 'shop']);
    expect(r.code).toBe(125);
    expect(r.stderr.split('\n')[0]).toBe(`vessel: ${FILE}: 2 compose keys vessel cannot express: services.web.privileged (line 4: vessel runs no privileged containers (use cap_add)); services.web.labels (line 5: vessel keeps no labels)`);
    expect(r.stderr.split('\n')[1]).toMatch(/^ {2}hint: /);
    expect(existsSync(out)).toBe(false);
  });

  it('without -o prints the specs; -p names the project', () => {
    const r = vessel(['compose', 'convert', FILE, '-p', 'Shop.Front']);
    expect(r.stdout).toContain('# ---- shopfront-web.ini\n');
    expect(r.stdout).toContain('name = shopfront_default\n');
  });

  it('malformed YAML, a cycle: one line, nothing written, nothing under the state root', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'services:\n  web:\n    image: [busybox\n');
    let r = vessel(['compose', 'convert', bad, '-o', join(dir, 'bad-out')]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(`vessel: ${bad}:4: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]\n`);
    writeFileSync(bad, 'services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n');
    r = vessel(['compose', 'up', '-f', bad]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(`vessel: ${bad}: services.a: depends_on: a dependency cycle: services.a → services.b → services.a\n`);
    expect(existsSync(join(dir, 'bad-out'))).toBe(false);
    expect(existsSync(join(dir, 'root', 'compose'))).toBe(false);
  });

  it('--profile (repeatable) and COMPOSE_PROFILES choose the services of profiles; a note names the others', () => {
    const file = resolve(__dirname, '..', 'fixtures', 'compose', 'real', 'electric-sql', 'compose.yaml');
    let r = vessel(['compose', 'convert', file, '-p', 'el']);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^# ---- .*$/gm)).toEqual(['# ---- el-electric.ini']);
    expect(r.stderr).toBe(`vessel: note: ${file}:10: services.postgres is in profile with-postgres, which is not active: not converted (--profile with-postgres converts it)\n`);
    r = vessel(['compose', 'convert', file, '-p', 'el', '--profile', 'other', '--profile', 'with-postgres']);
    expect(r.stdout.match(/^# ---- .*$/gm)).toEqual(['# ---- el-postgres.ini', '# ---- el-electric.ini']);
    const withEnv = spawnSync(process.execPath, [BIN, 'compose', 'convert', file, '-p', 'el'], { encoding: 'utf8', env: { ...process.env, VESSEL_ROOT: join(dir, 'root'), COMPOSE_PROFILES: 'with-postgres' }, cwd: dir });
    expect(withEnv.stdout.match(/^# ---- .*$/gm)).toEqual(['# ---- el-postgres.ini', '# ---- el-electric.ini']);
  });

  it('no compose file here: says which names it looked for', () => {
    const empty = mkdtempSync(join(tmpdir(), 'vessel-compose-none-'));
    const r = spawnSync(process.execPath, [BIN, 'compose', 'convert'], { encoding: 'utf8', cwd: empty });
    rmSync(empty, { recursive: true });
    expect(r.status).toBe(125);
    expect(r.stderr.split('\n')[0]).toBe('vessel: no compose file here (compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml)');
  });
});

describe('one container of a set, outside vessel up', () => {
  it('vessel run --spec says plainly that it ignores depends_on', () => {
    const spec = join(dir, 'web.ini');
    writeFileSync(spec, '[container]\nimage = nosuch\ncommand = true\ndepends_on[] = db\ndepends_on[] = cache:healthy\n');
    const r = vessel(['run', '--spec', spec]);
    expect(r.stderr.split('\n')[0]).toBe(`vessel: ${spec}: depends_on (db, cache:healthy) is ignored by vessel run; only vessel up (and vessel compose up) start a set of specs in order`);
  });
});
