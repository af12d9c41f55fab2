import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertCompose, formatFindings, interpolate, loadCompose, parseDotenv, validateConversion, writeConversion, type ComposeConversion } from '../../src/compose/index.js';
import { VesselError } from '../../src/util/errors.js';

/**
 * The converter against a matrix of compose files (test/fixtures/compose/NAME/compose.yaml), each
 * compared with NAME/expected.txt: every spec it writes, the keys it leaves out, its notes.
 * UPDATE_GOLDEN=1 rewrites them; review the diff.
 */
const FIX = resolve(__dirname, '..', 'fixtures', 'compose');
// COMPOSE_PROFILES: the unsupported fixture's service is in profile debug (left out otherwise).
const ENV = { RELEASE_FROM_SHELL: 'x', FROM_SHELL: 'from the environment', COMPOSE_PROFILES: 'debug' };

function render(c: ComposeConversion, dir: string): string {
  const out: string[] = [`project: ${c.project}`];
  for (const s of c.services) {
    out.push(`---- ${s.name}.ini (service ${s.service}${s.network ? `, network ${s.network}` : ''}${s.volumes.length ? `, volumes ${s.volumes.join(' ')}` : ''})`);
    if (s.build) out.push(`build: ${JSON.stringify(s.build)}`);
    out.push(s.text.trimEnd());
  }
  out.push('---- left out');
  out.push(c.unsupported.length === 0 ? '(nothing)' : formatFindings(c.file, c.unsupported));
  out.push('---- notes', ...(c.notes.length === 0 ? ['(none)'] : c.notes));
  return out.join('\n').split(dir).join('<dir>').split(homedir()).join('<home>') + '\n';
}

async function convertFixture(name: string, env: Record<string, string> = ENV): Promise<ComposeConversion> {
  return convertCompose(await loadCompose(join(FIX, name, 'compose.yaml'), { env }));
}

function golden(name: string, actual: string): void {
  const path = join(FIX, name, 'expected.txt');
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) writeFileSync(path, actual);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

const FIXTURES = readdirSync(FIX).filter((f) => existsSync(join(FIX, f, 'compose.yaml'))).sort();

describe('compose convert: golden files', () => {
  it('has the matrix', () => {
    expect(FIXTURES).toEqual(expect.arrayContaining(['anchors', 'commands', 'networks', 'ports', 'unsupported', 'webapp']));
  });
  for (const name of FIXTURES) {
    it(name, async () => {
      const c = await convertFixture(name);
      golden(name, render(c, join(FIX, name)));
      // What is written is what the spec parser (and so vessel up) accepts: docker's own short
      // port syntax included (ranges, container-only ports, IPv6 host addresses).
      validateConversion(c);
    });
  }
});

describe('compose convert: behaviour', () => {
  it('the environment wins over .env; .env over defaults', async () => {
    const c = await convertFixture('webapp', { ...ENV, DB_NAME: 'fromenv', PROJECT: 'shop' });
    expect(c.project).toBe('shop');
    const app = c.services.find((s) => s.service === 'app')!;
    expect(app.text).toContain('env[] = DATABASE_URL=postgres://app@db:5432/fromenv\n');
  });

  it('an unset variable is an empty string and a note; :? is an error naming the line', async () => {
    const unset = new Set<string>();
    expect(interpolate('a${X}b$Y${Z:-d}${W-e}$$', () => undefined, unset)).toBe('abde$');
    expect([...unset].sort()).toEqual(['X', 'Y']);
    expect(interpolate('${A:+set}${B+set}${C:-${D:-deep}}', (n) => ({ A: 'x', B: '' })[n], new Set())).toBe('setsetdeep');
    expect(() => interpolate('${PW:?give a password}', () => undefined, new Set())).toThrow('required variable PW is missing a value: give a password');
    expect(() => interpolate('${PW', () => undefined, new Set())).toThrow(/unterminated/);
    expect(() => interpolate('${1X}', () => undefined, new Set())).toThrow(/does not start with a variable name/);
  });

  it('reads .env files: comments, export, quotes, interpolation of earlier keys', () => {
    const entries = parseDotenv('# c\nexport A=1\nB="x ${A} \\"q\\"\\n"\nC=\'$A\'\nD=plain # comment\nE\n', '.env', (n) => (n === 'E' ? 'outer' : undefined), new Set());
    expect(entries.map((e) => [e.key, e.value])).toEqual([['A', '1'], ['B', 'x 1 "q"\n'], ['C', '$A'], ['D', 'plain'], ['E', 'outer']]);
    expect(() => parseDotenv('A="open\n', '.env', () => undefined, new Set())).toThrow('.env:1: A: unterminated " quote');
    expect(() => parseDotenv('not a line\n', '.env', () => undefined, new Set())).toThrow(/\.env:1: "not a line" is not KEY=VALUE/);
  });
});

