import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { VesselError, errorMessage, debugEnabled, log } from '../../util/index.js';

/**
 * A small client for Nomad's HTTP API, configured from the same environment variables as the
 * `nomad` CLI and hashicorp/nomad's api.DefaultConfig (api/api.go): NOMAD_ADDR, NOMAD_TOKEN,
 * NOMAD_REGION, NOMAD_NAMESPACE, NOMAD_HTTP_AUTH, NOMAD_CACERT, NOMAD_CLIENT_CERT,
 * NOMAD_CLIENT_KEY, NOMAD_TLS_SERVER_NAME, NOMAD_SKIP_VERIFY.
 */
export interface NomadConfig {
  address: string;
  token?: string;
  region?: string;
  namespace?: string;
  httpAuth?: string;
  caCert?: string;
  clientCert?: string;
  clientKey?: string;
  tlsServerName?: string;
  skipVerify?: boolean;
}

export function nomadConfigFromEnv(env: NodeJS.ProcessEnv = process.env): NomadConfig {
  const v = (k: string): string | undefined => (env[k] === undefined || env[k] === '' ? undefined : env[k]);
  const cfg: NomadConfig = { address: v('NOMAD_ADDR') ?? 'http://127.0.0.1:4646' };
  const set = <K extends keyof NomadConfig>(k: K, value: NomadConfig[K] | undefined): void => {
    if (value !== undefined) cfg[k] = value;
  };
  set('token', v('NOMAD_TOKEN'));
  set('region', v('NOMAD_REGION'));
  set('namespace', v('NOMAD_NAMESPACE'));
  set('httpAuth', v('NOMAD_HTTP_AUTH'));
  set('caCert', v('NOMAD_CACERT'));
  set('clientCert', v('NOMAD_CLIENT_CERT'));
  set('clientKey', v('NOMAD_CLIENT_KEY'));
  set('tlsServerName', v('NOMAD_TLS_SERVER_NAME'));
  const skip = v('NOMAD_SKIP_VERIFY');
  if (skip !== undefined) set('skipVerify', /^(1|t|true)$/i.test(skip));
  return cfg;
}

export interface NomadResponse<T> {
  body: T;
  /** X-Nomad-Index: the Raft index the answer reflects; the next blocking query waits past it. */
  index: number;
}

export interface QueryOptions {
  /** Blocking query: return once the index moves past this (or `wait` runs out). */
  index?: number;
  /** Longest time the server may hold a blocking query, in ms (Nomad caps it at 10 min). */
  waitMs?: number;
  params?: Record<string, string>;
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export class NomadClient {
  readonly config: NomadConfig;
  private readonly base: URL;
  private readonly agent: http.Agent | https.Agent;

  constructor(config: NomadConfig = nomadConfigFromEnv()) {
    this.config = config;
    let base: URL;
    try {
      base = new URL(config.address);
    } catch {
      throw new VesselError('E_CONFIG', `NOMAD_ADDR=${config.address}: not a URL`, { hint: 'e.g. http://127.0.0.1:4646' });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new VesselError('E_CONFIG', `NOMAD_ADDR=${config.address}: ${base.protocol} is not http: or https:`);
    }
    this.base = base;
    const read = (what: string, path: string | undefined): Buffer | undefined => {
      if (path === undefined) return undefined;
      try {
        return readFileSync(path);
      } catch (e) {
        throw new VesselError('E_CONFIG', `${what}=${path}: ${errorMessage(e)}`);
      }
    };
    if (base.protocol === 'https:') {
      const opts: https.AgentOptions = { keepAlive: true };
      const ca = read('NOMAD_CACERT', config.caCert);
      const cert = read('NOMAD_CLIENT_CERT', config.clientCert);
      const key = read('NOMAD_CLIENT_KEY', config.clientKey);
      if (ca) opts.ca = ca;
      if (cert) opts.cert = cert;
      if (key) opts.key = key;
      if (config.tlsServerName) opts.servername = config.tlsServerName;
      if (config.skipVerify) opts.rejectUnauthorized = false;
      this.agent = new https.Agent(opts);
    } else {
      this.agent = new http.Agent({ keepAlive: true });
    }
  }

  /** Frees the keep-alive sockets so a short-lived CLI process can exit at once. */
  close(): void {
    this.agent.destroy();
  }

  get<T>(path: string, q: QueryOptions = {}): Promise<NomadResponse<T>> {
    return this.request<T>('GET', path, undefined, q);
  }

  post<T>(path: string, body: unknown, q: QueryOptions = {}): Promise<NomadResponse<T>> {
    return this.request<T>('POST', path, body, q);
  }

  delete<T>(path: string, q: QueryOptions = {}): Promise<NomadResponse<T>> {
    return this.request<T>('DELETE', path, undefined, q);
  }

  private url(path: string, q: QueryOptions): URL {
    const u = new URL(path, this.base);
    // Region and namespace travel as query parameters on every call, as api/api.go does.
    if (this.config.region) u.searchParams.set('region', this.config.region);
    if (this.config.namespace) u.searchParams.set('namespace', this.config.namespace);
    for (const [k, v] of Object.entries(q.params ?? {})) u.searchParams.set(k, v);
    if (q.index !== undefined && q.index > 0) u.searchParams.set('index', String(q.index));
    if (q.waitMs !== undefined) u.searchParams.set('wait', `${Math.round(q.waitMs)}ms`);
    return u;
  }

  private request<T>(method: Method, path: string, body: unknown, q: QueryOptions): Promise<NomadResponse<T>> {
    const u = this.url(path, q);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.config.token) headers['X-Nomad-Token'] = this.config.token;
    if (this.config.httpAuth) headers.Authorization = `Basic ${Buffer.from(this.config.httpAuth).toString('base64')}`;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const where = `nomad ${method} ${u.pathname}`;
    if (debugEnabled()) log().debug({ method, url: u.toString() }, 'nomad request');
    const mod = u.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(u, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new VesselError('E_CLUSTER', `${where}: ${errorMessage(e)}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) {
            reject(apiError(where, status, text, this.config.address));
            return;
          }
          let parsed: unknown = null;
          if (text.trim() !== '') {
            try {
              parsed = JSON.parse(text);
            } catch {
              reject(new VesselError('E_CLUSTER', `${where}: answer is not JSON: ${text.slice(0, 120)}`));
              return;
            }
          }
          const index = Number(res.headers['x-nomad-index'] ?? 0);
          resolve({ body: parsed as T, index: Number.isFinite(index) ? index : 0 });
        });
      });
      req.on('error', (e) =>
        reject(new VesselError('E_CLUSTER', `${where}: ${errorMessage(e)}`, {
          hint: `is a Nomad agent listening at ${this.config.address}? (NOMAD_ADDR)`,
        })),
      );
      req.end(payload);
    });
  }
}

function apiError(where: string, status: number, text: string, address: string): VesselError {
  const reason = text.trim().split('\n')[0] ?? '';
  const msg = `${where}: ${status}${reason ? ` ${reason}` : ''}`;
  if (status === 404) return new VesselError('E_NOT_FOUND', msg);
  if (status === 401 || status === 403) {
    return new VesselError('E_CLUSTER', msg, { hint: `set NOMAD_TOKEN to a token allowed to manage jobs on ${address}` });
  }
  return new VesselError('E_CLUSTER', msg);
}
