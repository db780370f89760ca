/** The host's Python that runs inside every simulated pod (pods.ts). */
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';

/** Debian's Python (where system-deps installs the image's packages; never a pyenv shim): what
 *  `python` is inside a pod. */
let pythonCache: { exe: string; dir: string; sitePackages: string[] } | undefined;
export function realPython(): { exe: string; dir: string; sitePackages: string[] } {
  if (pythonCache) return pythonCache;
  for (const cand of ['/usr/bin/python3', 'python3', 'python']) {
    const r = spawnSync(cand, ['-c', 'import site, sys; print(sys.executable); print("\\n".join(site.getsitepackages()))'], {
      encoding: 'utf8',
    });
    const [exe, ...sitePackages] = r.status === 0 ? r.stdout.trim().split('\n') : [''];
    if (exe && existsSync(exe)) {
      const real = realpathSync(exe);
      pythonCache = { exe: real, dir: dirname(exe), sitePackages };
      return pythonCache;
    }
  }
  throw new Error('kgpu simulator: no python3 on this machine — pods need one (apt-get install python3).');
}
