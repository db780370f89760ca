/**
 * The simulator's package index: a stand-in for PyPI, which pods cannot reach here (no internet).
 * A PEP 503 "simple" repository over HTTP serving a few small pure-Python wheels the simulator
 * builds itself (index-packages.py, with Python's zipfile; cached per machine):
 *
 *   kgpu-demo-utils 1.0.0 and 1.1.0, tinyplot 0.1 (requires kgpu-demo-utils>=1.0), and kgpu-broken
 *   0.1 (a wheel pip refuses: the failure path).
 *
 * It listens on 127.0.0.1:<port> here and, like the API, on a Unix socket that every pod's relay
 * serves at the same 127.0.0.1:<port> inside the pod (pod-reach.ts); pods get its URL as
 * PIP_INDEX_URL and UV_INDEX_URL, so `pip install kgpu-demo-utils` in a pod's venv just works.
 *
 *   GET /simple/             the project list
 *   GET /simple/<project>/   links to its files, `#sha256=` and `data-requires-python` (names that
 *                            are not normalized redirect, as PyPI's do; unknown projects are 404)
 *   GET /files/<wheel>       the file
 *   /private/simple/...      the same pages behind HTTP Basic auth (a private index: the user
 *                            name or password must be the index's `credential`; else 401) —
 *                            what a `PIP_INDEX_URL` with a token in kgpu.env reaches
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BUILDER = join(__dirname, 'index-packages.py');

export interface IndexedFile {
  name: string;
  version: string;
  file: string;
  sha256: string;
  requires_python: string;
}

export interface PackageIndex {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /** The index URL (`http://127.0.0.1:<port>/simple/`), the same inside pods. */
  readonly url: string;
  readonly files: readonly IndexedFile[];
  /** How many times a file was downloaded (for tests: "installed once"). */
  downloads(file: string): number;
  /** Requests to /private/simple/ that carried the credential, and those refused (401). */
  privateRequests(): { authorized: number; refused: number };
  close(): Promise<void>;
}

/** PEP 503 name normalization. */
export const normalizeName = (name: string): string => name.replace(/[-_.]+/g, '-').toLowerCase();

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The wheels, built once per machine and builder version (temp folder, then renamed into place). */
async function buildWheels(python: string): Promise<{ dir: string; files: IndexedFile[] }> {
  const key = createHash('sha256').update(readFileSync(BUILDER)).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `kgpu-sim-index-${key}`);
  if (!existsSync(join(dir, 'index.json'))) {
    const staging = mkdtempSync(`${dir}.tmp-`);
    try {
      const err = await new Promise<string>((resolve, reject) => {
        const p = spawn(python, [BUILDER, staging], { stdio: ['ignore', 'ignore', 'pipe'] });
        let text = '';
        p.stderr.setEncoding('utf8').on('data', (d: string) => (text += d));
        p.on('error', reject);
        p.on('close', (code) => resolve(code === 0 ? '' : text || `exit ${code}`));
      });
      if (err) throw new Error(`kgpu simulator: building the package index's wheels failed: ${err}`);
      renameSync(staging, dir);
    } catch (e) {
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(join(dir, 'index.json'))) throw e; // another simulator may have won the race
    }
  }
  return { dir, files: JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as IndexedFile[] };
}

function page(title: string, links: string[]): string {
  return `<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0"><title>${escapeHtml(title)}</title></head>\n<body><h1>${escapeHtml(title)}</h1>\n${links.join('<br/>\n')}\n</body></html>\n`;
}

export async function startPackageIndex(o: { host?: string; python: string; credential?: string }): Promise<PackageIndex> {
  const host = o.host ?? '127.0.0.1';
  const { dir, files } = await buildWheels(o.python);
  const projects = new Map<string, IndexedFile[]>();
  for (const f of files) projects.set(normalizeName(f.name), [...(projects.get(normalizeName(f.name)) ?? []), f]);
  const byFile = new Map(files.map((f) => [f.file, f]));
  const counts = new Map<string, number>();
  const priv = { authorized: 0, refused: 0 };

  const send = (
    res: ServerResponse,
    status: number,
    type: string,
    body: string | Buffer,
    head: boolean,
    extra: Record<string, string> = {},
  ): void => {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(data.length), ...extra });
    res.end(head ? undefined : data);
  };
  const notFound = (res: ServerResponse, head: boolean): void => send(res, 404, 'text/plain; charset=utf-8', '404 Not Found\n', head);

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      send(res, 405, 'text/plain; charset=utf-8', '405 Method Not Allowed\n', false, { Allow: 'GET, HEAD' });
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://index').pathname);
    } catch {
      notFound(res, head);
      return;
    }
    let base = '';
    if (path === '/private/simple' || path.startsWith('/private/simple/')) {
      const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
      const [user, ...pw] = basic ? Buffer.from(basic[1], 'base64').toString('utf8').split(':') : [];
      if (!o.credential || (user !== o.credential && pw.join(':') !== o.credential)) {
        priv.refused++;
        send(res, 401, 'text/plain; charset=utf-8', '401 Unauthorized\n', head, { 'WWW-Authenticate': 'Basic realm="kgpu-sim-private"' });
        return;
      }
      priv.authorized++;
      base = '/private';
      path = path.slice(base.length);
    }
    if (path === '/simple' || path === '/') {
      send(res, 301, 'text/plain', '', head, { Location: `${base}/simple/` });
      return;
    }
    if (path === '/simple/') {
      const links = [...projects.keys()].sort().map((p) => `<a href="/simple/${p}/">${p}</a>`);
      send(res, 200, 'text/html; charset=utf-8', page('Simple index', links), head);
      return;
    }
    const project = /^\/simple\/([^/]+)(\/?)$/.exec(path);
    if (project) {
      const norm = normalizeName(project[1]);
      if (!projects.has(norm)) return notFound(res, head);
      if (norm !== project[1] || project[2] !== '/') {
        send(res, 301, 'text/plain', '', head, { Location: `${base}/simple/${norm}/` });
        return;
      }
      const links = projects
        .get(norm)!
        .map((f) => `<a href="/files/${f.file}#sha256=${f.sha256}" data-requires-python="${escapeHtml(f.requires_python)}">${f.file}</a>`);
      send(res, 200, 'text/html; charset=utf-8', page(`Links for ${norm}`, links), head);
      return;
    }
    const file = /^\/files\/([^/]+)$/.exec(path);
    if (file && byFile.has(file[1])) {
      if (!head) counts.set(file[1], (counts.get(file[1]) ?? 0) + 1);
      send(res, 200, 'application/octet-stream', readFileSync(join(dir, file[1])), head);
      return;
    }
    notFound(res, head);
  };

  const sockets = new Set<Socket>();
  const server = createServer(handle);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    host,
    port,
    url: `http://${host}:${port}/simple/`,
    files,
    downloads: (f: string) => counts.get(f) ?? 0,
    privateRequests: () => ({ ...priv }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
