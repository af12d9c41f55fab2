import { VesselError } from '../util/index.js';
import { parseImageRef } from '../image/index.js';
import type { ImageRef } from '../image/index.js';

/**
 * Registry URLs, parsed once at the edge into one typed shape per scheme. Everything after this
 * file trusts the fields. Credentials found in a URL are kept in `auth` and never appear in
 * `display`, the only form that messages, logs and progress output use.
 */
export type Scheme = 'file' | 'http' | 'https' | 's3' | 'sftp' | 'ftp' | 'ftps' | 'zfs' | 'zfs+ssh' | 'oci';

export const SCHEMES: readonly Scheme[] = ['file', 'http', 'https', 's3', 'sftp', 'ftp', 'ftps', 'zfs', 'zfs+ssh', 'oci'];

export interface Auth {
  user?: string;
  password?: string;
}

interface Base {
  /** The URL without credentials, for messages. */
  display: string;
  /** Query parameters (endpoint=, region=, key=, hostkey=, tls=, insecure= …). */
  params: Record<string, string>;
}

export type RegistryUrl = Base &
  (
    | { scheme: 'file'; path: string }
    | { scheme: 'http' | 'https'; base: string; auth: Auth }
    | { scheme: 's3'; bucket: string; prefix: string }
    | { scheme: 'sftp'; host: string; port: number; path: string; auth: Auth }
    | { scheme: 'ftp' | 'ftps'; host: string; port: number; path: string; auth: Auth; tls: 'none' | 'explicit' | 'implicit' }
    | { scheme: 'zfs'; dataset: string }
    | { scheme: 'zfs+ssh'; host: string; port: number; dataset: string; auth: Auth }
    | { scheme: 'oci'; host: string; port: number; repository: string; auth: Auth; insecure: boolean }
  );

function bad(url: string, why: string, hint?: string): VesselError {
  return new VesselError('E_USAGE', `registry URL "${redact(url)}": ${why}`, hint === undefined ? {} : { hint });
}

/** The text of a URL with any password replaced, safe to print. */
export function redact(url: string): string {
  return url.replace(/^([a-z0-9+.-]+:\/\/)([^/@]*)@/i, (_m, s: string, userinfo: string) => {
    const user = userinfo.split(':')[0] ?? '';
    return `${s}${user ? `${user}${userinfo.includes(':') ? ':***' : ''}@` : ''}`;
  });
}

const DATASET = /^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9][A-Za-z0-9_.:-]*)*$/;

