/**
 * "Try the simulator" is a developer feature: the simulator lives in this repository's test/sim/ and
 * runs on this machine. It is offered only where it can be reached — the extension runs from a
 * checkout (development/test mode, or test/sim/ next to it), or kgpu.apiBase / $KGPU_API_BASE
 * already points at this machine — never to every installed user.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { isLoopbackHost } from '../model/setting-resolution';

export interface SimulatorOfferInputs {
  /** The extension is not running as an installed extension (vscode.ExtensionMode.Production). */
  developmentMode: boolean;
  extensionPath: string;
  apiBase: string;
  envApiBase?: string;
}

function loopbackBase(base: string | undefined): boolean {
  if (!base) return false;
  try {
    return isLoopbackHost(new URL(base).hostname);
  } catch {
    return false;
  }
}

export function simulatorReachable(i: SimulatorOfferInputs): boolean {
  return (
    i.developmentMode ||
    existsSync(path.join(i.extensionPath, 'test', 'sim', 'cli.ts')) ||
    loopbackBase(i.apiBase) ||
    loopbackBase(i.envApiBase)
  );
}
