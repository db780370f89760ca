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
    this.report?.({
      bytesDone: this.done + inFlight,
      bytesTotal: this.bytesTotal,
      filesDone: this.files,
      filesTotal: this.filesTotal,
      current,
    });
  }
}

export { eachLimited } from '../util/async';