export function parseRegistryUrl(text: string): RegistryUrl {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(text.trim());
  if (!m) throw bad(text, 'not a URL', `write SCHEME://…, with SCHEME one of ${SCHEMES.join(', ')}`);
  const scheme = m[1]!.toLowerCase();
  if (!(SCHEMES as readonly string[]).includes(scheme)) {
    throw bad(text, `unknown scheme "${scheme}"`, `vessel registries speak ${SCHEMES.join(', ')}`);
  }
  // WHATWG URL refuses unknown schemes' hosts in odd ways; parse as http and keep our scheme.
  let u: URL;
  try {
    u = new URL(`http://${m[2]!}`);
  } catch {
    throw bad(text, 'malformed URL');
  }
  if (/\s/.test(text.trim())) throw bad(text, 'contains white space');
  const params: Record<string, string> = {};
  for (const [k, v] of u.searchParams) params[k] = v;
  const auth: Auth = {};
  if (u.username) auth.user = decodeURIComponent(u.username);
  if (u.password) auth.password = decodeURIComponent(u.password);
  const path = decodeURIComponent(u.pathname).replace(/\/+$/, '');
  const hostPart = m[2]!.replace(/^[^/]*@/, '').split(/[/?]/)[0] ?? '';
  const port = (dflt: number): number => {
    if (!u.port) return dflt;
    const n = Number(u.port);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw bad(text, `bad port "${u.port}"`);
    return n;
  };
  const needHost = () => {
    if (!u.hostname || !hostPart) throw bad(text, 'no host');
    if (/:[^0-9]/.test(hostPart.replace(/^\[[^\]]*\]/, ''))) throw bad(text, 'bad port');
  };
  const display = redact(`${scheme}://${m[2]!}`).replace(/\?.*$/, '');
  const host = u.hostname.replace(/^\[|\]$/g, '');
  switch (scheme) {
    case 'file': {
      // Not through URL: "file:///tmp/x" would parse with "tmp" as the host.
      const rest = m[2]!.replace(/[?#].*$/, '');
      const slash = rest.indexOf('/');
      const fileHost = slash < 0 ? rest : rest.slice(0, slash);
      const path = slash < 0 ? '' : decodeURIComponent(rest.slice(slash)).replace(/\/+$/, '');
      if (fileHost && fileHost !== 'localhost') throw bad(text, `file URLs name a local path, not host "${fileHost}"`, 'write file:///absolute/path');
      if (!path.startsWith('/')) throw bad(text, 'no path', 'write file:///absolute/path');
      return { scheme, path, params, display };
    }
    case 'http':
    case 'https': {
      needHost();
      const base = `${scheme}://${u.host}${u.pathname.replace(/\/+$/, '')}`;
      return { scheme, base, auth, params, display };
    }
    case 's3': {
      if (!hostPart) throw bad(text, 'no bucket', 'write s3://BUCKET[/PREFIX]');
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(hostPart)) throw bad(text, `bad bucket name "${hostPart}"`);
      return { scheme, bucket: hostPart, prefix: path.replace(/^\/+/, ''), params, display };
    }
    case 'sftp': {
      needHost();
      if (!path) throw bad(text, 'no path', 'write sftp://USER@HOST[:PORT]/PATH');
      return { scheme, host, port: port(22), path, auth, params, display };
    }
    case 'ftp':
    case 'ftps': {
      needHost();
      const mode = params.tls ?? (scheme === 'ftps' ? 'explicit' : 'none');
      if (mode !== 'none' && mode !== 'explicit' && mode !== 'implicit') throw bad(text, `tls=${mode}: expected explicit or implicit`);
      if (scheme === 'ftp' && mode !== 'none') throw bad(text, 'TLS needs ftps://', 'write ftps://HOST/PATH (explicit TLS) or ftps://HOST/PATH?tls=implicit');
      if (scheme === 'ftps' && mode === 'none') throw bad(text, 'ftps:// is always TLS');
      return { scheme, host, port: port(mode === 'implicit' ? 990 : 21), path: path || '/', auth, params, display, tls: mode };
    }
    case 'zfs': {
      const dataset = `${hostPart}${path}`;
      if (!DATASET.test(dataset)) throw bad(text, `bad dataset "${dataset}"`, 'write zfs://POOL/DATASET');
      return { scheme, dataset, params, display };
    }
    case 'zfs+ssh': {
      needHost();
      const dataset = path.replace(/^\/+/, '');
      if (!DATASET.test(dataset)) throw bad(text, `bad dataset "${dataset}"`, 'write zfs+ssh://[USER@]HOST[:PORT]/POOL/DATASET');
      return { scheme, host, port: port(22), dataset, auth, params, display };
    }
    case 'oci': {
      needHost();
      const repository = path.replace(/^\/+/, '');
      if (repository && !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)) {
        throw bad(text, `bad repository "${repository}"`, 'repositories are lower-case path components');
      }
      // Plain http only when asked, or on loopback as docker does ("localhost registries").
      const loopback = host === 'localhost' || /^127\./.test(host) || host === '::1';
      const insecure = params.insecure === '1' || params.insecure === 'true' || params.tls === 'false' || (loopback && params.tls !== 'true');
      return { scheme, host, port: port(insecure ? 80 : 443), repository, auth, insecure, params, display };
    }
  }
  throw bad(text, `unknown scheme "${scheme}"`);
}

/** An image in a registry: the registry, and NAME:TAG inside it. */
export interface ImageLocation {
  registry: RegistryUrl;
  ref: ImageRef;
}

/**
 * `[URL/]NAME[:TAG]`: with a URL, the last path component is the image (a name with slashes
 * needs --registry); without one, the configured default registry is used.
 */
export function parseImageLocation(text: string, defaultRegistry: string | undefined): ImageLocation {
  if (text.includes('://')) {
    const query = text.indexOf('?');
    const main = query < 0 ? text : text.slice(0, query);
    const q = query < 0 ? '' : text.slice(query);
    const slash = main.lastIndexOf('/');
    const name = main.slice(slash + 1);
    const base = main.slice(0, slash);
    if (!name || base.endsWith(':/') || base.endsWith('//') || !/:\/\/./.test(base)) {
      throw new VesselError('E_USAGE', `"${redact(text)}": no image name after the registry URL`, { hint: 'write URL/NAME[:TAG], e.g. s3://bucket/images/busybox:latest' });
    }
    return { registry: parseRegistryUrl(base + q), ref: parseImageRef(name) };
  }
  if (!defaultRegistry) {
    throw new VesselError('E_USAGE', `"${text}": no registry URL given and none configured`, {
      hint: 'write URL/NAME[:TAG] or set APPC_REGISTRY_URL (or VESSEL_REGISTRY)',
    });
  }
  return { registry: parseRegistryUrl(defaultRegistry), ref: parseImageRef(text) };
}
