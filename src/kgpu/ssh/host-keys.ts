/**
 * Host keys of SSH bastions, pinned on first use (TOFU): the first connection to a host:port
 * records its key fingerprint; later connections must present the same key or fail with
 * HostKeyChangedError (the way back: "kgpu: Forget Bastion Host Key…", or delete the entry).
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export interface HostKeyStore {
  /** The pinned fingerprint ("SHA256:…") for "host:port", if any. */
  get(hostPort: string): Promise<string | undefined> | string | undefined;
  set(hostPort: string, keyFingerprint: string): Promise<void> | void;
  /** Forget the pin of "host:port" (the next connection pins what it sees). */
  delete(hostPort: string): Promise<void> | void;
  /** Where the pins live, for messages that tell the user how to remove one (a file path). */
  readonly location?: string;
}

/** OpenSSH-style SHA256 fingerprint of a public key blob (SSH wire format): "SHA256:<base64, no padding>". */
export function sshFingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

export class MemoryHostKeyStore implements HostKeyStore {
  private readonly keys = new Map<string, string>();
  get(hostPort: string): string | undefined {
    return this.keys.get(hostPort);
  }
  set(hostPort: string, keyFingerprint: string): void {
    this.keys.set(hostPort, keyFingerprint);
  }
  delete(hostPort: string): void {
    this.keys.delete(hostPort);
  }
}

/**
 * A JSON file {"host:port": "SHA256:…"}; written atomically (temp file + rename), mode 0600.
 * Read on every lookup and every change — never cached for the window's life — so an entry the
 * user removed (by hand, or with "kgpu: Forget Bastion Host Key…" in another window) is gone at
 * once, and a later write for another host cannot put it back.
 */
export class JsonFileHostKeyStore implements HostKeyStore {
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly filePath: string) {}

  get location(): string {
    return this.filePath;
  }

  private async load(): Promise<Map<string, string>> {
    let parsed: unknown = {};
    try {
      parsed = JSON.parse(await fsp.readFile(this.filePath, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`Cannot read the kgpu known-hosts file ${this.filePath}: ${(e as Error).message}. Fix or delete it.`, { cause: e });
      }
    }
    const map = new Map<string, string>();
    if (parsed && typeof parsed === 'object') {
      for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) if (typeof v === 'string') map.set(k, v);
    }
    return map;
  }

  async get(hostPort: string): Promise<string | undefined> {
    await this.writing.catch(() => undefined);
    return (await this.load()).get(hostPort);
  }

  /** Every pin, for a command that lists them. */
  async entries(): Promise<Map<string, string>> {
    await this.writing.catch(() => undefined);
    return this.load();
  }

  set(hostPort: string, keyFingerprint: string): Promise<void> {
    return this.change((map) => map.set(hostPort, keyFingerprint));
  }

  delete(hostPort: string): Promise<void> {
    return this.change((map) => map.delete(hostPort));
  }

  /** Read-modify-write of the file as it is now, one change at a time. */
  private change(edit: (map: Map<string, string>) => void): Promise<void> {
    const next = this.writing
      .catch(() => undefined)
      .then(async () => {
        const map = await this.load();
        edit(map);
        const body = JSON.stringify(Object.fromEntries(map), null, 2) + '\n';
        await fsp.mkdir(path.dirname(this.filePath), { recursive: true });
        const tmp = `${this.filePath}.${process.pid}.tmp`;
        await fsp.writeFile(tmp, body, { mode: 0o600 });
        await fsp.rename(tmp, this.filePath);
      });
    this.writing = next;
    return next;
  }
}
