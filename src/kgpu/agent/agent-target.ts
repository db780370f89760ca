/**
 * What a stream through the pod agent connects to: a TCP port on the pod's loopback, a Unix socket,
 * or a process the agent spawns — how it is named in messages, and its OPEN frame's JSON.
 */

export type AgentTarget =
  /** A TCP connection to a loopback address in the pod (127.0.0.0/8, ::1 or "localhost"). */
  | { kind: 'tcp'; host: string; port: number }
  /** A Unix socket in the pod (absolute path). */
  | { kind: 'unix'; path: string }
  /** A process spawned in the pod (no shell): its stdin is written, its stdout read; stderr
   *  'pipe' (default) gives `stderr` (sharing the stream's window: read both, or pick 'merge'
   *  or 'discard'). `env` adds to the agent's environment. It gets its own process group, which
   *  is sent SIGTERM (then SIGKILL after 2 s) when the stream is destroyed, and SIGKILL when the
   *  agent ends. */
  | {
      kind: 'process';
      argv: readonly string[];
      cwd?: string;
      env?: Readonly<Record<string, string>>;
      stderr?: 'pipe' | 'merge' | 'discard';
    };

export function describeTarget(t: AgentTarget): string {
  if (t.kind === 'tcp') return `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
  if (t.kind === 'unix') return `the Unix socket ${t.path}`;
  const line = t.argv.join(' ');
  return `the process \`${line.length > 60 ? line.slice(0, 57) + '...' : line}\``;
}

/** The OPEN frame's JSON for a target. */
export function targetJson(t: AgentTarget): Record<string, unknown> {
  if (t.kind === 'tcp') return { t: 'tcp', host: t.host, port: t.port };
  if (t.kind === 'unix') return { t: 'unix', path: t.path };
  return {
    t: 'proc',
    argv: [...t.argv],
    ...(t.cwd !== undefined ? { cwd: t.cwd } : {}),
    ...(t.env ? { env: { ...t.env } } : {}),
    stderr: t.stderr ?? 'pipe',
  };
}
