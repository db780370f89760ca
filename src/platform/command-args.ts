/**
 * The one decoder of what a command was invoked with. A command may be run from the palette
 * (nothing), a tree row (a rental `{kind: 'rental', pod}`, a job `{kind: 'job', podId, jobId}`,
 * anything with `podId`), the explorer or an editor title (a URI, and the selected URIs as the
 * second argument), a pod id or kgpu:// URI string, or `executeCommand` with an options object
 * (tests, e2e, other commands). Commands ask this once and switch on `kind` instead of sniffing.
 *
 * It never loads `vscode` at run time (a URI is recognised by its shape), so it is unit-tested
 * in plain Node.
 */
import type * as vscode from 'vscode';

/** What a command was given. `options` is the object it was given (empty for the other kinds). */
export type CommandArgs =
  | { kind: 'none' }
  /** A URI (explorer, editor title); `selection`: every selected URI (the explorer's second argument), else just `uri`. */
  | { kind: 'uri'; uri: vscode.Uri; selection: vscode.Uri[] }
  /** A job: a job row, or `{podId, jobId, …}`. */
  | { kind: 'job'; podId: string; jobId: string; options: Record<string, unknown> }
  /** A pod: a rental row, `{pod}`, `{podId}`, `{pod_id}`, a kgpu:// URI in `uri`/`resourceUri`, a pod id or a kgpu:// URI string. */
  | { kind: 'pod'; podId: string; options: Record<string, unknown> }
  /** An options object that names no pod or job. */
  | { kind: 'options'; options: Record<string, unknown> };

/** A vscode.Uri (or one of its kind): recognised by its shape, so this module needs no `vscode` at run time. */
export function isUri(v: unknown): v is vscode.Uri {
  if (!v || typeof v !== 'object') return false;
  const u = v as Record<string, unknown>;
  return (
    typeof u.scheme === 'string' &&
    typeof u.authority === 'string' &&
    typeof u.path === 'string' &&
    typeof u.with === 'function' &&
    typeof u.toJSON === 'function'
  );
}

/** The pod id of a kgpu:// URI string (its authority), else undefined. */
function kgpuUriAuthority(text: string): string | undefined {
  const m = /^kgpu:\/\/([^/?#]*)/.exec(text);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]) || undefined;
  } catch {
    return m[1] || undefined;
  }
}

function podIdOfObject(o: Record<string, unknown>): string | undefined {
  const pod = o.pod as { pod_id?: unknown } | undefined;
  if (pod && typeof pod === 'object' && typeof pod.pod_id === 'string') return pod.pod_id;
  if (typeof o.podId === 'string') return o.podId;
  if (typeof o.pod_id === 'string') return o.pod_id;
  for (const u of [o.resourceUri, o.uri]) if (isUri(u)) return u.scheme === 'kgpu' ? u.authority || undefined : undefined;
  return undefined;
}

/** Decode a command's first argument (and the explorer's selection, its second). */
export function decodeCommandArgs(arg: unknown, second?: unknown): CommandArgs {
  if (arg === undefined || arg === null) return { kind: 'none' };
  if (typeof arg === 'string') {
    const podId = arg.startsWith('kgpu://') ? kgpuUriAuthority(arg) : arg.trim() || undefined;
    return podId ? { kind: 'pod', podId, options: {} } : { kind: 'none' };
  }
  if (isUri(arg)) {
    const selection = Array.isArray(second) && second.length > 0 && second.every(isUri) ? (second as vscode.Uri[]) : [arg];
    return { kind: 'uri', uri: arg, selection };
  }
  if (typeof arg !== 'object') return { kind: 'none' };
  const options = arg as Record<string, unknown>;
  if (typeof options.podId === 'string' && options.podId && typeof options.jobId === 'string' && options.jobId)
    return { kind: 'job', podId: options.podId, jobId: options.jobId, options };
  const podId = podIdOfObject(options);
  if (podId) return { kind: 'pod', podId, options };
  return { kind: 'options', options };
}

/** The pod a command's argument names (a job's, a kgpu:// URI's), if any. */
export function podIdOf(args: CommandArgs): string | undefined {
  switch (args.kind) {
    case 'pod':
    case 'job':
      return args.podId;
    case 'uri':
      return args.uri.scheme === 'kgpu' ? args.uri.authority || undefined : undefined;
    default:
      return undefined;
  }
}

/** The options object a command was given (empty when it was given none, a string or a URI). */
export function optionsOf(args: CommandArgs): Record<string, unknown> {
  return args.kind === 'none' || args.kind === 'uri' ? {} : args.options;
}
