/**
 * Where a download may write on this machine: only inside the folder the user chose. Names come
 * from the pod (any byte but `/` and NUL is a legal Linux file name), so every local target is
 * checked before anything is created:
 * - each name is one plain segment here: not empty, `.` or `..`; on Windows also no `\` or `:`
 *   (`..\..\AppData\…\Startup\run.bat` is ONE Linux name that Windows reads as a path), no
 *   `<>"|?*` or control characters, no trailing dot or space, no reserved device name (CON, NUL,
 *   COM1, LPT1… with any extension);
 * - the real path of the folder it lands in (after every local symlink on the way) stays inside
 *   the chosen folder: a local `logs/` that is a link to `~/.ssh` must not receive `authorized_keys`.
 * The platform is a parameter so the Windows rules are tested on Linux.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { isInside } from './local-links';

export interface RefusedEntry {
  /** The pod's path of the entry (as the pod named it). */
  path: string;
  /** Why, in words. */
  reason: string;
}

const WINDOWS_RESERVED = /^(con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

/** Why `name` cannot be one file or folder name on `platform`, or undefined when it can. */
export function unsafeLocalName(name: string, platform: NodeJS.Platform = process.platform): string | undefined {
  if (name === '' || name === '.' || name === '..') return `"${name}" is not a file name`;
  if (name.includes('/') || name.includes('\0')) return 'it contains / or a NUL byte';
  if (platform !== 'win32') return undefined;
  if (name.includes('\\')) return 'it contains \\, a path separator on Windows';
  if (name.includes(':')) return 'it contains :, a drive or stream separator on Windows';
  if (/[<>"|?*\x00-\x1f]/.test(name)) return 'it contains a character Windows does not allow in names (< > " | ? * or a control character)';
  if (/[. ]$/.test(name)) return 'it ends with a dot or a space, which Windows drops';
  if (WINDOWS_RESERVED.test(name)) return `${name.split('.')[0].toUpperCase()} is a reserved device name on Windows`;
  return undefined;
}

/**
 * Checks local targets below `root` (the chosen folder, which must exist). Folders it has checked
 * are remembered for the guard's life (one download): the pod cannot create local links (links in
 * its archive are never recreated here), so what was inside stays inside.
 */
export class LocalPathGuard {
  private realRoot: Promise<string> | undefined;
  private readonly insideDirs = new Set<string>();

  constructor(
    readonly root: string,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

  /**
   * Why writing `rel` (relative to the root, `/`-separated, as the pod named it) is refused, or
   * undefined when it may be written. `kind` 'dir': the folder itself must be inside too.
   */
  async check(rel: string, kind: 'file' | 'dir'): Promise<string | undefined> {
    if (rel === '') return kind === 'dir' ? this.outside(this.root) : '"" is not a file name';
    const segments = rel.split('/');
    for (const s of segments) {
      const why = unsafeLocalName(s, this.platform);
      if (why) return `"${s}": ${why}`;
    }
    const target = path.join(this.root, ...segments);
    return this.outside(kind === 'dir' ? target : path.dirname(target));
  }

  /** Why `dir` (absolute, to be created if missing) leaves the root, or undefined. */
  private async outside(dir: string): Promise<string | undefined> {
    if (this.insideDirs.has(dir)) return undefined;
    // The root may not exist yet (it is created): its real path is its existing part's, plus the rest.
    this.realRoot ??= deepestExisting(this.root).then(async (e) => path.join(await fsp.realpath(e), path.relative(e, this.root)));
    const realRoot = await this.realRoot;
    // The deepest part that exists decides: what is missing will be created as plain folders there.
    const existing = await deepestExisting(dir);
    const realExisting = await fsp.realpath(existing).catch(() => undefined);
    const real = realExisting === undefined ? undefined : path.join(realExisting, path.relative(existing, dir));
    if (real === undefined || !isInside(realRoot, real)) {
      const shown = path.relative(this.root, existing) || '.';
      return `${shown} leads outside ${this.root}${real ? ` (to ${real})` : ''}; nothing is written through it`;
    }
    this.insideDirs.add(dir);
    return undefined;
  }
}

/** `p` or its nearest ancestor that exists (as anything, links included). */
async function deepestExisting(p: string): Promise<string> {
  let existing = p;
  for (;;) {
    if (
      await fsp.lstat(existing).then(
        () => true,
        () => false,
      )
    )
      return existing;
    const up = path.dirname(existing);
    if (up === existing) return existing;
    existing = up;
  }
}

/** "3 entries were not written: a (why); b (why); … and 1 more". */
export function describeRefused(refused: readonly RefusedEntry[], maxShown = 5): string {
  if (refused.length === 0) return '';
  const shown = refused
    .slice(0, maxShown)
    .map((r) => `${r.path} (${r.reason})`)
    .join('; ');
  const more = refused.length > maxShown ? `; … and ${refused.length - maxShown} more` : '';
  return `${refused.length} ${refused.length === 1 ? 'entry was' : 'entries were'} not written here: ${shown}${more}`;
}
