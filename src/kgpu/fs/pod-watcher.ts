/**
 * Watches a folder (or file) inside a pod for changes made there — a running job writing
 * checkpoints and logs — over its own exec connection (the bastion serves one channel per
 * connection):
 * - `inotifywait -m` in the pod when it has one (NUL-separated output, so any file name works);
 *   the pod-side script ends inotifywait when our channel closes (its stdin reaches EOF);
 * - else a `find -printf` snapshot every `pollIntervalMs`, diffed against the previous one.
 * A dropped connection restarts the watch (capped backoff; an unreachable bastion is waited out for as
 * long as it lasts) and reports a change of the root, since events may have been missed meanwhile.
 */
import path from 'node:path';
import type { PodConnector } from '../ssh/ssh-connection';
import { exec, execStream, ExecOutputTooLargeError, type ExecStream } from '../ssh/ssh-exec';
import { quote } from '../util/shell-quote';
import { BastionUnreachableError, ConnectionLostError } from '../ssh/ssh-errors';
import type { PathChange } from '../util/change-coalescer';
import { backoffReconnectPolicy, type ReconnectPolicy } from '../ssh/reconnect-policy';

const DEFAULT_RECONNECT = backoffReconnectPolicy();

const posix = path.posix;

export type WatchMode = 'auto' | 'inotify' | 'poll';

export interface PodWatcherOptions {
  /** The pod's connector, asked again for each (re)connection. */
  connector: () => Promise<PodConnector>;
  /** Absolute path in the pod. */
  root: string;
  recursive: boolean;
  /** 'auto' (default): inotifywait if the pod has it, else polling. */
  mode?: WatchMode;
  /** Polling interval (default 3000 ms). */
  pollIntervalMs?: number;
  /** Folder names whose contents are not watched (recursive watches). */
  excludeNames?: readonly string[];
  onChanges(changes: PathChange[]): void;
  /** Told once when the watch cannot continue (e.g. the pod ended); the watcher stops. */
  onStopped?(reason: Error): void;
  /** Return true to stop reconnecting (e.g. the pod has ended). */
  shouldStop?(): boolean;
  /** The pod session's retry policy: the wait between reconnects (default backoffReconnectPolicy(): up to 2 s). */
  reconnect?: ReconnectPolicy;
  /** Polling: the most bytes of one listing (default 32 MiB, some 200 000 entries). A bigger tree
   *  stops the watch with a message (onStopped) instead of holding ever bigger snapshots. */
  maxListingBytes?: number;
}

const DEFAULT_MAX_LISTING_BYTES = 32 * 1024 * 1024;

function bytesText(n: number): string {
  return n < 1024 * 1024 ? `${Math.round(n / 1024)} KiB` : `${Math.round(n / (1024 * 1024))} MiB`;
}

/** Exit status of our inotify script when the pod has no inotifywait. */
const NO_INOTIFY = 127;
const EVENTS = ['create', 'modify', 'delete', 'move', 'attrib', 'close_write'];

/**
 * inotifywait -r adds a watch to a new folder only after it sees the folder created, so files a
 * job writes into a folder it has just made (`mkdir -p out/logs && echo … > out/logs/train.log`)
 * can come and go unseen. This filter, between inotifywait and us, passes every event on and,
 * for a created or moved-in folder, reports what is already inside it.
 */
function newFolderScan(excludeNames: readonly string[]): string {
  const prune = excludeNames.length ? `\\( ${excludeNames.map((n) => `-name ${quote(n)}`).join(' -o ')} \\) -prune -o ` : '';
  // An excluded folder (e.g. .kgpu, made by the first job) is not looked into.
  const skip = excludeNames.length ? `${excludeNames.map(quote).join('|')}) ;; ` : '';
  return [
    `while IFS= read -r -d '' e && IFS= read -r -d '' p; do`,
    `  printf '%s\\0%s\\0' "$e" "$p"`,
    `  case ",$e," in *,ISDIR,*) case ",$e," in *,CREATE,*|*,MOVED_TO,*) case "\${p##*/}" in ${skip}*)`,
    `    find "$p" -mindepth 1 ${prune}-printf 'CREATE\\0%p\\0' 2>/dev/null;; esac;; esac;; esac`,
    'done',
  ].join('\n');
}

