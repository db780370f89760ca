/** Progress of a multi-file copy between this machine and a pod. */
export interface TransferTotals {
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
  /** The file being copied now (pod path or local path). */
  current?: string;
}

/** Sums per-file byte progress of copies running in parallel. */
export class ProgressTally {
  private readonly perFile = new Map<string, number>();
  private done = 0;
  private files = 0;

  constructor(
    private readonly bytesTotal: number,
    private readonly filesTotal: number,
    private readonly report?: (t: TransferTotals) => void,
  ) {}

  file(key: string, bytes: number): void {
    this.perFile.set(key, bytes);
    this.emit(key);
  }

  finished(key: string, bytes: number): void {
    this.perFile.delete(key);
    this.done += bytes;
    this.files++;
    this.emit(undefined);
  }

  private emit(current: string | undefined): void {
    let inFlight = 0;
    for (const b of this.perFile.values()) inFlight += b;
    this.report?.({ bytesDone: this.done + inFlight, bytesTotal: this.bytesTotal, filesDone: this.files, filesTotal: this.filesTotal, current });
  }
}

/** Run `fn` over `items` with at most `limit` at a time; stops starting new ones after a failure. */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  const bad = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad) throw bad.reason;
}
