import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import type { RegistryUrl } from './url.js';
import { s3Path, type AwsCredentials } from './s3-sign.js';

/**
 * Where an s3:// registry is and who we are to it — resolved the way the AWS SDK resolves it
 * (test/unit/s3-plan.test.ts compares every form with the SDK's own requests), so that the pull
 * path can skip loading the SDK (~90 ms and ~20 MiB at every pull) without changing what a URL,
 * the environment or ~/.aws mean. What this file does not know how to resolve the same way (FIPS
 * and dual-stack endpoints, S3 Express buckets, partitions other than aws, aws-cn and aws-us-gov)
 * is left to the SDK: the plan says so and s3.ts uses the SDK for everything then.
 */
export type S3Url = Extract<RegistryUrl, { scheme: 's3' }>;

/** The S3ClientConfig fields vessel sets (s3.ts s3ClientConfig): the SDK is given exactly these. */
export interface S3ClientSettings {
  endpoint?: string;
  region?: string;
  forcePathStyle: boolean;
}

/** Sections of AWS's shared config and credentials files, as the SDK names them after reading. */
export type AwsIni = Record<string, Record<string, string>>;

export interface AwsFiles {
  /** ~/.aws/config: profiles by bare name ("default", "dev"), plus "services.NAME" sections. */
  config: AwsIni;
  /** ~/.aws/credentials: profiles by name. */
  credentials: AwsIni;
}

/**
 * The SDK's INI reading (@smithy/core shared-ini-file-loader parseIni + getConfigData): `[profile
 * NAME]`, `[services NAME]`, `[sso-session NAME]` and `[default]`; `;`/`#` comments; a key with
 * an empty value opens indented sub-keys, stored as "key.sub".
 */
