import * as vscode from 'vscode';
import { noProxyMatches, resolveProxy, type ProxySettings } from '../kgpu/net/proxy-env';

/**
 * The editor's proxy settings for kgpu's connections: `http.proxy`, `http.proxyStrictSSL` and
 * `http.noProxy` (VS Code's own, application-scoped) over HTTPS_PROXY / HTTP_PROXY / NO_PROXY.
 * REST always honours them; SSH goes through the proxy (HTTP CONNECT) only when the user turned
 * on `kgpu.sshThroughProxy` in their own settings (a folder cannot) and NO_PROXY does not exempt
 * the bastion — many proxies allow tunnels to 443 only, and SSH usually goes out directly.
 */
export function editorProxySettings(): ProxySettings {
  const http = vscode.workspace.getConfiguration('http');
  return {
    proxy: http.get<string>('proxy') ?? '',
    strictSSL: http.get<boolean>('proxyStrictSSL') ?? true,
    noProxy: http.get<string[]>('noProxy') ?? [],
  };
}

export function sshProxyFor(host: string, port: number): { url: string; strictSSL?: boolean } | undefined {
  if (vscode.workspace.getConfiguration('kgpu').inspect<boolean>('sshThroughProxy')?.globalValue !== true) return undefined;
  const s = editorProxySettings();
  const p = resolveProxy(s);
  if (!p.httpsProxy || noProxyMatches(p.noProxy, host, port)) return undefined;
  return { url: p.httpsProxy, strictSSL: s.strictSSL };
}
