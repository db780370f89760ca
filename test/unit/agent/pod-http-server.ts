/**
 * A static HTTP server for a pod's loopback, shared by the agent tests and the agent bench: one
 * exec binds 127.0.0.1 on a free port, prints the port and detaches (its own session, stdio on
 * /dev/null), so it outlives the exec and the agent. HTTP/1.0: one request per connection, the
 * server closes it after the response. Plus a raw HTTP/1.0 GET over any Duplex (an agent stream).
 */
import type { Duplex } from 'node:stream';

const SERVER = `
import http.server, os, sys
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True
class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
root = sys.argv[1]
srv = Server(("127.0.0.1", 0), lambda *a, **k: Handler(*a, directory=root, **k))
sys.stdout.write("%d\\n" % srv.server_address[1])
sys.stdout.flush()
if os.fork() > 0:
    os._exit(0)
os.setsid()
fd = os.open(os.devnull, os.O_RDWR)
for i in (0, 1, 2):
    os.dup2(fd, i)
srv.serve_forever()
`;

/** argv of the exec that starts the server on `dir` (in the pod) and prints its port. */
export function podHttpServerArgv(dir: string): string[] {
  return ['python3', '-c', SERVER, dir];
}

export function parsePort(stdout: string): number {
  const port = Number(stdout.trim());
  if (!Number.isInteger(port) || port <= 0) throw new Error(`the pod's HTTP server printed ${JSON.stringify(stdout)}`);
  return port;
}

export interface HttpResponse {
  status: number;
  headers: string;
  body: Buffer;
}

/** Send `GET path` over `stream` (then half-close it) and read the response until the server closes. */
export async function httpGet(stream: Duplex, path: string): Promise<HttpResponse> {
  stream.end(`GET ${path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return parseResponse(Buffer.concat(chunks));
}

export function parseResponse(all: Buffer): HttpResponse {
  const sep = all.indexOf('\r\n\r\n');
  if (sep < 0) throw new Error(`no HTTP header in ${all.length} bytes: ${JSON.stringify(all.subarray(0, 80).toString('latin1'))}`);
  const headers = all.subarray(0, sep).toString('latin1');
  const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(headers)?.[1] ?? 0);
  return { status, headers, body: all.subarray(sep + 4) };
}
