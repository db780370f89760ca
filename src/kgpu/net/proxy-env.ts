/**
 * Which proxy a connection uses: `http.proxy` (VS Code) first, else HTTPS_PROXY / HTTP_PROXY
 * (either case), with NO_PROXY (or `http.noProxy`) exempting hosts. No undici here: the editor
 * reads this at activation; the dispatcher (proxy-dispatcher.ts) loads with the REST client.
 */
export interface ProxySettings {
  /** `http.proxy`; empty = from the environment. */
  proxy?: string;
  /** `http.proxyStrictSSL` (default true). */
  strictSSL?: boolean;
  /** `http.noProxy`: hosts (and `.suffix`es) never proxied; empty = NO_PROXY from the environment. */
  noProxy?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedProxy {
  httpProxy: string;
  httpsProxy: string;
  noProxy: string;
}

/** The proxies in force ('' = none). */
export function resolveProxy(s: ProxySettings): ResolvedProxy {
  const env = s.env ?? process.env;
  const setting = s.proxy?.trim() ?? '';
  const httpProxy = setting || env.http_proxy || env.HTTP_PROXY || '';
  const httpsProxy = setting || env.https_proxy || env.HTTPS_PROXY || httpProxy;
  const noProxy = s.noProxy?.length ? s.noProxy.join(',') : (env.no_proxy ?? env.NO_PROXY ?? '');
  return { httpProxy, httpsProxy, noProxy };
}

/** True when NO_PROXY-style `list` ("a.com,.b.org,10.0.0.1:2222,*") exempts `host` (and `port`). */
export function noProxyMatches(list: string, host: string, port?: number): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  for (const raw of list.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const m = /^(.*?)(?::(\d+))?$/.exec(entry)!;
    if (m[2] && port !== undefined && Number(m[2]) !== port) continue;
    const name = m[1].replace(/^\*?\./, '').replace(/^\[|\]$/g, '');
    if (h === name || h.endsWith(`.${name}`)) return true;
  }
  return false;
}
