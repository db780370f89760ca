/**
 * A run's start, gated on its environment: the start command runs only when the environment's
 * marker is there (it rides on the sync's exec as always — no extra round trip once installed);
 * else it exits DEPS_MISSING_EXIT having started nothing, and the runner installs, then starts.
 */
import { quote } from '../util/shell-quote';
import type { DepsPlan } from './plan';

/** The marker pod/deps.py writes last into a ready environment. */
export const DEPS_MARKER = '.kgpu-deps.json';
export const DEPS_MISSING_EXIT = 97;
const MISSING_LINE = 'KGPU-DEPS missing';

/** `line` (a start command) run only when the plan's environment is ready. The marker is touched
 *  first (its "last used" time: pod/deps.py does not remove an environment used in the last
 *  minutes, nor one that is gone by the time of the check — then this run installs it anew). */
export function gateStart(line: string, plan: DepsPlan): string {
  const marker = quote(`${plan.venvDir}/${DEPS_MARKER}`);
  return `touch -c ${marker} 2>/dev/null; if [ -f ${marker} ]; then\n${line}\nelse echo '${MISSING_LINE}' >&2; exit ${DEPS_MISSING_EXIT}; fi`;
}

/** True when a gated start did not run for want of the environment. */
export function depsMissing(r: { exitCode: number | null; stderr: string }): boolean {
  return r.exitCode === DEPS_MISSING_EXIT && r.stderr.includes(MISSING_LINE);
}