const scratch = mkdtempSync(join(tmpdir(), 'vessel-compose-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function errorOf(yaml: string, file = 'compose.yaml'): Promise<string> {
  const dir = mkdtempSync(join(scratch, 'vessel-compose-'));
  writeFileSync(join(dir, file), yaml);
  try {
    const c = convertCompose(await loadCompose(join(dir, file), { env: {} }));
    validateConversion(c);
  } catch (e) {
    expect(e).toBeInstanceOf(VesselError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message.split(dir).join('<dir>');
  }
  throw new Error('expected the compose file to be refused');
}

describe('compose convert: bad input is one line naming file, line and key', () => {
  it('malformed YAML, with its line', async () => {
    expect(await errorOf('services:\n  web:\n    image: busybox\n   bad: [\n')).toMatch(/^<dir>\/compose\.yaml:4: not valid YAML: /);
    expect(await errorOf('services:\n  web:\n    image: a\n    image: b\n')).toMatch(/^<dir>\/compose\.yaml:4: not valid YAML: Map keys must be unique/);
  });

  it('a dependency cycle names the services on it', async () => {
    const y = 'services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n';
    expect(await errorOf(y)).toBe('<dir>/compose.yaml: services.a: depends_on: a dependency cycle: services.a → services.b → services.a');
  });

  it('an unknown dependency, an undeclared volume or network', async () => {
    expect(await errorOf('services:\n  a:\n    image: x\n    depends_on: [nope]\n')).toBe('<dir>/compose.yaml:4: services.a.depends_on[0]: "nope" is not a service of this file');
    expect(await errorOf('services:\n  a:\n    image: x\n    volumes: [data:/d]\n')).toMatch(/^<dir>\/compose\.yaml:4: services\.a\.volumes\[0\]: service a mounts volume "data", which the top-level volumes: does not declare$/);
    expect(await errorOf('services:\n  a:\n    image: x\n    networks: [front]\n')).toBe('<dir>/compose.yaml:4: services.a.networks: "front" is not declared in the top-level networks:');
  });

  it('healthy on a service without a health check', async () => {
    expect(await errorOf('services:\n  a:\n    image: x\n    depends_on:\n      b: {condition: service_healthy}\n  b:\n    image: x\n'))
      .toMatch(/^<dir>\/compose\.yaml: services\.a: depends_on: vessel-compose-\w+-b:healthy: services\.b has no health check \(\[health\] missing or disabled\), so it can never be healthy$/);
  });

  it('bad values: ports, durations, restart, sizes, names', async () => {
    expect(await errorOf('services:\n  a:\n    image: x\n    ports: ["70000:80"]\n')).toBe('<dir>/compose.yaml:4: services.a.ports[0]: "70000:80": port 70000 is not in 1..65535');
    expect(await errorOf('services:\n  a:\n    image: x\n    ports: ["8000-8002:80-81"]\n')).toBe('<dir>/compose.yaml:4: services.a.ports[0]: "8000-8002:80-81": 3 host ports (8000-8002) for 2 container ports (80-81)');
    expect(await errorOf('services:\n  a:\n    image: x\n    healthcheck:\n      test: ["CMD", "true"]\n      interval: soon\n')).toBe('<dir>/compose.yaml:6: services.a.healthcheck.interval: "soon" is not a duration (use 30s, 1m30s, 500ms, or seconds)');
    expect(await errorOf('services:\n  a:\n    image: x\n    restart: sometimes\n')).toMatch(/:4: services\.a\.restart: "sometimes" is not a restart policy/);
    expect(await errorOf('services:\n  a:\n    image: x\n    mem_limit: lots\n')).toMatch(/:4: services\.a\.mem_limit: "lots" is not a size/);
    expect(await errorOf('services:\n  a:\n    image: x\n    container_name: "bad name"\n')).toMatch(/:2: services\.a: "bad name" is not a valid container name/);
    expect(await errorOf('services:\n  a:\n    build: .\n    user: "not a user!"\n')).toMatch(/^<dir>\/compose\.yaml: services\.a: \[container\] user: "not a user!" is not a user/);
    expect(await errorOf('services:\n  a:\n    command: x\n')).toBe('<dir>/compose.yaml:2: services.a: has neither image nor build');
    expect(await errorOf('services: {}\n')).toMatch(/services: no services to convert/);
    expect(await errorOf('- a\n- b\n')).toMatch(/a compose file is a mapping with services:/);
  });

  it('a missing compose file or required env_file', async () => {
    await expect(loadCompose('/nonexistent/compose.yaml')).rejects.toThrow('/nonexistent/compose.yaml: no such compose file');
    expect(await errorOf('services:\n  a:\n    image: x\n    env_file: nothere.env\n')).toBe('<dir>/compose.yaml:4: services.a.env_file: <dir>/nothere.env: no such env file');
  });
});

async function convertText(yaml: string, env: Record<string, string> = {}, profiles: string[] = []): Promise<ComposeConversion> {
  const dir = mkdtempSync(join(scratch, 'vessel-compose-'));
  writeFileSync(join(dir, 'compose.yaml'), yaml);
  const c = convertCompose(await loadCompose(join(dir, 'compose.yaml'), { env, project: 'p' }), { profiles });
  validateConversion(c);
  return c;
}
const spec = (c: ComposeConversion, service: string) => c.services.find((s) => s.service === service)?.text ?? '';

// Found by the real compose files of other projects (test/unit/compose-real.test.ts).
describe('compose convert: what real compose files showed', () => {
  it('the version 1 format (services at the top level) is named as such (node-rdkafka)', async () => {
    expect(await errorOf('---\nzookeeper:\n  image: z\nkafka:\n  image: k\n  links: [zookeeper]\n'))
      .toBe('<dir>/compose.yaml:2: zookeeper: a service outside services: is the version 1 compose format, which docker compose v2 does not read either; move zookeeper, kafka under services:');
  });

  it('extends is refused in one line naming what it would take (grafana create-plugin)', async () => {
    expect(await errorOf('services:\n  a:\n    extends:\n      file: base.yaml\n      service: b\n'))
      .toBe('<dir>/compose.yaml:3: services.a.extends: vessel does not merge services: this one takes its settings from service b of base.yaml; write them out in this service');
    expect(await errorOf('services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: x\n')).toMatch(/:4: services\.a\.extends: .* from service b of this file;/);
  });

  it('profiles: a service whose profiles are not active is left out with a note (electric-sql)', async () => {
    const y = 'services:\n  db:\n    image: pg\n    profiles: [with-db]\n  app:\n    image: app\n  tools:\n    image: t\n    profiles: [a, b]\n';
    let c = await convertText(y);
    expect(c.services.map((s) => s.service)).toEqual(['app']);
    expect(c.unsupported).toEqual([]);
    expect(c.notes.map((n) => n.replace(/^.*compose\.yaml/, ''))).toEqual([
      ':4: services.db is in profile with-db, which is not active: not converted (--profile with-db converts it)',
      ':9: services.tools is in profiles a, b, none of which is active: not converted (--profile a converts it)',
    ]);
    expect((await convertText(y, { COMPOSE_PROFILES: 'b, with-db' })).services.map((s) => s.service)).toEqual(['db', 'app', 'tools']);
    // --profile wins over COMPOSE_PROFILES, as in docker compose; * is every profile.
    expect((await convertText(y, { COMPOSE_PROFILES: 'b' }, ['with-db'])).services.map((s) => s.service)).toEqual(['db', 'app']);
    expect((await convertText(y, {}, ['*'])).services.map((s) => s.service)).toEqual(['db', 'app', 'tools']);
    expect((await convertText('services:\n  a:\n    image: x\n    profiles: []\n')).services.map((s) => s.service)).toEqual(['a']);
  });

  it('profiles: depending on a left-out service is an error unless required: false; all left out is an error', async () => {
    const y = 'services:\n  db:\n    image: pg\n    profiles: [with-db]\n  app:\n    image: app\n    depends_on:\n      - db\n';
    expect(await errorOf(y)).toBe('<dir>/compose.yaml:8: services.app.depends_on[0]: service db is only in profile with-db, which is not active (--profile with-db converts it)');
    const optional = 'services:\n  db:\n    image: pg\n    profiles: [with-db]\n  app:\n    image: app\n    depends_on:\n      db: {condition: service_started, required: false}\n';
    const c = await convertText(optional);
    expect(spec(c, 'app')).not.toContain('depends_on');
    expect(c.unsupported).toEqual([]);
    expect(await errorOf('services:\n  db:\n    image: pg\n    profiles: [with-db]\n')).toBe('<dir>/compose.yaml:1: services: no services to convert: every one is in a profile, and none of with-db is active');
  });

  it('links order the start like depends_on (ipyparallel, jaeger); a link alias is named', async () => {
    const c = await convertText('services:\n  db:\n    image: pg\n  cache:\n    image: r\n  app:\n    image: app\n    depends_on:\n      db: {condition: service_started}\n    links: [db, "cache:redis"]\n');
    expect(spec(c, 'app')).toContain('depends_on[] = p-db:started\ndepends_on[] = p-cache:started\n');
    expect(formatFindings(c.file, c.unsupported).replace(/^.*compose\.yaml/, '')).toBe(': 1 compose key vessel cannot express: services.app.links[1] (line 10: link alias "redis": vessel resolves cache by its name and its networks: aliases, not by a name only this service sees)');
    expect(await errorOf('services:\n  app:\n    image: app\n    links: [nope]\n')).toBe('<dir>/compose.yaml:4: services.app.links[0]: "nope" is not a service of this file');
  });

  it('volumes_from copies the other service\'s mounts and starts after it (ipyparallel\'s engines and client)', async () => {
    const y = [
      'services:',
      '  controller:',
      '    image: c',
      '    volumes: [ipython:/ipython, ./conf:/etc/c:ro, {type: tmpfs, target: /scratch}]',
      '    secrets: [pw]',
      '  engines:',
      '    image: e',
      '    volumes_from: [controller]',
      '  client:',
      '    image: cl',
      '    volumes: [./own:/etc/c]',
      '    volumes_from: ["service:engines:ro", "container:elsewhere"]',
      'volumes:',
      '  ipython: {}',
      'secrets:',
      '  pw: {file: pw.txt}',
      '',
    ].join('\n');
    const c = await convertText(y);
    const mounts = (service: string) => spec(c, service).split('\n').filter((l) => l.startsWith('volume[]') || l.startsWith('depends_on[]')).map((l) => l.replace(/\/\S*vessel-compose-\w+/, '<dir>'));
    // Each keeps its mode; tmpfs is not a mount point docker copies.
    expect(mounts('engines')).toEqual(['volume[] = p_ipython:/ipython:rw', 'volume[] = <dir>/conf:/etc/c:ro', 'volume[] = <dir>/pw.txt:/run/secrets/pw:ro', 'depends_on[] = p-controller:started']);
    // Transitively, :ro makes every one read-only, and a path the service mounts itself is its own.
    expect(mounts('client')).toEqual(['volume[] = <dir>/own:/etc/c:rw', 'volume[] = p_ipython:/ipython:ro', 'volume[] = <dir>/pw.txt:/run/secrets/pw:ro', 'depends_on[] = p-engines:started']);
    expect(c.services.find((s) => s.service === 'client')!.volumes).toEqual(['p_ipython']);
    expect(formatFindings(c.file, c.unsupported).replace(/^.*compose\.yaml/, '')).toBe(': 1 compose key vessel cannot express: services.client.volumes_from[1] (line 12: "container:elsewhere": vessel copies the mounts of services of this file, not of other containers)');
    expect(await errorOf('services:\n  a:\n    image: x\n    volumes_from: [b]\n  b:\n    image: x\n    volumes_from: [a]\n')).toBe('<dir>/compose.yaml:7: services.b.volumes_from: a volumes_from cycle: services.b → services.a → services.b');
    expect(await errorOf('services:\n  a:\n    image: x\n    volumes_from: [nope]\n')).toBe('<dir>/compose.yaml:4: services.a.volumes_from[0]: "nope" is not a service of this file');
  });

  it('deploy.mode replicated is the default, not a left-out key (ipyparallel)', async () => {
    const c = await convertText('services:\n  a:\n    image: x\n    deploy:\n      mode: replicated\n      replicas: 1\n  b:\n    image: x\n    deploy:\n      mode: global\n');
    expect(c.unsupported.map((f) => `${f.path}: ${f.reason}`)).toEqual(['services.b.deploy.mode: one container per spec']);
  });

  it('network_mode: bridge is docker\'s default bridge: vessel\'s default network, no service alias (crowdsec)', async () => {
    const c = await convertText('services:\n  a:\n    image: x\n    network_mode: bridge\n    ports: ["127.0.0.1:4510-4559:4510-4559"]\n');
    expect(spec(c, 'a')).toContain('[network]\nname = bridge\npublish[] = 127.0.0.1:4510-4559:4510-4559/tcp\n');
    expect(spec(c, 'a')).not.toContain('alias');
    // Not the project's: compose down must not remove vessel's default network.
    expect(c.services[0]!.network).toBeUndefined();
  });
});

describe('compose convert: durations', () => {
  it('health durations are the spec\'s own, to the millisecond; 0 is docker\'s "not set"; sub-millisecond Go units round up with a note', async () => {
    const c = await convertText('services:\n  a:\n    image: x\n    healthcheck:\n      test: ["CMD", "true"]\n      interval: 1m1500ms\n      timeout: 250us\n      start_period: 0s\n');
    expect(spec(c, 'a')).toContain('[health]\ncommand = true\ninterval = 1m1s500ms\ntimeout = 1ms\n');
    expect(spec(c, 'a')).not.toContain('start_period');
    expect(c.notes.map((n) => n.replace(/^.*compose\.yaml/, ''))).toEqual([':7: services.a.healthcheck.timeout: 250us taken as 1ms (vessel\'s health timers count milliseconds)']);
    const exact = await convertText('services:\n  a:\n    image: x\n    healthcheck:\n      test: ["CMD", "true"]\n      timeout: 500ms\n      start_period: 2\n');
    expect(spec(exact, 'a')).toContain('timeout = 500ms\nstart_period = 2s\n');
    expect(exact.notes).toEqual([]);
  });

  it('stop_grace_period becomes whole seconds (stop_timeout), rounded up with a note only when that changes it', async () => {
    const c = await convertText('services:\n  a:\n    image: x\n    stop_grace_period: 1500ms\n  b:\n    image: x\n    stop_grace_period: 1m\n');
    expect(spec(c, 'a')).toContain('stop_timeout = 2\n');
    expect(spec(c, 'b')).toContain('stop_timeout = 60\n');
    expect(c.notes.map((n) => n.replace(/^.*compose\.yaml/, ''))).toEqual([':4: services.a.stop_grace_period: 1500ms taken as 2s (stop_timeout counts whole seconds)']);
  });

  it('a bad duration is named as written, even around a sub-millisecond term', async () => {
    expect(await errorOf('services:\n  a:\n    image: x\n    stop_grace_period: 1us2\n')).toBe('<dir>/compose.yaml:4: services.a.stop_grace_period: "1us2" is not a duration (use 30s, 1m30s, 500ms, or seconds)');
  });
});

describe('compose convert: ports', () => {
  it('a long-syntax port\'s name and app_protocol are left-out keys (the warning, and --strict\'s error), the mapping kept', async () => {
    const c = await convertText('services:\n  a:\n    image: x\n    ports:\n      - name: web\n        target: 80\n        published: 8080\n        app_protocol: http\n');
    expect(spec(c, 'a')).toContain('publish[] = 8080:80/tcp\n');
    expect(c.unsupported.map((f) => `${f.path}: ${f.reason}`)).toEqual([
      'services.a.ports[0].name: vessel does not name published ports',
      'services.a.ports[0].app_protocol: vessel publishes tcp and udp ports; it keeps no application protocol',
    ]);
  });

  it('both syntaxes go through the spec\'s parser: addresses, ranges and protocols checked as vessel run checks them, the compose line named', async () => {
    const c = await convertText('services:\n  a:\n    image: x\n    ports:\n      - target: 53\n        host_ip: "::1"\n        published: "5353"\n        protocol: udp\n      - "[::1]:8443:443"\n');
    expect(spec(c, 'a')).toContain('publish[] = [::1]:5353:53/udp\npublish[] = [::1]:8443:443/tcp\n');
    const ports = (entry: string) => errorOf(`services:\n  a:\n    image: x\n    ports:\n      - ${entry}\n`);
    expect(await ports('"999.1.1.1:80:80"')).toBe('<dir>/compose.yaml:5: services.a.ports[0]: "999.1.1.1:80:80": "999.1.1.1" is not an IPv4 address or a bracketed IPv6 address');
    expect(await ports('{target: 80, host_ip: 999.1.1.1}')).toBe('<dir>/compose.yaml:5: services.a.ports[0]: "999.1.1.1::80/tcp": "999.1.1.1" is not an IPv4 address or a bracketed IPv6 address');
    expect(await ports('"::1:8080:80"')).toBe('<dir>/compose.yaml:5: services.a.ports[0]: "::1:8080:80": an IPv6 host address goes in brackets');
    expect(await ports('"80/sctp"')).toBe('<dir>/compose.yaml:5: services.a.ports[0]: "80/sctp": "sctp" is not tcp or udp');
    expect(await ports('{target: 80, protocol: sctp}')).toBe('<dir>/compose.yaml:5: services.a.ports[0]: "80/sctp": "sctp" is not tcp or udp');
    expect(await ports('{target: 80, published: "127.0.0.1:8080"}')).toBe('<dir>/compose.yaml:5: services.a.ports[0].published: "127.0.0.1:8080" is not a port or a range of ports');
    expect(await ports('{target: "8000-8010", published: "9000-9001"}')).toBe('<dir>/compose.yaml:5: services.a.ports[0]: "9000-9001:8000-8010/tcp": 2 host ports (9000-9001) for 11 container ports (8000-8010)');
  });
});

describe('compose convert: writing', () => {
  it('prune removes the specs an earlier conversion wrote (recognised by the mark every spec starts with), never a spec written by hand', async () => {
    const out = mkdtempSync(join(scratch, 'vassals-'));
    writeConversion(await convertText('services:\n  a:\n    image: x\n  b:\n    image: x\n'), out);
    writeFileSync(join(out, 'mine.ini'), '# converted by hand\n[container]\nimage = x\n');
    expect(readdirSync(out).sort()).toEqual(['mine.ini', 'p-a.ini', 'p-b.ini']);
    writeConversion(await convertText('services:\n  a:\n    image: x\n'), out, { prune: true });
    expect(readdirSync(out).sort()).toEqual(['mine.ini', 'p-a.ini']);
  });
});

describe('compose convert: limits', () => {
  it('pids_limit and deploy.resources.limits.pids: the same whole-number check; 0 and -1 are no limit', async () => {
    const c = await convertText('services:\n  a:\n    image: x\n    pids_limit: 50\n  b:\n    image: x\n    deploy: {resources: {limits: {pids: 60}}}\n  c:\n    image: x\n    pids_limit: -1\n    deploy: {resources: {limits: {pids: 0}}}\n');
    expect(spec(c, 'a')).toContain('[limits]\nmaxproc = 50\n');
    expect(spec(c, 'b')).toContain('[limits]\nmaxproc = 60\n');
    expect(spec(c, 'c')).not.toContain('maxproc');
    expect(await errorOf('services:\n  a:\n    image: x\n    pids_limit: 1.5\n')).toBe('<dir>/compose.yaml:4: services.a.pids_limit: "1.5" is not a whole number');
    expect(await errorOf('services:\n  a:\n    image: x\n    deploy:\n      resources:\n        limits:\n          pids: lots\n')).toBe('<dir>/compose.yaml:7: services.a.deploy.resources.limits.pids: "lots" is not a whole number');
  });
});

describe('compose convert: env files', () => {
  it('a variable an env_file uses but nobody sets is a note, as in .env (once for a file several services read)', async () => {
    const dir = mkdtempSync(join(scratch, 'envfile-'));
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  a:\n    image: x\n    env_file: app.env\n  b:\n    image: x\n    env_file: [app.env]\n');
    writeFileSync(join(dir, 'app.env'), 'URL=http://${HOST}:${PORT:-80}/\nSET=${GIVEN}\n');
    const c = convertCompose(await loadCompose(join(dir, 'compose.yaml'), { env: { GIVEN: 'yes' }, project: 'p' }));
    expect(spec(c, 'a')).toContain('env[] = URL=http://:80/\nenv[] = SET=yes\n');
    expect(c.notes).toEqual([`${dir}/app.env: variable HOST is not set; an empty string was used`]);
  });

  it('an env_file that cannot be read says why (not "no such env file"), even with required: false', async () => {
    const dir = mkdtempSync(join(scratch, 'envfile-'));
    mkdirSync(join(dir, 'dir.env'));
    symlinkSync('loop.env', join(dir, 'loop.env'));
    const refused = async (entry: string) => {
      writeFileSync(join(dir, 'compose.yaml'), `services:\n  a:\n    image: x\n    env_file:\n      - ${entry}\n`);
      const e = await loadCompose(join(dir, 'compose.yaml'), { env: {} }).then((s) => convertCompose(s)).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(VesselError);
      return (e as Error).message.split(dir).join('<dir>');
    };
    expect(await refused('dir.env')).toBe('<dir>/compose.yaml:5: services.a.env_file[0]: <dir>/dir.env: is a directory, not an env file');
    expect(await refused('{path: loop.env, required: false}')).toBe("<dir>/compose.yaml:5: services.a.env_file[0]: <dir>/loop.env: cannot read: ELOOP: too many symbolic links encountered, open '<dir>/loop.env'");
    // Not there at all, and not required: skipped, as docker compose does.
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  a:\n    image: x\n    env_file:\n      - {path: none.env, required: false}\n');
    expect(convertCompose(await loadCompose(join(dir, 'compose.yaml'), { env: {} })).services).toHaveLength(1);
  });

  it('a malformed env file is a VesselError naming its line', () => {
    expect(() => parseDotenv('A="open\n', 'x.env', () => undefined, new Set())).toThrow(VesselError);
    expect(() => parseDotenv('\nA=${B', 'x.env', () => undefined, new Set())).toThrow(VesselError);
    expect(() => parseDotenv('\nA=${B', 'x.env', () => undefined, new Set())).toThrow(/^x\.env:2: A: "\$\{B": unterminated/);
  });
});
