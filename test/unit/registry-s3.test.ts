import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { parseRegistryUrl } from '../../src/registry/url.js';
import { S3Transport, s3ClientConfig } from '../../src/registry/s3.js';
import { isTransient } from '../../src/registry/retry.js';
import http from 'node:http';
import { parseAwsIni, readAwsFiles, resolveS3, s3Target, type S3Url } from '../../src/registry/s3-config.js';
import { s3Path, signV4 } from '../../src/registry/s3-sign.js';

/**
 * The pull path's own S3 requests (registry/s3-sign.ts, s3-config.ts) against the two authorities
 * there are: AWS's published Signature Version 4 examples, and the AWS SDK itself — for each form
 * of URL, environment and ~/.aws file, the SDK (given the client config vessel gives it) is asked
 * to send a GetObject, its request is captured before it leaves, and the small client must name
 * the same scheme, host, path, region and access key, with a signature the SDK's own signer
 * agrees with. Forms the small client does not handle must be handed to the SDK, never guessed.
 */
const load = createRequire(import.meta.url);
type Sdk = typeof import('@aws-sdk/client-s3');
const { S3Client, GetObjectCommand } = load('@aws-sdk/client-s3') as Sdk;
const { SignatureV4 } = load('@smithy/signature-v4') as { SignatureV4: new (o: object) => { sign(r: object, o: object): Promise<{ headers: Record<string, string> }> } };

interface Captured {
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  headers: Record<string, string>;
}

const saved = { ...process.env };
let dir: string;

beforeAll(() => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
});

afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A clean AWS environment: no variable of the host's own, empty ~/.aws unless files are given. */
function env(vars: Record<string, string>, files: { config?: string; credentials?: string } = {}): void {
  for (const k of Object.keys(process.env)) if (/^AWS_/.test(k)) delete process.env[k];
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  dir = mkdtempSync('/tmp/vessel-aws-');
  writeFileSync(join(dir, 'config'), files.config ?? '');
  writeFileSync(join(dir, 'credentials'), files.credentials ?? '');
  process.env.AWS_CONFIG_FILE = join(dir, 'config');
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
  Object.assign(process.env, vars);
}

/** The request the SDK would send for GetObject(KEY, Range) with vessel's client config. */
async function sdkRequest(u: S3Url, key: string): Promise<Captured> {
  let got: Captured | undefined;
  const c = new S3Client({
    ...s3ClientConfig(u),
    requestHandler: { handle: async (req: Captured) => { got = req; throw Object.assign(new Error('captured'), { name: 'Captured' }); } },
  } as S3ClientConfig);
  try {
    await c.send(new GetObjectCommand({ Bucket: u.bucket, Key: key, Range: 'bytes=7-' }));
  } catch (e) {
    if ((e as Error).name !== 'Captured') throw e;
  }
  return got!;
}

function plan(u: S3Url) {
  const cfg = s3ClientConfig(u);
  return resolveS3(u, { ...(cfg.endpoint ? { endpoint: String(cfg.endpoint) } : {}), ...(typeof cfg.region === 'string' ? { region: cfg.region } : {}), forcePathStyle: cfg.forcePathStyle === true }, process.env, readAwsFiles());
}

const url = (text: string) => parseRegistryUrl(text) as S3Url;
const KEY = 'refs/team/app/_/v1.0+rc 1é';

