/**
 * Python that runs in the pod, shipped in the VSIX under `pod/` (found next to `dist/` at run
 * time, or next to `src/` in the repository) and placed in the pod by its content hash.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface PodScript {
  /** The file's name in the extension, e.g. "forkserver.py". */
  name: string;
  source: Buffer;
  /** First 16 hex digits of the source's sha256. */
  hash: string;
  /** Its name in the pod: "forkserver_<hash>.py" (importable: a client imports it, so its
   *  bytecode is cached instead of compiled on every run). */
  podName: string;
  /** Its module name in the pod: "forkserver_<hash>". */
  module: string;
}

export function podScriptFrom(name: string, source: Buffer): PodScript {
  if (!/^[a-z][a-z0-9_]*\.py$/.test(name)) throw new Error(`bad pod script name ${name}`);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const module = `${name.slice(0, -3)}_${hash}`;
  return { name, source, hash, podName: `${module}.py`, module };
}

/** `pod/<name>` above `from` (the bundle's dist/, or src/kgpu/warm/ under tsx). */
export function findPodScript(name: string, from: string = __dirname): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'pod', name);
    if (existsSync(p)) return p;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`kgpu: pod/${name} was not found above ${from}; the extension's installation is incomplete — reinstall it.`);
}

const cache = new Map<string, PodScript>();

/** The shipped script, read once per process (a few tens of KB, read synchronously so a run's
 *  start command can be built without a wait). */
export function loadPodScript(name: string, file?: string): PodScript {
  const p = file ?? findPodScript(name);
  let s = cache.get(p);
  if (!s) cache.set(p, (s = podScriptFrom(name, readFileSync(p))));
  return s;
}
