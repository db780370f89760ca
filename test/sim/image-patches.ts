/**
 * Fixes the simulator's image carries on top of Debian's packages, as a distribution backports an
 * upstream fix: a patched copy of a package folder, bind-mounted read-only over the original in
 * every pod (the machine's own files stay as they are).
 *
 * - `torchrun` (torch.distributed.run) of Debian 12's PyTorch 1.13.1 fails on Python 3.11 before
 *   starting any worker (`AttributeError: 'NoneType' object has no attribute 'get'` in `to_map`):
 *   `Std.from_str("0")` iterates the IntFlag, which no longer yields the zero member on 3.11. The
 *   fix PyTorch 2.0 shipped (`Std(int(v))`) is applied to
 *   torch/distributed/elastic/multiprocessing/api.py. kgpu's image (PyTorch 2.x) has it already.
 *
 * Patched copies are made once per machine (under the OS temp folder, keyed by the original's
 * content, written to a temp folder then renamed, so parallel simulators agree) with their
 * bytecode compiled, so pods never write bytecode next to them.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Patch {
  /** What the patch is for (in errors). */
  what: string;
  /** The package folder that is replaced in pods, relative to a site-packages folder. */
  folder: string;
  /** The file in it that changes, and the change (old → new text; no patch when old is absent). */
  file: string;
  old: string;
  new: string;
}

const PATCHES: Patch[] = [
  {
    what: "torchrun on Python 3.11 (PyTorch 1.13's Std.from_str)",
    folder: 'torch/distributed/elastic/multiprocessing',
    file: 'api.py',
    old: '            v = int(v)\n            for s in Std:\n                if s == v:\n                    return s\n',
    new: "            return Std(int(v))  # kgpu simulator: PyTorch 2.0's fix for Python 3.11\n",
  },
];

export interface PatchBind {
  source: string;
  target: string;
  readonly: true;
}

const made = new Map<string, PatchBind[]>();

/** Bind mounts that put the patched folders over the originals for a pod's python3 (`exe`, whose
 *  `sitePackages` are where its packages are). */
export function imagePatchBinds(py: { exe: string; sitePackages: string[] }): PatchBind[] {
  const python = py.exe;
  const cached = made.get(python);
  if (cached && cached.every((b) => existsSync(b.source))) return cached; // (a temp-folder clean-up may remove them)
  const binds: PatchBind[] = [];
  for (const p of PATCHES) {
    const site = py.sitePackages.find((d) => existsSync(join(d, p.folder, p.file)));
    if (!site) continue; // the package is not installed: nothing to fix
    const target = join(site, p.folder);
    const original = readFileSync(join(target, p.file), 'utf8');
    if (!original.includes(p.old)) continue; // fixed upstream already
    const key = createHash('sha256').update(original).update(p.new).digest('hex').slice(0, 16);
    const source = join(tmpdir(), `kgpu-sim-image-patch-${key}`);
    if (!existsSync(source)) {
      const staging = mkdtempSync(`${source}.tmp-`);
      try {
        cpSync(target, staging, { recursive: true, preserveTimestamps: true });
        writeFileSync(join(staging, p.file), original.replace(p.old, p.new));
        const compiled = spawnSync(
          python,
          ['-c', 'import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True)', join(staging, p.file)],
          { encoding: 'utf8' },
        );
        if (compiled.status !== 0) throw new Error(`kgpu simulator: patching ${p.what} failed: ${compiled.stderr}`);
        renameSync(staging, source);
      } catch (e) {
        rmSync(staging, { recursive: true, force: true });
        if (!existsSync(source)) throw e; // another simulator may have won the race
      }
    }
    binds.push({ source, target, readonly: true });
  }
  made.set(python, binds);
  return binds;
}
