import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, createPrivateKey, randomBytes, randomUUID, sign } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, chmodSync, chownSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createServer as netServer, connect } from 'node:net';
import { dirname, join, normalize } from 'node:path';
import { Readable } from 'node:stream';

const execFileAsync = promisify(execFile);

/**
 * Real registry servers for the registry tests, each on 127.0.0.1 with a random port and a
 * temporary directory of its own: s3rver, Ceph radosgw (mon + memstore osd + rgw, `auth none`),
 * OpenSSH sshd with a private sshd_config, pure-ftpd with TLS and a `$6$` virtual user, Debian's
 * docker-registry (optionally behind a bearer-token server), a Node http(s) server that takes PUT,
 * and zfs-fuse with a file-backed pool. Every start() throws when the server cannot start: the
 * tests must fail, not skip. stop() ends every process started and removes the directories.
 */

export interface Server {
  dir: string;
  stop(): Promise<void>;
  log(): string;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = netServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

export async function waitPort(port: number, what: string, timeoutMs = 20_000, proc?: ChildProcess, log?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); res(true); });
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (proc && proc.exitCode !== null) throw new Error(`${what} exited (${proc.exitCode}) before listening on ${port}: ${log?.() ?? ''}`);
    if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms: ${log?.() ?? ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function daemon(argv: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const out = createWriteStream(logFile, { flags: 'a' });
  const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
  p.stdout!.pipe(out, { end: false });
  p.stderr!.pipe(out, { end: false });
  p.on('error', (e) => out.write(`spawn error: ${e.message}\n`));
  return p;
}

async function kill(p: ChildProcess | undefined, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill(sig);
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}

/** Pids of `pid`'s child processes (none when it has none, or is gone). */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function readLog(f: string): string {
  try {
    return readFileSync(f, 'utf8').slice(-3000);
  } catch {
    return '';
  }
}

/** A self-signed certificate for 127.0.0.1/localhost; trusted by giving it as NODE_EXTRA_CA_CERTS. */
export function makeCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  return { cert, key };
}

// ---------------------------------------------------------------- s3rver

export interface S3Server extends Server {
  endpoint: string;
  bucket: string;
  /** Environment for vessel (the AWS SDK's own variables). */
  env: Record<string, string>;
}

/**
 * Run Debian's awscli (/usr/bin/aws; a bare `aws` may be a pyenv shim) against a test server.
 * awscli 2.9 ignores AWS_ENDPOINT_URL, so the endpoint goes on the command line.
 */
export async function awsCli(s3: S3Server, args: string[], env: Record<string, string> = {}): Promise<string> {
  // Asynchronous: s3rver serves from this very process, a sync exec would deadlock it.
  return (await execFileAsync('/usr/bin/aws', ['--endpoint-url', s3.endpoint, ...args], {
    env: { ...process.env, ...s3.env, AWS_PAGER: '', ...env }, encoding: 'utf8', maxBuffer: 64 << 20,
  })).stdout;
}

/** A command run without blocking this process (in-process servers keep serving). */
export async function execAsync(argv: string[], env: Record<string, string> = {}): Promise<string> {
  return (await execFileAsync(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 })).stdout;
}

/** rclone's remote "x:" for a test server, configured entirely by environment variables. */
export function rcloneEnv(s3: S3Server): Record<string, string> {
  return {
    RCLONE_CONFIG_X_TYPE: 's3', RCLONE_CONFIG_X_PROVIDER: 'Other', RCLONE_CONFIG_X_ENDPOINT: s3.endpoint,
    RCLONE_CONFIG_X_ACCESS_KEY_ID: s3.env.AWS_ACCESS_KEY_ID!, RCLONE_CONFIG_X_SECRET_ACCESS_KEY: s3.env.AWS_SECRET_ACCESS_KEY!,
    RCLONE_CONFIG_X_REGION: 'us-east-1', RCLONE_CONFIG_X_FORCE_PATH_STYLE: 'true', RCLONE_CONFIG: '/dev/null',
    // rclone's Go SDK refuses a custom CA bundle for its HTTP transport: a host-wide AWS_CA_BUNDLE
    // (set on some machines) would fail every call. Plain http on loopback needs none.
    AWS_CA_BUNDLE: '',
  };
}

