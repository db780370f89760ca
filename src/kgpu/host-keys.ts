/**
 * Host keys of SSH bastions, pinned on first use (TOFU): the first connection to a host:port
 * records its key fingerprint; later connections must present the same key or fail with
 * HostKeyChangedError.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export interface HostKeyStore {
  /** The pinned fingerprint ("SHA256:…") for "host:port", if any. */
  get(hostPort: string): Promise<string | undefined> | string | undefined;
  set(hostPort: string, keyFingerprint: string): Promise<void> | void;
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
}

/** A JSON file {"host:port": "SHA256:…"}; written atomically (temp file + rename), mode 0600. */
export class JsonFileHostKeyStore implements HostKeyStore {
  private cache: Map<string, string> | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly filePath: string) {}

  private async load(): Promise<Map<string, string>> {
    if (this.cache) return this.cache;
    let parsed: unknown = {};
    try {
      parsed = JSON.parse(await fsp.readFile(this.filePath, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`Cannot read the kgpu known-hosts file ${this.filePath}: ${(e as Error).message}. Fix or delete it.`);
      }
    }
    const map = new Map<string, string>();
    if (parsed && typeof parsed === 'object') {
      for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) if (typeof v === 'string') map.set(k, v);
    }
    this.cache = map;
    return map;
  }

  async get(hostPort: string): Promise<string | undefined> {
    return (await this.load()).get(hostPort);
  }

  async set(hostPort: string, keyFingerprint: string): Promise<void> {
    const map = await this.load();
    map.set(hostPort, keyFingerprint);
    const body = JSON.stringify(Object.fromEntries(map), null, 2) + '\n';
    this.writing = this.writing.then(async () => {
      await fsp.mkdir(path.dirname(this.filePath), { recursive: true });
      const tmp = `${this.filePath}.${process.pid}.tmp`;
      await fsp.writeFile(tmp, body, { mode: 0o600 });
      await fsp.rename(tmp, this.filePath);
    });
    await this.writing;
  }
}