describe('Signature Version 4', () => {
  const creds = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  const date = new Date('2013-05-24T00:00:00Z');

  // S3 API reference, "Signature Calculations for the Authorization Header: Transferring Payload
  // in a Single Chunk (AWS Signature Version 4)", Example: GET Object.
  it('GET Object with a Range (AWS example)', () => {
    const h = signV4({ method: 'GET', host: 'examplebucket.s3.amazonaws.com', path: '/test.txt', headers: { range: 'bytes=0-9' }, region: 'us-east-1', date }, creds);
    expect(h.authorization).toBe('AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
    expect(h['x-amz-content-sha256']).toBe(createHash('sha256').update('').digest('hex'));
  });

  // The same page, Example: GET Bucket (List Objects), query parameters sorted and encoded.
  it('GET Bucket with a query (AWS example)', () => {
    const h = signV4({ method: 'GET', host: 'examplebucket.s3.amazonaws.com', path: '/', query: { prefix: 'J', 'max-keys': '2' }, region: 'us-east-1', date }, creds);
    expect(h.authorization).toMatch(/Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7$/);
  });

  it('agrees with the SDK\'s signer on keys that need encoding and on session tokens', async () => {
    // The SDK's signer takes its hash as a class: HMAC when given a key (as @smithy/hash-node's).
    class Sha256 {
      private readonly h;
      constructor(key?: Uint8Array | string) {
        this.h = key === undefined ? createHash('sha256') : createHmac('sha256', key);
      }
      update(d: Uint8Array | string) {
        this.h.update(d);
      }
      async digest() {
        return new Uint8Array(this.h.digest());
      }
    }
    const signer = new SignatureV4({ service: 's3', region: 'eu-central-1', credentials: { ...creds, sessionToken: 'tok/en+=' }, sha256: Sha256, uriEscapePath: false, applyChecksum: true });
    for (const key of ['blobs/sha256/abc', KEY, "a!'()*~b/c d", 'ünïcode/ключ']) {
      const path = s3Path(['bucket', key]);
      const now = new Date('2026-01-02T03:04:05Z');
      const ours = signV4({ method: 'GET', host: 'h.example:9000', path, headers: { range: 'bytes=1-' }, region: 'eu-central-1', date: now }, { ...creds, sessionToken: 'tok/en+=' });
      const theirs = await signer.sign(
        { method: 'GET', protocol: 'https:', hostname: 'h.example', port: 9000, path, query: {}, headers: { host: 'h.example:9000', range: 'bytes=1-', 'x-amz-content-sha256': ours['x-amz-content-sha256']! } },
        { signingDate: now },
      );
      expect(ours.authorization, key).toBe(theirs.headers.authorization);
      expect(ours['x-amz-security-token']).toBe('tok/en+=');
    }
  });
});

describe('the AWS shared files', () => {
  it('reads sections, comments and sub-keys as the SDK does', () => {
    const text = ['[default]', 'region = eu-west-1 ; a comment', '# a line comment', '[profile dev]', 'aws_access_key_id=AK', 's3 =', '  endpoint_url = http://x', 'region=us-west-2', '[services local]', 's3 =', '  endpoint_url = http://127.0.0.1:9000', '[dev2]', 'region = ignored'].join('\n');
    expect(parseAwsIni(text, true)).toEqual({
      default: { region: 'eu-west-1' },
      dev: { aws_access_key_id: 'AK', 's3.endpoint_url': 'http://x', region: 'us-west-2' },
      'services.local': { 's3.endpoint_url': 'http://127.0.0.1:9000' },
    });
    expect(parseAwsIni('[dev]\naws_secret_access_key = S/K+\n', false)).toEqual({ dev: { aws_secret_access_key: 'S/K+' } });
  });
});

const S3RVER = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

describe('where a request goes and how it is signed: the same as the SDK', () => {
  const cases: Array<[string, string, Record<string, string>, { config?: string; credentials?: string }?]> = [
    ['endpoint in the URL, path style', 's3://vessel/images?endpoint=http://127.0.0.1:9000', { ...S3RVER, AWS_REGION: 'us-east-1' }],
    ['AWS_ENDPOINT_URL without a region', 's3://vessel/images', { ...S3RVER, AWS_ENDPOINT_URL: 'http://127.0.0.1:9000' }],
    ['AWS_ENDPOINT_URL_S3 before AWS_ENDPOINT_URL', 's3://vessel', { ...S3RVER, AWS_ENDPOINT_URL: 'http://wrong:1', AWS_ENDPOINT_URL_S3: 'https://minio.example:9443', AWS_REGION: 'eu-west-1' }],
    ['AWS itself, virtual-hosted', 's3://vessel/images', { ...S3RVER, AWS_REGION: 'eu-west-3' }],
    ['AWS, a bucket with dots: path style', 's3://my.vessel.images/x', { ...S3RVER, AWS_REGION: 'us-east-1' }],
    ['AWS, path style asked for', 's3://vessel/x?pathStyle=1', { ...S3RVER, AWS_REGION: 'ap-southeast-2' }],
    ['AWS China', 's3://vessel', { ...S3RVER, AWS_REGION: 'cn-north-1' }],
    ['AWS GovCloud', 's3://vessel', { ...S3RVER, AWS_REGION: 'us-gov-west-1' }],
    ['AWS_DEFAULT_REGION', 's3://vessel', { ...S3RVER, AWS_DEFAULT_REGION: 'sa-east-1' }],
    ['region in the URL wins', 's3://vessel?region=ca-central-1', { ...S3RVER, AWS_REGION: 'eu-west-1' }],
    ['custom host name, virtual-hosted asked for', 's3://vessel/p?endpoint=https://s3.example.org&pathStyle=0', { ...S3RVER, AWS_REGION: 'us-east-1' }],
    ['custom IP address: path style whatever is asked', 's3://vessel/p?endpoint=http://10.1.2.3:7480&pathStyle=false', { ...S3RVER }],
    ['custom endpoint with a base path', 's3://vessel/p?endpoint=https://gw.example/s3/', { ...S3RVER }],
    ['custom endpoint with a base path, virtual-hosted', 's3://vessel/p?endpoint=https://gw.example/s3&pathStyle=0', { ...S3RVER }],
    ['custom endpoint with a base path and a slash, virtual-hosted', 's3://vessel/p?endpoint=https://gw.example/s3/&pathStyle=0', { ...S3RVER }],
    ['session token', 's3://vessel?endpoint=http://127.0.0.1:1', { ...S3RVER, AWS_SESSION_TOKEN: 'FwoGZXIvYXdzEJr//////////' }],
    ['AWS_PROFILE: keys from credentials, region from config', 's3://vessel', { AWS_PROFILE: 'dev' }, { config: '[profile dev]\nregion = eu-north-1\n', credentials: '[dev]\naws_access_key_id = AKDEV\naws_secret_access_key = SKDEV\n' }],
    ['default profile, keys in the config file', 's3://vessel', {}, { config: '[default]\nregion = us-east-2\naws_access_key_id = AKCONF\naws_secret_access_key = SKCONF\n' }],
    ['AWS_PROFILE wins over keys in the environment', 's3://vessel', { ...S3RVER, AWS_PROFILE: 'dev', AWS_REGION: 'us-west-1' }, { credentials: '[dev]\naws_access_key_id = AKDEV\naws_secret_access_key = SKDEV\n' }],
    ['endpoint_url of a profile', 's3://vessel', { AWS_PROFILE: 'local' }, { config: '[profile local]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:7480\naws_access_key_id = AKL\naws_secret_access_key = SKL\n' }],
    ['endpoint_url of a services section', 's3://vessel', {}, { config: '[default]\nregion = eu-west-1\nservices = ceph\naws_access_key_id = AKL\naws_secret_access_key = SKL\n[services ceph]\ns3 =\n  endpoint_url = https://ceph.example:8443\n' }],
    ['AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 's3://vessel', { ...S3RVER, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true', AWS_REGION: 'eu-west-1' }, { config: '[default]\nendpoint_url = http://nowhere:1\n' }],
  ];

  it.each(cases)('%s', async (_name, text, vars, files) => {
    env(vars, files);
    const u = url(text);
    const key = `${u.prefix ? `${u.prefix}/` : ''}${KEY}`;
    const sdk = await sdkRequest(u, key);
    const r = plan(u);
    if (!('plan' in r)) throw new Error(`no plan: ${JSON.stringify(r)}`);
    const t = s3Target(r.plan);
    expect(`${t.url.protocol}//${t.url.host}${t.pathOf(key)}`).toBe(`${sdk.protocol}//${sdk.headers.host}${sdk.path}`);
    // Credential=AKID/DAY/REGION/s3/aws4_request: the same keys and the same signing region.
    const scope = /Credential=([^/]+)\/\d{8}\/([^/]+)\/s3\//.exec(sdk.headers.authorization!)!;
    expect(r.plan.credentials?.accessKeyId).toBe(scope[1]);
    expect(r.plan.region).toBe(scope[2]);
    expect(r.plan.credentials?.sessionToken).toBe(sdk.headers['x-amz-security-token']);
  });

  it.each([
    ['FIPS endpoints (environment)', 's3://vessel', { ...S3RVER, AWS_REGION: 'us-east-1', AWS_USE_FIPS_ENDPOINT: 'true' }, {}],
    ['dual-stack endpoints (config file)', 's3://vessel', { ...S3RVER, AWS_REGION: 'us-east-1' }, { config: '[default]\nuse_dualstack_endpoint = true\n' }],
    ['an S3 Express directory bucket', 's3://data--use1-az4--x-s3', { ...S3RVER, AWS_REGION: 'us-east-1' }, {}],
    ['a region of another partition', 's3://vessel', { ...S3RVER, AWS_REGION: 'us-iso-east-1' }, {}],
    ['the aws-global pseudo region', 's3://vessel', { ...S3RVER, AWS_REGION: 'aws-global' }, {}],
  ] as Array<[string, string, Record<string, string>, { config?: string }]>)('%s: left to the SDK', (_name, text, vars, files) => {
    env(vars, files);
    expect(plan(url(text))).toHaveProperty('sdk');
  });

  it.each([
    ['an assumed role', { AWS_PROFILE: 'ops' }, { config: '[profile ops]\nregion = eu-west-1\nrole_arn = arn:aws:iam::123456789012:role/ops\nsource_profile = base\n[profile base]\naws_access_key_id = AKB\naws_secret_access_key = SKB\n' }],
    ['a credential process', {}, { config: '[default]\nregion = eu-west-1\ncredential_process = /usr/local/bin/creds\n' }],
    ['SSO', {}, { config: '[default]\nregion = eu-west-1\nsso_session = corp\nsso_account_id = 1\nsso_role_name = r\n[sso-session corp]\nsso_region = eu-west-1\nsso_start_url = https://x\n' }],
    ['nothing at all (instance metadata)', { AWS_REGION: 'eu-west-1' }, {}],
  ] as Array<[string, Record<string, string>, { config?: string }]>)('credentials from %s: the SDK\'s provider chain', (_name, vars, files) => {
    env(vars, files);
    const r = plan(url('s3://vessel'));
    expect(r).toHaveProperty('plan');
    expect((r as { plan: { credentials: unknown } }).plan.credentials).toBeUndefined();
  });

  it('no region anywhere: said so, as the SDK does', async () => {
    env({ ...S3RVER });
    const u = url('s3://vessel');
    expect(plan(u)).toEqual({ error: 'no-region' });
    await expect(sdkRequest(u, KEY)).rejects.toThrow(/Region is missing/);
  });
});

describe('what an S3 server answers, as vessel says it', () => {
  /** A server that answers every request with the next scripted reply, recording x-amz-date. */
  async function scripted(replies: Array<{ status: number; headers?: Record<string, string>; body?: string }>) {
    const dates: string[] = [];
    const srv = http.createServer((req, res) => {
      dates.push(String(req.headers['x-amz-date']));
      const r = replies.shift() ?? { status: 500 };
      res.writeHead(r.status, { 'content-type': 'application/xml', ...r.headers }).end(req.method === 'HEAD' ? undefined : r.body ?? '');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    env({ ...S3RVER, AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` });
    const t = new S3Transport(url('s3://vessel/p'));
    return { t, dates, close: async () => { await t.close(); srv.close(); } };
  }
  const xml = (code: string, message = '') => `<?xml version="1.0"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

  it.each([
    [403, xml('SignatureDoesNotMatch'), {}, /access denied \(SignatureDoesNotMatch\)/],
    [404, xml('NoSuchBucket', 'The specified bucket does not exist'), {}, /bucket "vessel" does not exist/],
    [404, xml('NoSuchKey', 'The specified key does not exist.'), {}, /k: no such object/],
    [301, xml('PermanentRedirect'), { 'x-amz-bucket-region': 'eu-central-1' }, /bucket "vessel" is in region eu-central-1, not us-east-1/],
    [400, xml('InvalidArgument', 'Invalid version id specified'), {}, /GET k: InvalidArgument \(Invalid version id specified\)/],
  ] as Array<[number, string, Record<string, string>, RegExp]>)('GET answered %i: one line', async (status, body, headers, want) => {
    const s = await scripted([{ status, body, headers }]);
    try {
      const e = await s.t.get('k').then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).message).toMatch(want);
      expect(isTransient(e)).toBe(false);
    } finally {
      await s.close();
    }
  });

  it('5xx and SlowDown are transient (retried by the pull); a HEAD 404 is "absent"', async () => {
    const s = await scripted([{ status: 503, body: xml('SlowDown') }, { status: 500 }, { status: 404 }]);
    try {
      for (let i = 0; i < 2; i++) expect(isTransient(await s.t.get('k').then(() => undefined, (x: unknown) => x))).toBe(true);
      expect(await s.t.stat('k')).toBeUndefined();
    } finally {
      await s.close();
    }
  });

  it('RequestTimeTooSkewed: the clock is corrected from the server\'s Date and the request sent once more', async () => {
    const server = new Date(Date.now() + 3 * 3600_000);
    const s = await scripted([{ status: 403, headers: { date: server.toUTCString() }, body: xml('RequestTimeTooSkewed') }, { status: 200, body: 'ok' }]);
    try {
      const body = await s.t.get('k');
      let text = '';
      for await (const c of body) text += String(c);
      expect(text).toBe('ok');
      const second = Date.parse(s.dates[1]!.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
      expect(Math.abs(second - server.getTime())).toBeLessThan(5_000);
    } finally {
      await s.close();
    }
  });
});
