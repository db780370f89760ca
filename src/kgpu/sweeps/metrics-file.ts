/**
 * A run's `metrics.jsonl` (issue 23): the file the script writes in its working folder in the pod,
 * one JSON object per line (`{"step": 3, "loss": 0.12}`, the shape metrics.ts reads). Before a run
 * starts its file is marked (size and inode); when the run ends only what the run wrote is read —
 * from the mark when it appended to the same file, from the start when it wrote a new one — and
 * at most MAX_METRICS_FILE_BYTES of it (the tail: the last values are at the end; the best value is
 * then the best of that tail). A symlink is not followed; a missing file is no metrics.
 */
import path from 'node:path';
import type { PodCommands } from '../ssh/pod-commands';
import { quote } from '../util/shell-quote';
import { MetricsReader, type Metrics } from './metrics';

export const METRICS_FILE = 'metrics.jsonl';
export const MAX_METRICS_FILE_BYTES = 256 * 1024;

/** The file's size and inode before a run (size 0, no inode: there was none). */
export interface MetricsFileMark {
  size: number;
  ino: string;
}

export interface FileMetrics {
  last: Metrics;
  best: Metrics;
  /** Bytes read (at most MAX_METRICS_FILE_BYTES). */
  bytes: number;
}

const STAT = `if [ -f "$f" ] && [ ! -L "$f" ]; then stat -c '%s %i' -- "$f"; else echo '0 -'; fi`;

export async function markMetricsFile(pod: PodCommands, cwd: string, signal?: AbortSignal): Promise<MetricsFileMark> {
  const r = await pod.exec(`f=${quote(path.posix.join(cwd, METRICS_FILE))}; ${STAT}`, { signal });
  const [size, ino] = r.stdout.toString('utf8').trim().split(' ');
  return { size: Number(size) || 0, ino: ino && ino !== '-' ? ino : '' };
}

/** What the run wrote to the file since `mark` (the whole file when there is no mark), bounded. */
export async function readMetricsFile(
  pod: PodCommands,
  cwd: string,
  mark: MetricsFileMark | undefined,
  signal?: AbortSignal,
): Promise<FileMetrics | undefined> {
  const cap = MAX_METRICS_FILE_BYTES;
  const from = mark?.ino ? `if [ "$ino" = ${quote(mark.ino)} ] && [ "$size" -ge ${mark.size} ]; then start=${mark.size}; fi` : '';
  const script = [
    `f=${quote(path.posix.join(cwd, METRICS_FILE))}`,
    `[ -f "$f" ] && [ ! -L "$f" ] || exit 3`,
    `set -- $(stat -c '%s %i' -- "$f"); size=$1; ino=$2; start=0`,
    from,
    `[ $((size - start)) -gt ${cap} ] && start=$((size - ${cap}))`,
    `echo "$start"`,
    `tail -c +$((start + 1)) -- "$f" | head -c ${cap}`,
  ]
    .filter(Boolean)
    .join('\n');
  const r = await pod.exec(script, { signal });
  if (r.exitCode !== 0) return undefined;
  const out = r.stdout;
  const nl = out.indexOf(10);
  if (nl < 0) return undefined;
  const start = Number(out.subarray(0, nl).toString('utf8'));
  let body = out.subarray(nl + 1, nl + 1 + cap);
  // Cut by the cap (not at the mark nor the start): the first line may be a part of one.
  if (start > 0 && start !== mark?.size) body = body.subarray(body.indexOf(10) + 1);
  const reader = new MetricsReader();
  reader.push(body);
  reader.end();
  return { last: { ...reader.last }, best: { ...reader.best }, bytes: body.length };
}