export async function startS3rver(bucket = 'vessel'): Promise<S3Server> {
  const dir = mkdtempSync('/tmp/vessel-s3rver-');
  const port = await freePort();
  // s3rver runs in this process: it is the npm devDependency, and an in-process server is
  // stopped with the test file even when a test throws.
  const { default: S3rver } = await import('s3rver');
  const srv = new S3rver({ port, address: '127.0.0.1', directory: join(dir, 'data'), silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
  await srv.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    dir,
    endpoint,
    bucket,
    env: { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' },
    log: () => '',
    async stop() {
      await srv.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- Ceph radosgw

/**
 * `memstoreBytes` caps the OSD's in-memory store (only what is written uses RAM). Deleted and
 * overwritten objects are freed by radosgw's garbage collector, which here runs every few seconds
 * instead of hourly, so benchmarks that rewrite the same objects do not fill it.
 */
export async function startRadosgw(bucket = 'vessel', opts: { memstoreBytes?: number } = {}): Promise<S3Server> {
  const dir = mkdtempSync('/tmp/vessel-ceph-');
  const procs: ChildProcess[] = [];
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  const conf = join(dir, 'ceph.conf');
  mkdirSync(join(dir, 'run'));
  mkdirSync(join(dir, 'mon'));
  mkdirSync(join(dir, 'osd'));
  writeFileSync(conf, `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
ms mon client mode = crc
ms client mode = crc
ms cluster mode = crc
ms service mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
ms bind msgr1 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = ${opts.memstoreBytes ?? 2 * 1024 ** 3}
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/$name.log
pid file = ${dir}/run/$name.pid
keyring = ${dir}/keyring
[mon.a]
mon data = ${dir}/mon
[osd.0]
osd data = ${dir}/osd
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
rgw dns name = localhost
rgw gc obj min wait = 2
rgw gc processor period = 2
rgw gc processor max time = 2
`);
  const logs = () => ['mon.a', 'osd.0', 'client.rgw'].map((n) => `--- ${n}\n${readLog(join(dir, `${n}.log`)).slice(-1200)}`).join('\n');
  const stop = async () => {
    // radosgw hangs in shutdown once the mon is gone, and memstore keeps nothing worth a clean
    // stop: kill in reverse start order, radosgw at once.
    for (const p of [...procs].reverse()) await kill(p, p === procs[2] ? 'SIGKILL' : 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const c = ['-c', conf];
    execFileSync('ceph-authtool', ['--create-keyring', join(dir, 'keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *'], { stdio: 'ignore' });
    execFileSync('monmaptool', ['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, join(dir, 'monmap')], { stdio: 'ignore' });
    execFileSync('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')], { stdio: 'pipe' });
    procs.push(daemon(['ceph-mon', ...c, '-f', '-i', 'a'], join(dir, 'mon.out')));
    await waitPort(monPort, 'ceph-mon', 20_000, procs[0], logs);
    const ceph = (...args: string[]) => execFileSync('ceph', [...c, '--connect-timeout', '20', ...args], { encoding: 'utf8' });
    const osdUuid = randomUUID();
    ceph('osd', 'new', osdUuid);
    execFileSync('ceph-osd', [...c, '-i', '0', '--mkfs', '--osd-uuid', osdUuid], { stdio: 'pipe' });
    procs.push(daemon(['ceph-osd', ...c, '-f', '-i', '0'], join(dir, 'osd.out')));
    const deadline = Date.now() + 30_000;
    while (!/1 up/.test(ceph('osd', 'stat'))) {
      if (Date.now() > deadline) throw new Error(`ceph-osd did not come up: ${logs()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    procs.push(daemon(['radosgw', ...c, '-n', 'client.rgw', '-f'], join(dir, 'rgw.out')));
    await waitPort(rgwPort, 'radosgw', 60_000, procs[2], () => logs() + readLog(join(dir, 'rgw.out')));
    const ak = randomBytes(10).toString('hex').toUpperCase();
    const sk = randomBytes(20).toString('hex');
    // Its own admin socket name: the running radosgw holds client.rgw's.
    execFileSync('radosgw-admin', [...c, '-n', 'client.rgw', '--admin-socket', join(dir, 'run', 'admin.asok'), 'user', 'create', '--uid=vessel', '--display-name=vessel', `--access-key=${ak}`, `--secret=${sk}`], { stdio: 'pipe' });
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    const env = { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: ak, AWS_SECRET_ACCESS_KEY: sk, AWS_REGION: 'us-east-1' };
    // The bucket, through the S3 API like any client would (the user may take a moment to be seen).
    const deadline2 = Date.now() + 30_000;
    for (;;) {
      try {
        execFileSync('/usr/bin/aws', ['--endpoint-url', endpoint, 's3', 'mb', `s3://${bucket}`], { env: { ...process.env, ...env }, stdio: 'pipe' });
        break;
      } catch (e) {
        if (Date.now() > deadline2) throw new Error(`radosgw: cannot create bucket: ${String((e as { stderr?: Buffer }).stderr ?? e)} ${logs()}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    return { dir, endpoint, bucket, env, log: logs, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

// ---------------------------------------------------------------- OpenSSH sshd

export interface SshServer extends Server {
  port: number;
  /** Client private key (authorized for root). */
  key: string;
  knownHosts: string;
  hostFingerprint: string;
  /** Pids of sshd processes serving connections (children of the listener). */
  sessions(): number[];
}

export async function startSshd(): Promise<SshServer> {
  const dir = mkdtempSync('/tmp/vessel-sshd-');
  mkdirSync('/run/sshd', { recursive: true });
  const port = await freePort();
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_ed25519')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')));
  const hostPub = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').trim().split(/\s+/);
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}\n`);
  const fp = `SHA256:${createHash('sha256').update(Buffer.from(hostPub[1]!, 'base64')).digest('base64').replace(/=+$/, '')}`;
  writeFileSync(join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host_ed25519')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'UsePAM no', 'StrictModes no', 'PasswordAuthentication no',
    'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password', `PidFile ${join(dir, 'sshd.pid')}`,
    'Subsystem sftp internal-sftp', 'MaxStartups 50', 'MaxSessions 50', 'LogLevel ERROR',
  ].join('\n') + '\n');
  const p = daemon(['/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')], join(dir, 'sshd.log'));
  await waitPort(port, 'sshd', 10_000, p, () => readLog(join(dir, 'sshd.log')));
  return {
    dir, port, key: join(dir, 'client'), knownHosts: join(dir, 'known_hosts'), hostFingerprint: fp,
    log: () => readLog(join(dir, 'sshd.log')),
    sessions: () => childrenOf(p.pid!),
    async stop() {
      try { execFileSync('pkill', ['-KILL', '-P', String(p.pid)]); } catch { /* no sessions left */ }
      await kill(p);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- pure-ftpd

export interface FtpServer extends Server {
  port: number;
  user: string;
  password: string;
  cert: string;
  home: string;
  /** Pids of the processes serving connections: each session's, and its privileged helper. */
  sessions(): number[];
  /**
   * The server's TCP connections (control and PASV data) that no client has closed: the kernel
   * takes a client's close even while the server is stopped (the server's end goes CLOSE_WAIT).
   */
  established(): number;
  /**
   * Stop the whole server now (SIGSTOP: the listener and every session): a hung server, its
   * connections left open, the bytes it had already sent still in the sockets. unstall() (and
   * stop()) continue it.
   */
  stall(): void;
  unstall(): void;
}

/** `downloadBytesPerSecond` paces what the server sends of a file (uploads go at full speed). */
export async function startPureFtpd(opts: { downloadBytesPerSecond?: number } = {}): Promise<FtpServer> {
  const dir = mkdtempSync('/tmp/vessel-ftpd-');
  chmodSync(dir, 0o755);
  const port = await freePort();
  const pasv = 40000 + Math.floor(Math.random() * 200) * 100;
  const home = join(dir, 'home');
  mkdirSync(home);
  chownSync(home, 65534, 65534);
  const { cert, key } = makeCert(dir);
  const pem = join(dir, 'pure-ftpd.pem');
  writeFileSync(pem, readFileSync(key, 'utf8') + readFileSync(cert, 'utf8'));
  const user = 'vessel';
  const password = randomBytes(9).toString('base64url');
  // A $6$ (SHA-512 crypt) hash: pure-pw's default argon2 makes every login take seconds. The
  // password on stdin: one starting with '-' (1 in 64 of them) is an option to openssl's argv.
  const hash = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: `${password}\n`, encoding: 'utf8' }).trim();
  writeFileSync(join(dir, 'pureftpd.passwd'), `${user}:${hash}:65534:65534::${home}/./::::::::::::\n`);
  execFileSync('pure-pw', ['mkdb', join(dir, 'pureftpd.pdb'), '-f', join(dir, 'pureftpd.passwd')]);
  const p = daemon(['pure-ftpd', '-S', `127.0.0.1,${port}`, '-l', `puredb:${join(dir, 'pureftpd.pdb')}`, '-E', '-H', '-A',
    '-Y', '1', '-2', pem, '-p', `${pasv}:${pasv + 99}`, '-P', '127.0.0.1', '-U', '022:022', '-c', '50', '-C', '50',
    // -T UPLOAD:DOWNLOAD in KiB/s, either left empty for no limit
    ...(opts.downloadBytesPerSecond ? ['-T', `:${Math.ceil(opts.downloadBytesPerSecond / 1024)}`] : [])], join(dir, 'ftpd.log'));
  await waitPort(port, 'pure-ftpd', 10_000, p, () => readLog(join(dir, 'ftpd.log')));
  // pure-ftpd forks a process per session, which forks its privileged helper (privsep).
  const sessions = (): number[] => {
    const out: number[] = [];
    for (let level = childrenOf(p.pid!); level.length > 0; level = level.flatMap(childrenOf)) out.push(...level);
    return out;
  };
  let stopped: number[] = [];
  const unstall = () => {
    for (const pid of stopped.reverse()) try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
    stopped = [];
  };
  return {
    dir, port, user, password, cert, home, sessions, unstall,
    log: () => readLog(join(dir, 'ftpd.log')),
    established: () => execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} or ( sport >= :${pasv} and sport <= :${pasv + 99} ) )`], { encoding: 'utf8' })
      .split('\n').filter(Boolean).length,
    stall() {
      // The listener first, so that no session starts while its sessions are being stopped.
      for (const pid of [p.pid!, ...sessions()]) {
        process.kill(pid, 'SIGSTOP');
        stopped.push(pid);
      }
    },
    async stop() {
      // A stopped process would hold its SIGTERM until kill()'s SIGKILL, seconds later.
      unstall();
      // Sessions outlive the listener, and name themselves "pure-ftpd (IDLE)" and the like: by pid.
      const left = sessions();
      await kill(p);
      for (const pid of left) try { process.kill(pid, 'SIGKILL'); } catch { /* ended with its client */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- docker-registry (+ token server)

export interface OciServer extends Server {
  port: number;
  /** host:port */
  hostPort: string;
  user?: string;
  password?: string;
}

/** A bearer-token issuer as docker-registry's `auth: token` expects: ES256 JWTs with x5c. */
function startTokenServer(dir: string, user: string, password: string, service: string): Promise<{ port: number; server: http.Server }> {
  const { cert, key } = makeCert(dir);
  const der = readFileSync(cert, 'utf8').replace(/-----[^-]+-----|\s/g, '');
  const priv = createPrivateKey(readFileSync(key));
  const b64 = (o: object | Buffer) => (Buffer.isBuffer(o) ? o : Buffer.from(JSON.stringify(o))).toString('base64url');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization ?? '';
    const creds = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : '';
    if (creds !== `${user}:${password}`) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="token"' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const access = url.searchParams.getAll('scope').map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: (actions ?? '').split(',').filter(Boolean) };
    });
    const now = Math.floor(Date.now() / 1000);
    const head = b64({ alg: 'ES256', typ: 'JWT', x5c: [der] });
    const body = b64({ iss: 'vessel-test', sub: user, aud: service, exp: now + 600, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access });
    const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key: priv, dsaEncoding: 'ieee-p1363' });
    const token = `${head}.${body}.${b64(sig)}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 600 }));
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({ port: (server.address() as { port: number }).port, server })));
}

export async function startDockerRegistry(opts: { token?: boolean } = {}): Promise<OciServer> {
  const dir = mkdtempSync('/tmp/vessel-oci-');
  const port = await freePort();
  let token: { port: number; server: http.Server } | undefined;
  const user = 'vessel';
  const password = randomBytes(9).toString('base64url');
  let auth = '';
  if (opts.token) {
    token = await startTokenServer(dir, user, password, 'vessel-registry');
    auth = `auth:\n  token:\n    realm: http://127.0.0.1:${token.port}/token\n    service: vessel-registry\n    issuer: vessel-test\n    rootcertbundle: ${join(dir, 'cert.pem')}\n`;
  }
  writeFileSync(join(dir, 'config.yml'), `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${join(dir, 'data')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
  secret: ${randomBytes(12).toString('hex')}
${auth}`);
  const p = daemon(['docker-registry', 'serve', join(dir, 'config.yml')], join(dir, 'registry.log'));
  try {
    await waitPort(port, 'docker-registry', 15_000, p, () => readLog(join(dir, 'registry.log')));
  } catch (e) {
    token?.server.close();
    await kill(p);
    throw e;
  }
  return {
    dir, port, hostPort: `127.0.0.1:${port}`,
    ...(opts.token ? { user, password } : {}),
    log: () => readLog(join(dir, 'registry.log')),
    async stop() {
      await kill(p);
      token?.server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- Node http(s) server

export interface HttpServer extends Server {
  url: string;
  root: string;
  /** Every request: method, path, range header, for GETs the body bytes actually sent, and whether it stalled. */
  requests: Array<{ method: string; path: string; range?: string; sent?: number; stalled?: boolean }>;
  /** After `skip` more uploads (PUT) succeed, the next one kills the server midway: nothing listens any more. */
  crashOnPut(skip?: number): void;
  /** Listen again on the same port after a crash. */
  restart(): Promise<void>;
  /** Pace blob downloads to this many bytes per second (0: full speed), to interrupt one midway. */
  throttleGets(bytesPerSecond: number): void;
  /** Cut the connection of the next N uploads (PUT) after half their body. */
  failPuts(n: number): void;
  /** Cut the connection of the next N downloads (GET of a blob) after `bytes` bytes. */
  failGets(n: number, bytes: number): void;
  /**
   * Blob downloads (GET; only paths containing `only`, when given) send their head and `bytes`
   * bytes of the body, then nothing: a hung server. Each keeps its connection open until the
   * client closes it. undefined: downloads started from now on are served whole again.
   */
  stallGets(bytes: number | undefined, only?: string): void;
  /** Stalled downloads whose connection the client has not closed yet. */
  stalledOpen(): number;
  /** Serve this content instead of a file's real bytes (tampering). */
  tamper(path: string, content: Buffer | undefined): void;
  /** The most blob downloads (GET) that were being sent at the same time. */
  maxConcurrentGets(): number;
  /** Kill the server now, mid-transfer: connections cut, nothing listens until restart(). */
  crash(): void;
}

/** A strong ETag: every PUT renames a new file into place, so the inode changes with the content. */
function etagOf(st: { ino: number; size: number; mtimeMs: number }): string {
  return `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.round(st.mtimeMs * 1000).toString(16)}"`;
}

export async function startHttpServer(opts: { tls?: boolean; allowPut?: boolean; auth?: { user: string; password: string }; etags?: boolean } = {}): Promise<HttpServer> {
  const dir = mkdtempSync('/tmp/vessel-http-');
  const root = join(dir, 'www');
  mkdirSync(root);
  const requests: HttpServer['requests'] = [];
  let putFailures = 0;
  let getFailures = 0;
  let getFailBytes = 0;
  let crashAfter = -1;
  let rate = 0;
  let gets = 0;
  let maxGets = 0;
  let stall: { after: number; only: string | undefined } | undefined;
  let stalledOpen = 0;
  const tampered = new Map<string, Buffer>();
  const handler: http.RequestListener = (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const entry: HttpServer['requests'][number] = { method: req.method ?? '', path, ...(req.headers.range ? { range: req.headers.range } : {}) };
    requests.push(entry);
    if (opts.auth) {
      const want = `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="vessel"' }).end();
        return;
      }
    }
    const file = normalize(join(root, path));
    if (!file.startsWith(root)) return void res.writeHead(400).end();
    if (req.method === 'PUT') {
      if (opts.allowPut === false) return void res.writeHead(405).end();
      mkdirSync(dirname(file), { recursive: true });
      const tmp = `${file}.${randomBytes(4).toString('hex')}.upload`;
      const out = createWriteStream(tmp);
      const len = Number(req.headers['content-length'] ?? 0);
      let got = 0;
      const crash = crashAfter === 0;
      if (crashAfter >= 0) crashAfter--;
      if (crash && len <= 1024) return void crashNow();
      const cut = crash || (putFailures > 0 && len > 1024);
      if (cut && !crash) putFailures--;
      req.on('data', (c: Buffer) => {
        got += c.length;
        if (crash && got > len / 2) void crashNow();
        if (cut && got > len / 2) {
          req.socket.destroy();
          out.destroy();
          rmSync(tmp, { force: true });
        }
      });
      req.pipe(out);
      out.on('finish', () => {
        if (cut) return;
        // Check the precondition and rename in one synchronous step: nothing interleaves, so
        // this is the atomic compare-and-swap a WebDAV server gives.
        if (opts.etags !== false) {
          const cur = existsSync(file) ? etagOf(statSync(file)) : undefined;
          const ifMatch = req.headers['if-match'];
          const ifNone = req.headers['if-none-match'];
          if ((ifMatch !== undefined && ifMatch !== cur) || (ifNone === '*' && cur !== undefined)) {
            rmSync(tmp, { force: true });
            res.writeHead(412).end();
            return;
          }
        }
        renameSync(tmp, file);
        res.writeHead(201).end();
      });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end();
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      return void res.writeHead(404).end();
    }
    const fake = tampered.get(path);
    if (fake) size = fake.length;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const headers = {
      'content-length': String(size - start), 'accept-ranges': 'bytes', ...(m ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}),
      ...(opts.etags !== false ? { etag: etagOf(statSync(file)) } : {}),
    };
    res.writeHead(m ? 206 : 200, headers);
    if (req.method === 'HEAD') return void res.end();
    const cut = !fake && getFailures > 0 && path.includes('/blobs/') && size - start > getFailBytes;
    if (cut) getFailures--;
    // Tampered content is paced and counted as a file's is: it stands in for the file.
    const rs = fake ? Readable.from(pieces(fake.subarray(start), 256 << 10)) : createReadStream(file, { start, highWaterMark: 256 << 10, ...(cut ? { end: start + getFailBytes - 1 } : {}) });
    entry.sent = 0;
    const pace = path.includes('/blobs/') ? rate : 0;
    const blob = path.includes('/blobs/');
    const stallAt = blob && stall && (stall.only === undefined || path.includes(stall.only)) ? stall.after : -1;
    if (blob) maxGets = Math.max(maxGets, ++gets);
    void (async () => {
      try {
        for await (const c of rs as AsyncIterable<Buffer>) {
          if (res.destroyed) break;
          const stalls = stallAt >= 0 && entry.sent! + c.length > stallAt;
          const piece = stalls ? c.subarray(0, stallAt - entry.sent!) : c;
          entry.sent! += piece.length;
          if (piece.length > 0 && !res.write(piece)) {
            await new Promise<void>((r) => {
              const done = () => { res.off('drain', done); res.off('close', done); r(); };
              res.on('drain', done);
              res.on('close', done);
            });
          }
          if (stalls) {
            // Hung: not another byte, and the connection left open for the client to give up on.
            entry.stalled = true;
            stalledOpen++;
            if (!res.destroyed) await new Promise((r) => res.once('close', r));
            stalledOpen--;
            break;
          }
          if (pace > 0) await new Promise((r) => setTimeout(r, (c.length / pace) * 1000));
        }
      } catch { /* client gone */ }
      rs.destroy();
      if (blob) gets--;
      if (cut) setTimeout(() => res.socket?.destroy(), 50);
      else res.end();
    })();
  };
  let server: http.Server | https.Server;
  let env: Record<string, string> = {};
  if (opts.tls) {
    const { cert, key } = makeCert(dir);
    server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, handler);
    env = { NODE_EXTRA_CA_CERTS: cert };
  } else server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  void env;
  const crashNow = async () => {
    server.close();
    server.closeAllConnections?.();
  };
  return {
    dir, root, requests,
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    log: () => JSON.stringify(requests.slice(-20)),
    failPuts: (n) => { putFailures = n; },
    failGets: (n, bytes) => { getFailures = n; getFailBytes = bytes; },
    stallGets: (bytes, only) => { stall = bytes === undefined ? undefined : { after: bytes, only }; },
    stalledOpen: () => stalledOpen,
    tamper: (p, c) => { if (c) tampered.set(p, c); else tampered.delete(p); },
    crashOnPut: (skip = 0) => { crashAfter = skip; },
    restart: () => new Promise<void>((r, j) => { server.once('error', j); server.listen(port, '127.0.0.1', () => r()); }),
    throttleGets: (bps) => { rate = bps; },
    maxConcurrentGets: () => maxGets,
    crash: () => void crashNow(),
    async stop() {
      server.closeAllConnections?.();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `b` in pieces of at most `n` bytes (views, not copies). */
function* pieces(b: Buffer, n: number): Generator<Buffer> {
  for (let off = 0; off < b.length; off += n) yield b.subarray(off, off + n);
}

// ---------------------------------------------------------------- a TCP proxy with fault hooks

export interface TcpProxy {
  port: number;
  /** Bytes the server sent to clients through the proxy so far. */
  down(): number;
  /** Request heads seen on plain-text HTTP connections (GET/HEAD: no bodies): method, path, Range. */
  requests: Array<{ method: string; path: string; range?: string }>;
  /** Pace what the server sends to this many bytes per second (0: full speed). */
  throttle(bytesPerSecond: number): void;
  /**
   * Hold back everything the server sends from now on, connections kept open: a hung server, or
   * a dead peer whose TCP connection nobody has noticed yet. unstall() delivers what was held.
   */
  stall(): void;
  unstall(): void;
  /** Connections with held-back bytes that the client has not closed. */
  stalledOpen(): number;
  /** Connections accepted so far. */
  accepted(): number;
  /** The server "dies": every connection cut, nothing listens until restore(). */
  crash(): void;
  /** Listen again on the same port. */
  restore(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a real server (radosgw, s3rver, sshd), for faults those
 * servers have no hooks for: a transfer slowed so that a pull can be killed in its middle, every
 * connection cut at once, and a count of the bytes a rerun fetched. On plain HTTP it also notes
 * each request's Range header.
 */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const requests: TcpProxy['requests'] = [];
  const live = new Set<import('node:net').Socket>();
  /** Per connection: the client, and what the server sent while stalled (undefined: nothing held). */
  const held = new Map<import('node:net').Socket, { client: import('node:net').Socket; bytes: Buffer[] | undefined }>();
  let down = 0;
  let rate = 0;
  let stalled = false;
  let accepted = 0;
  const server = netServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    accepted++;
    live.add(client);
    live.add(upstream);
    const hold: { client: typeof client; bytes: Buffer[] | undefined } = { client, bytes: undefined };
    held.set(upstream, hold);
    let head = '';
    client.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      for (let end = head.indexOf('\r\n\r\n'); end >= 0; end = head.indexOf('\r\n\r\n')) {
        const lines = head.slice(0, end).split('\r\n');
        head = head.slice(end + 4);
        const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(lines[0] ?? '');
        if (!m) break;
        const range = lines.find((l) => /^range:/i.test(l))?.replace(/^range:\s*/i, '');
        requests.push({ method: m[1]!, path: decodeURIComponent(m[2]!), ...(range ? { range } : {}) });
      }
      if (head.length > 65536) head = '';
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (stalled) {
        (hold.bytes ??= []).push(d);
        upstream.pause();
        return;
      }
      down += d.length;
      client.write(d);
      if (rate > 0) {
        upstream.pause();
        setTimeout(() => upstream.resume(), (d.length / rate) * 1000);
      }
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      live.delete(client);
      live.delete(upstream);
      held.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port, requests,
    down: () => down,
    throttle: (bps) => { rate = bps; },
    stall: () => { stalled = true; },
    unstall: () => {
      stalled = false;
      for (const [upstream, h] of held) {
        for (const d of h.bytes ?? []) {
          down += d.length;
          h.client.write(d);
        }
        if (h.bytes) upstream.resume();
        h.bytes = undefined;
      }
    },
    stalledOpen: () => [...held.values()].filter((h) => h.bytes !== undefined && !h.client.destroyed).length,
    accepted: () => accepted,
    crash: () => {
      server.close();
      for (const s of live) s.destroy();
    },
    restore: () => new Promise<void>((r, j) => { server.once('error', j); server.listen(port, '127.0.0.1', () => r()); }),
    async stop() {
      for (const s of live) s.destroy();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// ---------------------------------------------------------------- zfs-fuse

export interface ZfsServer extends Server {
  /** Pools made on file vdevs. */
  pools: string[];
}

/**
 * zfs-fuse (--no-daemon) and file-backed pools. One zfs-fuse serves the whole host, so a running
 * one (another test, the developer's) is reused and left running; only pools made here are
 * destroyed. Pool names carry a random suffix.
 */
export async function startZfs(poolNames: string[], sizeMB = 256): Promise<ZfsServer> {
  const dir = mkdtempSync('/tmp/vessel-zfs-');
  let proc: ChildProcess | undefined;
  const alive = () => {
    try {
      execFileSync('zpool', ['list', '-H'], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) {
    proc = daemon(['zfs-fuse', '--no-daemon', '--pidfile', join(dir, 'zfs-fuse.pid')], join(dir, 'zfs-fuse.log'));
    const deadline = Date.now() + 15_000;
    while (!alive()) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`zfs-fuse did not start: ${readLog(join(dir, 'zfs-fuse.log'))}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const pools: string[] = [];
  try {
    for (const n of poolNames) {
      const img = join(dir, `${n}.img`);
      execFileSync('truncate', ['-s', `${sizeMB}M`, img]);
      execFileSync('zpool', ['create', '-m', join(dir, 'mnt', n), n, img], { stdio: 'pipe' });
      pools.push(n);
    }
  } catch (e) {
    for (const p of pools) try { execFileSync('zpool', ['destroy', '-f', p], { stdio: 'pipe' }); } catch { /* gone */ }
    await kill(proc);
    throw e;
  }
  return {
    dir, pools,
    log: () => readLog(join(dir, 'zfs-fuse.log')),
    async stop() {
      for (const p of pools) try { execFileSync('zpool', ['destroy', '-f', p], { stdio: 'pipe' }); } catch { /* gone */ }
      await kill(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether a path exists (helpers for assertions on server-side files). */
export function exists(p: string): boolean {
  return existsSync(p);
}
