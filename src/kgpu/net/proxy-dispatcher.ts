/**
 * The REST client's undici dispatcher, honouring the editor's proxy settings and the environment:
 * `http.proxy` (VS Code) first, else HTTPS_PROXY / HTTP_PROXY (either case); NO_PROXY (or
 * `http.noProxy`) exempts hosts; `http.proxyStrictSSL: false` stops verifying certificates (the
 * proxy's and, through it, the server's) — off only when the user says so. No proxy: a plain
 * keep-alive Agent. undici's own EnvHttpProxyAgent does the matching and the CONNECT tunnels.
 */
import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici';
import { resolveProxy, type ProxySettings } from './proxy-env';

export type { ProxySettings } from './proxy-env';

const AGENT_OPTIONS = { keepAliveTimeout: 10_000, connections: 8 };

export function restDispatcher(s: ProxySettings = {}): Dispatcher {
  const p = resolveProxy(s);
  const strict = s.strictSSL !== false;
  const tls = strict ? {} : { rejectUnauthorized: false };
  if (!p.httpProxy && !p.httpsProxy) return new Agent({ ...AGENT_OPTIONS, connect: tls });
  return new EnvHttpProxyAgent({
    ...AGENT_OPTIONS,
    httpProxy: p.httpProxy,
    httpsProxy: p.httpsProxy,
    noProxy: p.noProxy,
    connect: tls,
    requestTls: tls,
    proxyTls: tls,
  });
}
