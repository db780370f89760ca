/**
 * TensorBoard in the pod (issue 19), editor-free: find it (in /workspace/.venv, on PATH, or as a
 * Python module), start `tensorboard --logdir <dir> --host 127.0.0.1 --port <p>` detached (its own
 * session, so it outlives the agent and the SSH connection), and wait until it listens. The editor
 * command (src/ports/tensorboard-command.ts) then forwards that port and opens it.
 */
import type { AgentStream, AgentTarget } from '../agent';
import { quoteArgv } from '../util/shell-quote';
import { listListeningSockets } from './port-watcher';

type OpenStream = (target: AgentTarget, options: { signal?: AbortSignal }) => Promise<AgentStream>;

const PROBE =
  'if [ -x /workspace/.venv/bin/tensorboard ]; then echo /workspace/.venv/bin/tensorboard; elif command -v tensorboard >/dev/null 2>&1; then command -v tensorboard; elif python3 -c "import tensorboard" >/dev/null 2>&1; then echo module; else echo none; fi';

/** Where TensorBoard's log goes in the pod. */
export const TENSORBOARD_LOG = '/tmp/kgpu-tensorboard.log';

async function run(openStream: OpenStream, argv: string[], signal?: AbortSignal): Promise<{ out: string; code: number | null }> {
  const s = await openStream({ kind: 'process', argv, stderr: 'discard', cwd: '/workspace' }, { signal });
  s.end();
  let out = '';
  s.setEncoding('utf8');
  for await (const c of s as AsyncIterable<string>) if (out.length < 65536) out += c;
  const exit = await s.exit;
  return { out: out.trim(), code: exit?.exitCode ?? null };
}

/** argv that starts TensorBoard, or undefined when the pod has none. */
export async function findTensorBoard(openStream: OpenStream, signal?: AbortSignal): Promise<string[] | undefined> {
  const probe = await run(openStream, ['sh', '-c', PROBE], signal);
  if (probe.out === 'none' || probe.out === '') return undefined;
  return probe.out === 'module' ? ['python3', '-m', 'tensorboard.main'] : [probe.out];
}

/**
 * Start TensorBoard on `logdir` (port 6006, or any free one when 6006 is taken) and wait until it
 * listens (checked every `pollMs`, at most `timeoutMs`); its pod port. Rejects with what to look
 * at when it exits or never listens; resolves undefined when `signal` aborts.
 */
export async function startTensorBoard(
  openStream: OpenStream,
  tensorboard: string[],
  logdir: string,
  options: { signal?: AbortSignal; timeoutMs?: number; pollMs?: number } = {},
): Promise<number | undefined> {
  const list = (): ReturnType<typeof listListeningSockets> => listListeningSockets(openStream, options.signal);
  const before = new Set((await list()).map((s) => s.port));
  const port = before.has(6006) ? 0 : 6006;
  const started = await run(
    openStream,
    [
      'sh',
      '-c',
      `setsid -f ${quoteArgv([...tensorboard, '--logdir', logdir, '--host', '127.0.0.1', '--port', String(port)])} >${TENSORBOARD_LOG} 2>&1 </dev/null`,
    ],
    options.signal,
  );
  if (started.code !== 0) throw new Error(`TensorBoard could not be started in the pod (see ${TENSORBOARD_LOG} there).`);
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  for (;;) {
    if (options.signal?.aborted) return undefined;
    const now = await list();
    const found = now.find((s) => (port ? s.port === port : !before.has(s.port) && /tensorboard/.test(s.name ?? '')));
    if (found) return found.port;
    if (Date.now() > deadline)
      throw new Error(
        `TensorBoard did not start listening within ${Math.round((options.timeoutMs ?? 90_000) / 1000)} s (see ${TENSORBOARD_LOG} in the pod).`,
      );
    await new Promise((r) => setTimeout(r, options.pollMs ?? 1000));
  }
}
