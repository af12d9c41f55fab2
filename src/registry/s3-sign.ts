import { createHash, createHmac } from 'node:crypto';

/**
 * AWS Signature Version 4 for the S3 requests the pull path makes itself (GET and HEAD, no
 * body), pure: the same request, credentials and time always give the same headers. The
 * algorithm is AWS's "Create a signed AWS API request" (IAM user guide) with S3's rules from
 * "Signature Calculations for the Authorization Header" (S3 API reference): paths are encoded
 * once, segment by segment, and every request carries x-amz-content-sha256.
 */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignInput {
  method: string;
  /** The Host header as sent. */
  host: string;
  /** The request path as sent, already encoded (s3Path). */
  path: string;
  /** Query parameters, not encoded. */
  query?: Record<string, string>;
  /** Further headers to send and sign (range …). */
  headers?: Record<string, string>;
  region: string;
  service?: string;
  date: Date;
}

/** SHA-256 of the empty body: what GET and HEAD sign as their payload. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** RFC 3986 encoding as SigV4 wants it: only A-Z a-z 0-9 - _ . ~ are left as they are. */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An S3 object path (bucket and key) as sent and as signed: each segment encoded, slashes kept. */
export function s3Path(parts: string[]): string {
  return `/${parts.join('/').split('/').map(uriEncode).join('/')}`;
}

/** 20130524T000000Z */
export function amzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** One derived key per secret, day, region and service: four HMACs saved on every other request. */
const keys = new Map<string, Buffer>();

function signingKey(secret: string, day: string, region: string, service: string): Buffer {
  const id = `${day}/${region}/${service}/${createHash('sha256').update(secret).digest('hex')}`;
  let k = keys.get(id);
  if (!k) {
    k = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
    keys.clear();
    keys.set(id, k);
  }
  return k;
}

/** The headers to add to the request: x-amz-date, x-amz-content-sha256, the token, authorization. */
export function signV4(r: SignInput, creds: AwsCredentials): Record<string, string> {
  const service = r.service ?? 's3';
  const stamp = amzDate(r.date);
  const day = stamp.slice(0, 8);
  const added: Record<string, string> = {
    'x-amz-content-sha256': EMPTY_SHA256,
    'x-amz-date': stamp,
    ...(creds.sessionToken ? { 'x-amz-security-token': creds.sessionToken } : {}),
  };
  const all: Record<string, string> = { host: r.host, ...r.headers, ...added };
  const names = Object.keys(all).map((k) => k.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, ' ')]));
  const query = Object.entries(r.query ?? {})
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const signed = names.join(';');
  const canonical = [r.method, r.path, query, names.map((n) => `${n}:${lower[n]}\n`).join(''), signed, EMPTY_SHA256].join('\n');
  const scope = `${day}/${r.region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', stamp, scope, createHash('sha256').update(canonical, 'utf8').digest('hex')].join('\n');
  const signature = createHmac('sha256', signingKey(creds.secretAccessKey, day, r.region, service)).update(toSign, 'utf8').digest('hex');
  return { ...added, authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}` };
}
