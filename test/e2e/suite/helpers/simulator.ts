// The simulator the runner started for this suite, as passed into the extension host's environment.
export interface SimulatorEnv {
  apiBase: string;
  token: string;
  sshHost: string;
  sshPort: number;
}

/** The simulator's coordinates, or undefined when the runner had no simulator. */
export function simulatorEnv(): SimulatorEnv | undefined {
  const e = process.env;
  if (!e.KGPU_API_BASE || !e.KGPU_API_TOKEN || !e.KGPU_SSH_HOST || !e.KGPU_SSH_PORT) return undefined;
  return { apiBase: e.KGPU_API_BASE, token: e.KGPU_API_TOKEN, sshHost: e.KGPU_SSH_HOST, sshPort: Number(e.KGPU_SSH_PORT) };
}

/**
 * Call at the top of a `describe` whose tests need the simulator: they are skipped ("simulator
 * not available") when the runner has none, and the returned getter yields it otherwise.
 *
 *   describe('rentals', () => {
 *     const sim = needsSimulator();
 *     it('…', async () => { await fetch(`${sim().apiBase}/pods`, …) });
 *   });
 */
export function needsSimulator(): () => SimulatorEnv {
  let env: SimulatorEnv | undefined;
  before(function () {
    env = simulatorEnv();
    if (!env) {
      const suite = this.test?.parent as (Mocha.Suite & { kgpuSkipReason?: string }) | undefined;
      if (suite) suite.kgpuSkipReason = 'simulator not available';
      this.skip();
    }
  });
  return () => {
    if (!env) throw new Error('needsSimulator(): the simulator is not available');
    return env;
  };
}

/** Authenticated JSON request to the simulator's REST API (for checking its state from a test). */
export async function simApi<T>(sim: SimulatorEnv, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${sim.apiBase}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${sim.token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: HTTP ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}
