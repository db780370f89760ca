/**
 * The REST server (Node's `http`, no framework): request ids, routing, bearer auth and scopes,
 * fault injection, JSON errors. Routes live in routes-*.ts; the presigned object URLs
 * (`/_objects/…`) are served by ObjectStore.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { ApiError } from './api-error';
import type { RestFaults } from './faults';
import { finishReading, parseJsonObject, readBody, REQUEST_ID_HEADER, sendError, sendJson } from './http-io';
import { newRequestId } from './ids';
import type { ObjectStore } from './objects';
import type { Principal, SimState } from './state';

/** Who may call a route: anyone, the account token only, or the in-pod token too (handlers then check the pod). */
export type Access = 'public' | 'account' | 'pod';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  requestId: string;
  /** Captured path parameters. */
  params: string[];
  /** Set for every route but public ones. */
  principal: Principal;
  /** The JSON object body ({} when empty); 400/413 on bad input. */
  json(limit?: number): Promise<Record<string, unknown>>;
}

export interface Reply {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
  /** Raw reply (non-JSON), e.g. the docs page. */
  raw?: { contentType: string; text: string };
}

export interface Route {
  method: string;
  /** Anchored pattern on the path; groups become `params`. */
  pattern: RegExp;
  access: Access;
  handler(ctx: RouteContext): Promise<Reply> | Reply;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  429: 'rate_limited',
  500: 'internal_error',
  502: 'bad_gateway',
  503: 'service_unavailable',
  504: 'gateway_timeout',
};

export interface RestServer {
  readonly server: Server;
  readonly port: number;
  readonly origin: string;
  close(): Promise<void>;
}

export async function startRestServer(o: {
  host: string;
  port: number;
  routes: Route[];
  state: SimState;
  objects: ObjectStore;
  faults: RestFaults;
}): Promise<RestServer> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    void handle(req, res).catch((e: unknown) => {
      console.error(`kgpu-sim: unexpected error: ${(e as Error)?.stack ?? String(e)}`);
      try {
        res.destroy();
      } catch {
        /* already gone */
      }
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const id = newRequestId();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const text = JSON.stringify({
      error: status === 431 ? 'headers_too_large' : 'bad_request',
      message: `the HTTP request could not be parsed (${err.code ?? err.message})`,
      request_id: id,
    });
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n${REQUEST_ID_HEADER}: ${id}\r\nConnection: close\r\n\r\n${text}`,
    );
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = newRequestId();
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const method = (req.method ?? 'GET').toUpperCase();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://sim.invalid');
    } catch {
      return sendError(res, requestId, new ApiError(400, 'bad_request', 'the request URL could not be parsed'));
    }
    const path = url.pathname;

    const fault = o.faults.decide(method, path);
    if (fault.latencyMs > 0) await delay(fault.latencyMs);
    if (fault.drop) {
      req.socket.destroy();
      return;
    }
    if (fault.fail) {
      const f = fault.fail;
      drain(req);
      return sendError(
        res,
        requestId,
        new ApiError(
          f.status,
          f.error ?? STATUS_CODES[f.status] ?? 'injected_fault',
          f.message ?? `injected fault: ${method} ${path} answers ${f.status}`,
          {},
          { Connection: 'close' },
        ),
      );
    }

    if (path.startsWith('/_objects/')) {
      res.setHeader('x-amz-request-id', requestId);
      return o.objects.handle(req, res, url, requestId);
    }

    let matched: { route: Route; params: string[] } | undefined;
    const allowed: string[] = [];
    for (const route of o.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      allowed.push(route.method);
      if (route.method === method) {
        matched = { route, params: m.slice(1).map((p) => safeDecode(p)) };
        break;
      }
    }
    if (!matched) {
      drain(req);
      if (allowed.length) {
        return sendError(
          res,
          requestId,
          new ApiError(
            405,
            'method_not_allowed',
            `${method} is not allowed on ${path.slice(0, 100)}; allowed: ${allowed.join(', ')}`,
            {},
            { Allow: allowed.join(', ') },
          ),
        );
      }
      return sendError(
        res,
        requestId,
        new ApiError(404, 'not_found', `no such endpoint: ${method} ${path.slice(0, 100)} (the API lives under /v1; see /v1/openapi.json)`),
      );
    }
    const { route, params } = matched;
    try {
      let principal: Principal | undefined;
      if (route.access !== 'public') {
        const auth = String(req.headers.authorization ?? '');
        const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
        if (!m)
          throw new ApiError(
            401,
            'unauthorized',
            'missing bearer token: send "Authorization: Bearer $KGPU_API_TOKEN"',
            {},
            { 'WWW-Authenticate': 'Bearer realm="kgpu"' },
          );
        const who = o.state.authenticate(m[1]);
        if ('error' in who)
          throw new ApiError(401, who.error, who.message, {}, { 'WWW-Authenticate': 'Bearer realm="kgpu", error="invalid_token"' });
        principal = who;
        if (route.access === 'account' && who.kind === 'pod') {
          throw new ApiError(
            403,
            'forbidden_scope',
            `the in-pod token cannot ${method} ${path}; it may read /me, read or release its own pod and use /objects — use your account token`,
          );
        }
      }
      let bodyRead: Promise<Record<string, unknown>> | undefined;
      const ctx: RouteContext = {
        req,
        res,
        url,
        requestId,
        params,
        principal: principal as Principal,
        json: (limit = DEFAULT_BODY_LIMIT) => (bodyRead ??= readBody(req, limit).then((b) => parseJsonObject(b))),
      };
      const reply = await route.handler(ctx);
      if (!bodyRead) drain(req);
      if (reply.raw) {
        res.writeHead(reply.status ?? 200, {
          ...reply.headers,
          'Content-Type': reply.raw.contentType,
          'Content-Length': Buffer.byteLength(reply.raw.text),
        });
        res.end(reply.raw.text);
        return;
      }
      sendJson(res, reply.status ?? 200, reply.body, reply.headers);
    } catch (e) {
      await finishReading(req);
      if (e instanceof ApiError) return sendError(res, requestId, e);
      console.error(`kgpu-sim: ${method} ${path} failed (request ${requestId}): ${(e as Error)?.stack ?? String(e)}`);
      return sendError(
        res,
        requestId,
        new ApiError(500, 'internal_error', `the simulator failed on ${method} ${path}; quote trace ${requestId}`),
      );
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    origin: `http://${o.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** Read and discard what is left of a request body, so a keep-alive connection stays usable. */
function drain(req: IncomingMessage): void {
  if (req.readableEnded) return;
  req.resume();
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