export function inotifyScript(root: string, recursive: boolean, excludeNames: readonly string[]): string {
  const exclude = excludeNames.length ? ` --exclude ${quote(`(^|/)(${excludeNames.map(escapeRegex).join('|')})/`)}` : '';
  const filter = recursive ? ` | bash -c ${quote(newFolderScan(excludeNames))}` : '';
  return [
    'command -v inotifywait >/dev/null 2>&1 || exit 127',
    'exec 3<&0',
    `inotifywait -m${recursive ? ' -r' : ''} --format '%e%0%w%f%0' --no-newline ${EVENTS.map((e) => `-e ${e}`).join(' ')}${exclude} -- ${quote(root)} </dev/null${filter} &`,
    'p=$!',
    // Our channel closing (stdin EOF) ends the watch: nothing is left running in the pod. The
    // command runs in its own process group (sshd makes each session one), so `kill 0` takes
    // inotifywait and the filter together.
    '{ cat <&3 >/dev/null 2>&1; kill 0; } >/dev/null 2>&1 &',
    'c=$!',
    'wait $p; s=$?',
    'kill $c 2>/dev/null',
    'exit $s',
  ].join('\n');
}

export function pollScript(
  root: string,
  recursive: boolean,
  excludeNames: readonly string[],
  maxBytes = DEFAULT_MAX_LISTING_BYTES,
): string {
  const prune = recursive && excludeNames.length ? ` \\( ${excludeNames.map((n) => `-name ${quote(n)}`).join(' -o ')} \\) -prune` : '';
  // Cut in the pod at the bound + 1 byte: a huge tree is not sent only to be refused here.
  return `find ${quote(root)}${recursive ? '' : ' -maxdepth 1'} -printf '%y %T@ %s %P\\0'${prune} 2>/dev/null | head -c ${maxBytes + 1}; exit 0`;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function mapInotify(events: string): PathChange['type'] | undefined {
  const e = events.split(',');
  if (e.includes('CREATE') || e.includes('MOVED_TO')) return 'created';
  if (e.includes('DELETE') || e.includes('MOVED_FROM') || e.includes('DELETE_SELF')) return 'deleted';
  if (e.includes('MODIFY') || e.includes('CLOSE_WRITE') || e.includes('ATTRIB')) return 'changed';
  return undefined;
}

export class PodWatcher {
  /** Resolves when the watch is established (with the way it watches). */
  readonly ready: Promise<'inotify' | 'poll'>;
  private resolveReady!: (m: 'inotify' | 'poll') => void;
  private disposed = false;
  private stream: ExecStream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private snapshot: Map<string, string> | undefined;
  private mode: 'inotify' | 'poll' | undefined;

  constructor(private readonly options: PodWatcherOptions) {
    this.ready = new Promise((r) => (this.resolveReady = r));
    const mode = options.mode ?? 'auto';
    if (mode === 'poll') this.startPolling();
    else void this.runInotify();
  }

  get kind(): 'inotify' | 'poll' | undefined {
    return this.mode;
  }

  private stopped(): boolean {
    return this.disposed || (this.options.shouldStop?.() ?? false);
  }

  private async runInotify(): Promise<void> {
    if (this.stopped()) return;
    const { root, recursive } = this.options;
    let s: ExecStream;
    try {
      s = await execStream(await this.options.connector(), inotifyScript(root, recursive, this.options.excludeNames ?? []));
    } catch (e) {
      return this.retry(e, () => void this.runInotify());
    }
    if (this.disposed) return s.close();
    this.stream = s;
    let established = false;
    let stderr = '';
    s.stderr.on('data', (b: Buffer) => {
      if (established) return;
      stderr += b.toString('utf8');
      if (stderr.includes('Watches established')) {
        established = true;
        const restarted = this.mode === 'inotify';
        this.mode = 'inotify';
        this.failures = 0;
        this.resolveReady('inotify');
        // Events may have been missed while we were reconnecting.
        if (restarted) this.options.onChanges([{ type: 'changed', path: root }]);
      }
    });
    let rest: Buffer = Buffer.alloc(0);
    const pendingFields: string[] = [];
    s.stdout.on('data', (b: Buffer) => {
      rest = rest.length ? Buffer.concat([rest, b]) : b;
      const out: PathChange[] = [];
      for (let nul = rest.indexOf(0); nul >= 0; nul = rest.indexOf(0)) {
        pendingFields.push(rest.subarray(0, nul).toString('utf8'));
        rest = rest.subarray(nul + 1);
        if (pendingFields.length === 2) {
          const [events, p] = pendingFields.splice(0, 2);
          const type = mapInotify(events);
          if (type && p) out.push({ type, path: p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p });
        }
      }
      if (out.length) this.options.onChanges(out);
    });
    let status: Awaited<ExecStream['done']> | undefined;
    let lost: unknown;
    try {
      status = await s.done;
    } catch (e) {
      lost = e;
    }
    this.stream = undefined;
    if (this.disposed) return;
    if (status && !established && (status.exitCode === NO_INOTIFY || this.options.mode !== 'inotify')) {
      // No inotifywait (or it could not watch, e.g. the folder is not there yet): poll instead.
      this.startPolling();
      return;
    }
    this.retry(
      lost ?? new Error(`inotifywait ended (${stderr.trim() || `exit ${status?.exitCode ?? status?.signal}`})`),
      () => void this.runInotify(),
    );
  }

  private retry(e: unknown, again: () => void): void {
    if (this.stopped()) {
      this.options.onStopped?.(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    this.failures++;
    // The bastion unreachable or the connection lost (a network outage, a laptop asleep) is waited
    // out at the policy's capped delay for as long as it lasts — no busy loop — so
    // the explorer picks up again by itself; anything else (e.g. the key refused) gives up.
    const transient = e instanceof BastionUnreachableError || e instanceof ConnectionLostError;
    if (this.failures > 8 && !transient) {
      this.options.onStopped?.(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    const delay = (this.options.reconnect ?? DEFAULT_RECONNECT).delayMs(this.failures);
    this.timer = setTimeout(again, delay);
  }

  // ---- polling ---------------------------------------------------------------------------------

  private startPolling(): void {
    this.mode = 'poll';
    void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.stopped()) {
      if (!this.disposed) this.options.onStopped?.(new Error('The pod is gone.'));
      return;
    }
    const { root, recursive } = this.options;
    const max = this.options.maxListingBytes ?? DEFAULT_MAX_LISTING_BYTES;
    try {
      const r = await exec(await this.options.connector(), pollScript(root, recursive, this.options.excludeNames ?? [], max), {
        maxOutputBytes: max,
      });
      if (this.disposed) return;
      const next = new Map<string, string>();
      for (const rec of r.stdout.toString('utf8').split('\0')) {
        if (!rec) continue;
        const a = rec.indexOf(' ');
        const b = rec.indexOf(' ', a + 1);
        const c = rec.indexOf(' ', b + 1);
        if (a < 0 || b < 0 || c < 0) continue;
        // type mtime size → identity; the directory's own mtime is not a change of its own.
        const type = rec.slice(0, a);
        next.set(rec.slice(c + 1), type === 'd' ? 'd' : rec.slice(0, c));
      }
      const prev = this.snapshot;
      this.snapshot = next;
      this.failures = 0;
      if (prev === undefined) this.resolveReady('poll');
      else {
        const out: PathChange[] = [];
        const abs = (rel: string): string => (rel ? posix.join(root, rel) : root);
        for (const [rel, id] of next) {
          const before = prev.get(rel);
          if (before === undefined) out.push({ type: 'created', path: abs(rel) });
          else if (before !== id) out.push({ type: 'changed', path: abs(rel) });
        }
        for (const rel of prev.keys()) if (!next.has(rel)) out.push({ type: 'deleted', path: abs(rel) });
        if (out.length) this.options.onChanges(out);
      }
      this.timer = setTimeout(() => void this.poll(), this.options.pollIntervalMs ?? 3000);
    } catch (e) {
      if (this.disposed) return;
      if (e instanceof ExecOutputTooLargeError) {
        this.disposed = true;
        this.options.onStopped?.(
          new Error(
            `Watching ${root} for changes stopped: its listing is more than ${bytesText(max)} (too many files to compare by polling). Install inotify-tools in the pod's image for live updates, or refresh the Explorer by hand.`,
          ),
        );
        return;
      }
      this.retry(e, () => void this.poll());
    }
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.stream?.close();
    this.stream = undefined;
  }
}
