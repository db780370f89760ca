/**
 * Fixture for the simulator's REST tests: a fresh in-process simulator per test (clock frozen:
 * only `clock.advance()` moves time), a request helper that asserts every response carries an
 * X-Request-ID of 16 hex chars, and throwaway keys from ssh-keygen.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../sim/index';

export interface Res {
  status: number;

  body: any;
  text: string;
  headers: Headers;
  requestId: string;
}

export async function startSim(t: TestContext, o: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator({ clockSpeed: 0, ...o });
  t.after(() => sim.stop());
  return sim;
}

export interface CallOptions {
  /** Bearer token; default the account token; null = no Authorization header. */
  token?: string | null;
  body?: unknown;
  /** Raw body (sent as is). */
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

/** One request to `sim.apiBase + path` (path may be absolute under the origin when it starts with /_ or /v1). */
export async function call(sim: Simulator, method: string, path: string, o: CallOptions = {}): Promise<Res> {
  const url =
    /^\/(v1|_objects|openapi|docs)/.test(path) || path.startsWith('http')
      ? path.startsWith('http')
        ? path
        : sim.origin + path
      : sim.apiBase + path;
  const headers: Record<string, string> = { ...o.headers };
  const token = o.token === undefined ? sim.token : o.token;
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  let body: string | Buffer | undefined;
  if (o.raw !== undefined) body = o.raw;
  else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['Content-Type'] ??= 'application/json';
  }
  const r = await fetch(url, { method, headers, body });
  const text = await r.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const requestId = r.headers.get('x-request-id') ?? '';
  assert.match(requestId, /^[0-9a-f]{16}$/, `${method} ${path} → ${r.status} must carry X-Request-ID (16 hex chars)`);
  return { status: r.status, body: parsed, text, headers: r.headers, requestId };
}

/** Assert a JSON error `{error, message}` with this status and code; 5xx also `trace_id` = request id. */
export function assertError(r: Res, status: number, code: string, field?: string): void {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status}: ${r.text.slice(0, 300)}`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(r.body.error, code, r.text);
  assert.equal(typeof r.body.message, 'string');
  assert.ok(r.body.message.length > 10, 'the message says what happened');
  if (field !== undefined) assert.equal(r.body.field, field, r.text);
  if (status >= 500) assert.equal(r.body.trace_id, r.requestId);
}

export interface TestKey {
  path: string;
  publicKey: string;
  /** `ssh-keygen -lf` fingerprint (SHA256:…). */
  fingerprint: string;
}

/** A throwaway ed25519 key made by ssh-keygen (removed after the test). */
export function newKey(t: TestContext): TestKey {
  const dir = mkdtempSync(join(tmpdir(), 'kgpu-rest-key-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kgpu-test', '-f', path]);
  const publicKey = readFileSync(`${path}.pub`, 'utf8').trim();
  const fingerprint = execFileSync('ssh-keygen', ['-lf', `${path}.pub`], { encoding: 'utf8' }).split(' ')[1];
  return { path, publicKey, fingerprint };
}

/** Rent with the account token and wait until the pod's runtime is up (coldStartMs 0 → Running). */
export async function rentReady(sim: Simulator, body: Record<string, unknown> = {}): Promise<string> {
  const r = await call(sim, 'POST', '/pods', { body });
  assert.equal(r.status, 200, r.text);
  await waitFor(
    () => sim.state.pods.get(r.body.pod_id)?.ready === true || sim.state.pods.get(r.body.pod_id)?.ended_at !== null,
    'the pod to become ready',
  );
  assert.equal(sim.state.pods.get(r.body.pod_id)?.ready, true, 'pod became ready');
  return r.body.pod_id as string;
}

/** Poll a condition with a bounded deadline (no fixed sleeps). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
