/**
 * Private folders for temp copies of minted keys (for `ssh -i` in a terminal the user runs): one
 * per window process, named `kgpu-keys-<pid>-XXXXXX` (0700, files 0600). A window removes its
 * own when it closes; one that crashed cannot, so every start removes the folders of processes
 * that are gone — a private key never outlives its window on disk by more than one restart.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const PREFIX = 'kgpu-keys-';
/** Folders of versions that did not put the pid in the name: removed once this old. */
const UNNAMED_STALE_MS = 12 * 60 * 60 * 1000;

export function createTempKeyDir(tmpRoot: string = os.tmpdir()): string {
  return fs.mkdtempSync(path.join(tmpRoot, `${PREFIX}${process.pid}-`)); // mkdtemp: mode 0700
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, not ours to signal
  }
}

/** Remove the key folders of processes that no longer run (ours only); returns what was removed. */
export function removeStaleTempKeyDirs(tmpRoot: string = os.tmpdir(), now = Date.now()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(tmpRoot);
  } catch {
    return removed;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = path.join(tmpRoot, name);
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
    const m = /^kgpu-keys-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    const stale = m
      ? Number(m[1]) !== process.pid && !alive(Number(m[1]))
      : /^kgpu-keys-[A-Za-z0-9]{6}$/.test(name) && now - st.mtimeMs > UNNAMED_STALE_MS;
    if (!stale) continue;
    fs.rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
