import net from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { config, host, stderrOf, VesselError, writeFileAtomic } from '../util/index.js';
import { acceptedFingerprints, authFailed, hostKeyRefused, hostKeyRule, privateKey, sshUser, type SshTarget } from './ssh.js';

/**
 * OpenSSH's own client as sftp://'s transport: `ssh -s … sftp`, its stdin and stdout one end of a
 * socket pair whose other end this process reads into one reused buffer. The encryption runs in
 * C, in its own process; JavaScript sees only SFTP messages (sftp-wire.ts). Measured on these
 * 2-core machines under the load of other work: 100 MB read in 0.27–0.34 s this way, 1.2–1.3 s
 * through ssh2 (which decrypts, frames and allocates every packet on the thread that also
 * hashes and unpacks, and holds ~12 MiB more). vessel's rules stay vessel's: only the key given
 * (or the first default one), key authentication only, no agent, no ~/.ssh/config, and the host
 * key checked against the pinned fingerprint or the keys known_hosts lists — both decided by
 * ssh.ts, the same code as for zfs+ssh's ssh2 connection — never trusted on first use.
 */
export interface SshChannel {
  /** Send bytes to the subsystem (pieces of one message, written in order). */
  send(parts: Buffer[]): void;
  /** Ends the session (ssh exits when its stdin closes). */
  close(): void;
}

/** A well-formed SHA256 fingerprint: the only text that goes into the host key command. */
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/**
 * ssh's KnownHostsCommand: a known_hosts line for the offered key when its fingerprint is one of
 * those accepted, otherwise a note on stderr naming it (for the "does not match" message). ssh
 * asks once before the key exchange with %f as NONE (to order its algorithms): nothing then.
 * `%%` is a literal % in ssh's token expansion.
 */
function knownHostsCommand(accepted: string[]): string {
  const list = accepted.filter((f) => FINGERPRINT.test(f)).join(' ');
  return `/bin/sh -c 'for a in ${list}; do if [ "$a" = "$1" ]; then printf "%%s %%s %%s\\n" "$2" "$3" "$4"; exit 0; fi; done; [ "$1" = NONE ] || printf "vessel-refused-hostkey %%s\\n" "$1" >&2' sh %f %H %t %K`;
}

/**
 * The host key algorithms for the key types known_hosts lists (the key's type is the first string
 * of its wire form): ssh then asks the server for a key it can check — and, measured here, a
 * connection whose host keys come from a KnownHostsCommand takes ~50 ms longer without the list.
 * Undefined for a pinned fingerprint, whose type is not known: ssh's own order then.
 */
function hostKeyAlgorithms(known: Buffer[]): string | undefined {
  const algos = new Set<string>();
  for (const k of known) {
    if (k.length < 4) continue;
    const type = k.subarray(4, 4 + k.readUInt32BE(0)).toString('latin1');
    if (!/^[a-z0-9@.-]+$/.test(type)) continue;
    for (const a of type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type]) algos.add(a);
  }
  return algos.size > 0 ? [...algos].join(',') : undefined;
}

/** ssh asks this program for the key's passphrase (SSH_ASKPASS): it prints VESSEL_SSH_PASSPHRASE. */
function askpass(): string {
  const dir = config().run;
  const file = join(dir, 'ssh-askpass');
  const text = '#!/bin/sh\n# vessel: the ssh key passphrase for OpenSSH (SSH_ASKPASS), from the environment\nprintf \'%s\\n\' "$VESSEL_SSH_PASSPHRASE"\n';
  let have = '';
  try {
    have = readFileSync(file, 'utf8');
  } catch {
    /* not yet */
  }
  if (have !== text) {
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(file, text, 0o700);
  }
  return file;
}

/**
 * Two connected sockets: ours (read with `onread`, into one buffer) and the one the child gets.
 * Node makes socket pairs only for its own child pipes, which allocate a Buffer per read; a
 * listener in a private directory, connected to and removed at once, gives the same pair.
 */
async function socketPair(onread: net.OnReadOpts): Promise<{ ours: net.Socket; theirs: net.Socket }> {
  const dir = mkdtempSync(join(tmpdir(), 'vessel-ssh-'));
  try {
    const path = join(dir, 's');
    const server = net.createServer();
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(path, () => res());
    });
    try {
      const accepted = new Promise<net.Socket>((res) => server.once('connection', res));
      const ours = net.connect({ path, onread });
      await new Promise<void>((res, rej) => {
        ours.once('connect', () => res());
        ours.once('error', rej);
      });
      return { ours, theirs: await accepted };
    } finally {
      server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Why ssh ended, from its exit and what it said: vessel's messages, or retryable codes. Once the
 * server has spoken SFTP (`spoke`), authentication is behind us: whatever ends the session then
 * is a lost connection ("closed by remote host", "Broken pipe", a keepalive timeout …).
 */
function sshFailure(t: SshTarget, user: string, code: number | null, said: string, spoke: boolean): Error {
  const refused = /vessel-refused-hostkey (SHA256:\S+)/.exec(said);
  if (refused) return hostKeyRefused(t, refused[1]!);
  if (/Permission denied \(/.test(said)) {
    const e = authFailed(t, user);
    const key = /Load key "[^"]*": (.*)/.exec(said)?.[1];
    if (key === undefined) return e;
    const hint = /bad permissions/.test(key) ? 'OpenSSH ignores a private key others can read: chmod 600 it' : 'give the key in OpenSSH or PEM format (puttygen KEY -O private-openssh converts a PuTTY key)';
    return new VesselError('E_REGISTRY', `${e.message}: ssh could not use the key (${key})`, { hint });
  }
  const transient = (c: string, why: string) => Object.assign(new Error(`${t.display}: ssh: ${why}`), { code: c });
  if (/Connection refused/.test(said)) return transient('ECONNREFUSED', 'connection refused');
  if (/timed out/i.test(said)) return transient('ETIMEDOUT', 'connection timed out');
  if (/Could not resolve hostname/.test(said)) return new VesselError('E_REGISTRY', `${t.display}: cannot resolve host ${t.host}`);
  if (/subsystem request failed/.test(said)) return new VesselError('E_REGISTRY', `${t.display}: the server offers no sftp subsystem`);
  const last = said.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('vessel-refused-hostkey')).pop();
  // A dropped connection, a killed ssh or a clean exit: retried (a rerun resumes).
  if (spoke || code === 0 || code === null || last === undefined || /Connection (to \S+ )?(closed|reset)|closed by remote host|Broken pipe|kex_exchange_identification|Timeout, server/.test(said)) {
    return transient('ERR_SSH_CHANNEL_CLOSED', last ?? 'the ssh connection closed');
  }
  return new VesselError('E_REGISTRY', `${t.display}: ssh: ${last}`);
}