export function parseAwsIni(text: string, configFile: boolean): AwsIni {
  const out: AwsIni = {};
  let section: string | undefined;
  let sub: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.split(/(^|\s)[;#]/)[0]!.trim();
    if (line.startsWith('[') && line.endsWith(']')) {
      sub = undefined;
      const name = line.slice(1, -1);
      const m = /^([\w-]+)\s(["'])?([\w\-@+.%:/]+)\2$/.exec(name);
      if (m) section = ['profile', 'sso-session', 'services'].includes(m[1]!) ? `${m[1]}.${m[3]}` : undefined;
      else section = name;
      continue;
    }
    if (section === undefined) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (value === '') {
      sub = key;
      continue;
    }
    if (sub !== undefined && raw.trimStart() === raw) sub = undefined;
    (out[section] ??= {})[sub === undefined ? key : `${sub}.${key}`] = value;
  }
  if (!configFile) return out;
  // The config file: "profile NAME" sections are the profile NAME; other bare names do not count.
  const config: AwsIni = {};
  for (const [k, v] of Object.entries(out)) {
    const dot = k.indexOf('.');
    if (k === 'default') config.default = v;
    else if (dot > 0) config[k.startsWith('profile.') ? k.slice('profile.'.length) : k] = v;
  }
  return config;
}

function home(env: NodeJS.ProcessEnv): string {
  return env.HOME ?? env.USERPROFILE ?? homedir();
}

function expand(path: string, env: NodeJS.ProcessEnv): string {
  return path.startsWith('~/') ? join(home(env), path.slice(2)) : path;
}

/** The shared files as the SDK finds them (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, ~/.aws). */
export function readAwsFiles(env: NodeJS.ProcessEnv = process.env): AwsFiles {
  const read = (p: string, configFile: boolean): AwsIni => {
    try {
      return parseAwsIni(readFileSync(expand(p, env), 'utf8'), configFile);
    } catch {
      return {};
    }
  };
  return {
    config: read(env.AWS_CONFIG_FILE ?? join(home(env), '.aws', 'config'), true),
    credentials: read(env.AWS_SHARED_CREDENTIALS_FILE ?? join(home(env), '.aws', 'credentials'), false),
  };
}

/** Where the requests of the small client go, and how they are signed. */
export interface S3Plan {
  /** The service's base URL (custom endpoint, or AWS's regional one). */
  endpoint: URL;
  /** Bucket as a host name (virtual-hosted style) or as the first path segment (path style). */
  virtualHost: boolean;
  bucket: string;
  /** The region requests are signed for. */
  region: string;
  /**
   * Credentials found in the environment or a profile's plain keys; undefined: the profile asks
   * for more (a role, SSO, a process, a web identity, instance metadata), which the SDK's own
   * provider chain resolves.
   */
  credentials: AwsCredentials | undefined;
}

export type S3Resolution = { plan: S3Plan } | { sdk: string } | { error: 'no-region' };

const TRUE = (v: string | undefined) => v?.toLowerCase() === 'true';

/** The profile's settings, as the SDK merges its two files (config preferred, loadConfig's default). */
function profileOf(files: AwsFiles, name: string): Record<string, string> {
  return { ...files.credentials[name], ...files.config[name] };
}

/** Credentials as the SDK's default chain finds them, where they are plain keys; undefined otherwise. */
export function staticCredentials(env: NodeJS.ProcessEnv, files: AwsFiles): AwsCredentials | undefined {
  // credential-provider-node: fromEnv first, unless AWS_PROFILE names a profile (then it is skipped).
  if (!env.AWS_PROFILE && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    return { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
  }
  // fromIni (credentials file preferred, its own default): an assumed role comes before plain keys.
  const name = env.AWS_PROFILE || 'default';
  const p = { ...files.config[name], ...files.credentials[name] };
  if (p.role_arn !== undefined && (p.source_profile !== undefined || p.credential_source !== undefined)) return undefined;
  if (p.aws_access_key_id === undefined || p.aws_secret_access_key === undefined) return undefined;
  return { accessKeyId: p.aws_access_key_id, secretAccessKey: p.aws_secret_access_key, ...(p.aws_session_token ? { sessionToken: p.aws_session_token } : {}) };
}

/** The endpoint the SDK takes when the client config names none (getEndpointFromConfig). */
function configuredEndpoint(env: NodeJS.ProcessEnv, profile: Record<string, string>, files: AwsFiles): string | undefined {
  if (TRUE(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? profile.ignore_configured_endpoint_urls)) return undefined;
  const fromEnv = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
  if (fromEnv) return fromEnv;
  if (profile.services !== undefined) {
    const s = files.config[`services.${profile.services}`]?.['s3.endpoint_url'];
    if (s) return s;
  }
  return profile.endpoint_url || undefined;
}

/** Region names of the partitions handled here, with their DNS suffix (the SDK's partitions.json). */
function awsSuffix(region: string): string | undefined {
  if (/^cn-[a-z]+-\d+$/.test(region)) return 'amazonaws.com.cn';
  if (/^(us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-\d+$/.test(region) || /^us-gov-[a-z]+-\d+$/.test(region)) return 'amazonaws.com';
  return undefined;
}

/**
 * The SDK's endpoint rules for a plain bucket and key, in the cases handled here: a custom
 * endpoint keeps its scheme, authority and path, and takes the bucket as a host label unless
 * path style is asked for, the bucket has dots, or the endpoint is an IP address; AWS's own
 * endpoint is s3.REGION.SUFFIX, virtual-hosted unless the bucket has dots or path style is asked.
 */
export function resolveS3(u: S3Url, cfg: S3ClientSettings, env: NodeJS.ProcessEnv, files: AwsFiles): S3Resolution {
  const profile = profileOf(files, env.AWS_PROFILE || 'default');
  if (TRUE(env.AWS_USE_FIPS_ENDPOINT ?? profile.use_fips_endpoint)) return { sdk: 'FIPS endpoints' };
  if (TRUE(env.AWS_USE_DUALSTACK_ENDPOINT ?? profile.use_dualstack_endpoint)) return { sdk: 'dual-stack endpoints' };
  if (/--x-s3$|--ol-s3$/.test(u.bucket)) return { sdk: 'S3 Express and Object Lambda buckets' };
  const region = cfg.region ?? profile.region;
  if (!region) return { error: 'no-region' };
  const credentials = staticCredentials(env, files);
  const custom = cfg.endpoint ?? configuredEndpoint(env, profile, files);
  const dotted = u.bucket.includes('.');
  if (custom !== undefined) {
    let endpoint: URL;
    try {
      endpoint = new URL(custom);
    } catch {
      return { sdk: `an endpoint that is not a URL (${custom})` };
    }
    if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') return { sdk: `a ${endpoint.protocol} endpoint` };
    if (endpoint.search || endpoint.hash || endpoint.username) return { sdk: 'an endpoint with a query or credentials' };
    const ip = isIP(endpoint.hostname.replace(/^\[|\]$/g, '')) !== 0;
    return { plan: { endpoint, virtualHost: !cfg.forcePathStyle && !dotted && !ip, bucket: u.bucket, region, credentials } };
  }
  const suffix = awsSuffix(region);
  if (!suffix) return { sdk: `region ${region}` };
  return { plan: { endpoint: new URL(`https://s3.${region}.${suffix}`), virtualHost: !cfg.forcePathStyle && !dotted, bucket: u.bucket, region, credentials } };
}

/** The URL (origin and Host) of a plan's requests, and the path of the request for `key`. */
export function s3Target(p: S3Plan): { url: URL; pathOf(key: string): string } {
  const url = new URL(p.endpoint.href);
  if (p.virtualHost) url.hostname = `${p.bucket}.${url.hostname}`;
  // As the SDK builds them: "/KEY" after the endpoint's path as written (virtual-hosted), or
  // "BUCKET/KEY" after it with a trailing slash ensured (path style).
  const base = p.endpoint.pathname;
  const pathOf = p.virtualHost
    ? (key: string) => (base === '/' ? '' : base) + s3Path([key])
    : (key: string) => (base.endsWith('/') ? base.slice(0, -1) : base) + s3Path([p.bucket, key]);
  return { url, pathOf };
}
