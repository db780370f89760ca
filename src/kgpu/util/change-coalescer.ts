/**
 * Debounces file-change events and merges the ones for the same path the way VS Code's own
 * watchers do: created+deleted cancel out, deleted+created is a change, created+changed stays
 * created, anything+deleted is deleted.
 */
export type ChangeType = 'created' | 'changed' | 'deleted';

export interface PathChange {
  type: ChangeType;
  path: string;
}

export class ChangeCoalescer {
  private pending = new Map<string, ChangeType>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly delayMs: number,
    private readonly deliver: (changes: PathChange[]) => void,
  ) {}

  push(changes: readonly PathChange[]): void {
    for (const c of changes) {
      const before = this.pending.get(c.path);
      const merged = merge(before, c.type);
      if (merged === undefined) this.pending.delete(c.path);
      else {
        this.pending.delete(c.path); // keep arrival order
        this.pending.set(c.path, merged);
      }
    }
    if (!this.timer && this.pending.size > 0) {
      this.timer = setTimeout(() => this.flush(), this.delayMs);
    }
  }

  /** Deliver what is pending now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const out = [...this.pending].map(([path, type]) => ({ type, path }));
    this.pending.clear();
    this.deliver(out);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }
}

function merge(before: ChangeType | undefined, now: ChangeType): ChangeType | undefined {
  if (before === undefined) return now;
  if (before === 'created' && now === 'deleted') return undefined;
  if (before === 'deleted' && now === 'created') return 'changed';
  if (before === 'created' && now === 'changed') return 'created';
  return now;
}