/**
 * Start `ssh … -s HOST sftp`. Every byte the subsystem sends is lent to `onBytes`; `onEnd` is
 * called once when the session is over, with the reason (mapped from ssh's stderr).
 */
export async function openSftpChannel(t: SshTarget, onBytes: (b: Buffer) => void, onEnd: (e: Error) => void): Promise<SshChannel> {
  const rule = hostKeyRule(t);
  const accepted = acceptedFingerprints(rule);
  const algorithms = hostKeyAlgorithms(rule.known);
  const { file } = privateKey(t);
  const user = sshUser(t);
  const buf = Buffer.allocUnsafe(256 * 1024);
  let spoke = false;
  const { ours, theirs } = await socketPair({
    buffer: buf,
    callback: (n) => {
      spoke = true;
      onBytes(buf.subarray(0, n));
      return true;
    },
  });
  const passphrase = process.env.VESSEL_SSH_PASSPHRASE;
  const argv = [
    'ssh', '-F', '/dev/null', '-T', '-x', '-a', '-e', 'none', '-p', String(t.port), '-l', user, '-i', file,
    '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'PreferredAuthentications=publickey',
    '-o', 'PasswordAuthentication=no', '-o', 'KbdInteractiveAuthentication=no',
    '-o', 'StrictHostKeyChecking=yes', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', `KnownHostsCommand=${knownHostsCommand(accepted)}`,
    ...(algorithms ? ['-o', `HostKeyAlgorithms=${algorithms}`] : []),
    '-o', 'ConnectTimeout=20', '-o', 'ServerAliveInterval=10', '-o', 'ServerAliveCountMax=3', '-o', 'LogLevel=ERROR',
    // AES-GCM first: with AES-NI it costs ssh the least CPU (OpenSSH's own default puts ChaCha20
    // first). Curve25519 first: OpenSSH 9's default sntrup761 hybrid exchange adds ~50-70 ms to
    // every connection here; images are verified by digest whatever carries them, and curve25519 is
    // what the ssh2 client vessel used before negotiated.
    '-o', 'Ciphers=aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr',
    '-o', 'KexAlgorithms=curve25519-sha256,curve25519-sha256@libssh.org,sntrup761x25519-sha512@openssh.com,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256',
    ...(passphrase ? ['-o', 'BatchMode=no', '-o', 'NumberOfPasswordPrompts=1'] : ['-o', 'BatchMode=yes']),
    '-s', '--', t.host, 'sftp',
  ];
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  if (passphrase) Object.assign(env, { SSH_ASKPASS: askpass(), SSH_ASKPASS_REQUIRE: 'force' });
  let child;
  try {
    child = host().spawn(argv, { stdio: [theirs, theirs, 'pipe'], env });
  } finally {
    theirs.destroy();
  }
  const said = stderrOf(child);
  let ended = false;
  const end = async (): Promise<void> => {
    if (ended) return;
    ended = true;
    ours.destroy();
    let code: number | null = null;
    try {
      code = (await child.exited).code;
    } catch (e) {
      // The spawn failed (no ssh on PATH): host's message names the program and the reason.
      return onEnd(new VesselError('E_REGISTRY', `${t.display}: ${(e as Error).message}`, { hint: 'sftp:// needs OpenSSH\'s client: install openssh-client' }));
    }
    await said.done();
    onEnd(sshFailure(t, user, code, said.lines(20).join('\n'), spoke));
  };
  ours.on('end', () => void end());
  ours.on('close', () => void end());
  ours.on('error', () => void end());
  void child.exited.then(() => void end(), () => void end());
  return {
    send: (parts) => {
      if (ended) return;
      // One writev for the message's pieces.
      ours.cork();
      for (const p of parts) ours.write(p);
      ours.uncork();
    },
    close: () => {
      ours.end();
      // ssh exits at the end of its input; one that does not (a hung server) is not waited for.
      setTimeout(() => child.kill('SIGTERM'), 5_000).unref();
    },
  };
}
