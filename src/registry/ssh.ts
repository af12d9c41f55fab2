import { createHash, createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Client, ConnectConfig } from 'ssh2';
import { VesselError, errorMessage } from '../util/index.js';
import type { Auth } from './url.js';

/**
 * One ssh connection for sftp:// and zfs+ssh://: key authentication only, and the server's host
 * key pinned — by `?hostkey=SHA256:…` in the URL, or by known_hosts (VESSEL_KNOWN_HOSTS,
 * ~/.ssh/known_hosts). An unknown host is refused, never trusted on first use: a registry is
 * where code comes from.
 */
export interface SshTarget {
  host: string;
  port: number;
  auth: Auth;
  params: Record<string, string>;
  display: string;
}

export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

function hostMatches(pattern: string, names: string[]): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return names.some((n) => createHmac('sha1', Buffer.from(salt, 'base64')).update(n).digest('base64') === hash);
  }
  return pattern.split(',').some((p) => names.includes(p));
}

/** Host keys known_hosts lists for host:port (exact names; wildcards are not honoured). */
export function knownHostKeys(text: string, host: string, port: number): Buffer[] {
  const names = port === 22 ? [host, `[${host}]:22`] : [`[${host}]:${port}`];
  const out: Buffer[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    if (f[0]?.startsWith('@')) {
      if (f[0] === '@revoked') continue;
      f.shift();
    }
    if (f.length < 3 || !hostMatches(f[0]!, names)) continue;
    out.push(Buffer.from(f[2]!, 'base64'));
  }
  return out;
}

/** The private key file: ?key=, VESSEL_SSH_KEY, or the first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa. */
export function privateKey(t: SshTarget): { key: Buffer; file: string } {
  const given = t.params.key ?? process.env.VESSEL_SSH_KEY;
  const candidates = given ? [given] : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((n) => join(homedir(), '.ssh', n));
  for (const f of candidates) {
    if (existsSync(f)) return { key: readFileSync(f), file: f };
  }
  throw new VesselError('E_REGISTRY', `${t.display}: no ssh private key${given ? ` at ${given}` : ' in ~/.ssh'}`, { hint: 'give one with ?key=/path/to/key in the URL or VESSEL_SSH_KEY' });
}

export function sshUser(t: SshTarget): string {
  return t.auth.user ?? userInfo().username;
}

/**
 * How the server's host key is checked: a fingerprint pinned in the URL, or the keys known_hosts
 * lists for host:port. With neither, nothing is trusted: the connection is refused before it is made.
 */
export interface HostKeyRule {
  pinned: string | undefined;
  known: Buffer[];
}

export function hostKeyRule(t: SshTarget): HostKeyRule {
  const pinned = t.params.hostkey;
  if (pinned) return { pinned, known: [] };
  const file = t.params.known_hosts ?? process.env.VESSEL_KNOWN_HOSTS ?? join(homedir(), '.ssh', 'known_hosts');
  const known = existsSync(file) ? knownHostKeys(readFileSync(file, 'utf8'), t.host, t.port) : [];
  if (known.length === 0) {
    throw new VesselError('E_REGISTRY', `${t.display}: host key of ${t.host}:${t.port} is not known (${file})`, {
      hint: `pin it: ssh-keyscan -p ${t.port} ${t.host} >> ${file}, or add ?hostkey=SHA256:… to the URL`,
    });
  }
  return { pinned: undefined, known };
}

/** The fingerprints a rule accepts (SHA256:…). */
export function acceptedFingerprints(rule: HostKeyRule): string[] {
  return rule.pinned !== undefined ? [rule.pinned] : rule.known.map(fingerprint);
}

export function hostKeyRefused(t: SshTarget, fp: string): VesselError {
  return new VesselError('E_REGISTRY', `${t.display}: host key of ${t.host}:${t.port} (${fp}) does not match the pinned key; refusing to connect`, { hint: 'if the server was really re-keyed, update known_hosts or ?hostkey=' });
}

export function authFailed(t: SshTarget, user: string): VesselError {
  return new VesselError('E_REGISTRY', `${t.display}: ssh authentication failed for user "${user}"`, { hint: 'check the user and that the key is in the server\'s authorized_keys' });
}

/** An ssh2 connection (zfs+ssh runs its zfs commands over it; sftp:// uses OpenSSH, openssh.ts). */
export async function sshConnect(t: SshTarget): Promise<Client> {
  // require(), not import(): no export-name scan of a CommonJS package at every connection's start.
  const { Client } = createRequire(import.meta.url)('ssh2') as typeof import('ssh2');
  const { key } = privateKey(t);
  const accepted = acceptedFingerprints(hostKeyRule(t));
  let rejectedKey: Buffer | undefined;
  const user = sshUser(t);
  const cfg: ConnectConfig = {
    host: t.host,
    port: t.port,
    username: user,
    privateKey: key,
    ...(process.env.VESSEL_SSH_PASSPHRASE ? { passphrase: process.env.VESSEL_SSH_PASSPHRASE } : {}),
    readyTimeout: 20_000,
    keepaliveInterval: 10_000,
    hostVerifier: (k: Buffer) => {
      const ok = accepted.includes(fingerprint(k));
      if (!ok) rejectedKey = k;
      return ok;
    },
  };
  const c = new Client();
  return new Promise((res, rej) => {
    c.once('ready', () => res(c));
    c.once('error', (e: Error & { level?: string }) => {
      if (rejectedKey) rej(hostKeyRefused(t, fingerprint(rejectedKey)));
      else if (e.level === 'client-authentication') rej(authFailed(t, user));
      else rej(e);
    });
    try {
      c.connect(cfg);
    } catch (e) {
      rej(new VesselError('E_REGISTRY', `${t.display}: ssh: ${errorMessage(e)}`));
    }
  });
}
