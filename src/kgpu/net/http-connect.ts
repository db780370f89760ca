/**
 * A TCP stream to host:port through an HTTP CONNECT proxy (RFC 9110 §9.3.6), for SSH where only a
 * web proxy leads out. It behaves like a connecting net.Socket for ssh2: `connecting` is true and
 * 'connect' fires once the proxy answered 2xx; what the bastion sends after the proxy's answer is
 * passed on byte for byte. Proxy credentials come from the URL (http://user:pass@proxy:3128) and go
 * only to the proxy (Proxy-Authorization). An `https:` proxy URL is reached over TLS.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { KgpuError } from '../util/kgpu-error';

/** The most bytes of the proxy's answer read before giving up on it (it is a few lines). */
const MAX_PROXY_ANSWER = 16 * 1024;

export class ProxyTunnelError extends KgpuError {
  constructor(
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(
      'net',
      status !== undefined ? 'proxy_refused' : 'proxy_failed',
      message,
      options && 'cause' in options ? { cause: options.cause } : undefined,
    );
    this.name = 'ProxyTunnelError';
  }
}

export interface TunnelOptions {
  /** http://[user:pass@]host[:port] or https://… */
  proxy: string;
  host: string;
  port: number;
  /** TLS to an https: proxy: verify its certificate (http.proxyStrictSSL), default true. */
  strictSSL?: boolean;
}

export class HttpConnectTunnel extends Duplex {
  /** As net.Socket's: true until the tunnel is open (ssh2 waits for 'connect'). */
  connecting = true;
  private readonly socket: net.Socket;
  private answer = Buffer.alloc(0);
  private open = false;

  constructor(o: TunnelOptions) {
    super();
    const proxy = new URL(o.proxy);
    if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:')
      throw new ProxyTunnelError(`The proxy "${proxy.protocol}//${proxy.host}" is not an http:// or https:// proxy.`);
    const port = Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80));
    const target = `${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}`;
    const auth = proxy.username
      ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}\r\n`
      : '';
    const request = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`;
    const hostname = proxy.hostname.replace(/^\[|\]$/g, '');
    this.socket =
      proxy.protocol === 'https:'
        ? tls.connect({
            host: hostname,
            port,
            servername: net.isIP(hostname) ? undefined : hostname,
            rejectUnauthorized: o.strictSSL !== false,
          })
        : net.connect({ host: hostname, port, noDelay: true });
    this.socket.once(proxy.protocol === 'https:' ? 'secureConnect' : 'connect', () => this.socket.write(request));
    const onAnswer = (chunk: Buffer): void => {
      this.answer = Buffer.concat([this.answer, chunk]);
      const end = this.answer.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.answer.length > MAX_PROXY_ANSWER)
          this.destroy(new ProxyTunnelError(`The proxy ${proxy.host} sent no complete answer to CONNECT ${target}.`));
        return;
      }
      this.socket.off('data', onAnswer);
      const statusLine = this.answer.subarray(0, this.answer.indexOf('\r\n')).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
      if (!(status >= 200 && status < 300)) {
        const hint =
          status === 407
            ? ' It wants credentials: put them in the proxy URL (http://user:password@host:port).'
            : status === 403
              ? ` It does not allow tunnels to port ${o.port}.`
              : '';
        this.destroy(
          new ProxyTunnelError(
            `The proxy ${proxy.host} refused to connect to ${target}: ${statusLine || 'no HTTP answer'}.${hint}`,
            status || undefined,
          ),
        );
        return;
      }
      const rest = this.answer.subarray(end + 4);
      this.answer = Buffer.alloc(0);
      this.open = true;
      this.connecting = false;
      this.socket.pause();
      this.socket.on('data', (d: Buffer) => {
        if (!this.push(d)) this.socket.pause();
      });
      if (rest.length) this.push(rest);
      this.emit('connect');
      this.socket.resume();
    };
    this.socket.on('data', onAnswer);
    this.socket.on('end', () => this.push(null));
    this.socket.on('error', (e) =>
      this.destroy(
        this.open
          ? e
          : new ProxyTunnelError(`Cannot reach the proxy ${proxy.host}: ${(e as NodeJS.ErrnoException).code ?? e.message}.`, undefined, {
              cause: e,
            }),
      ),
    );
    this.socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
  }

  override _read(): void {
    if (this.open) this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.open) {
      this.socket.write(chunk, cb);
      return;
    }
    this.once('connect', () => this.socket.write(chunk, cb));
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }

  setNoDelay(noDelay = true): this {
    (this.socket as net.Socket).setNoDelay?.(noDelay);
    return this;
  }

  setTimeout(ms: number): this {
    this.socket.setTimeout(ms);
    return this;
  }
}
