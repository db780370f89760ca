// The sample project a user would open: test/e2e/sample-project/ copied into a scratch folder.
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export const SAMPLE_PROJECT = new URL('../sample-project', import.meta.url).pathname;

/** Copies the sample project to `dir` (kept as is when it already exists and `overwrite` is false). */
export function createSampleProject(dir, { overwrite = true } = {}) {
  if (overwrite || !existsSync(join(dir, 'train.py'))) cpSync(SAMPLE_PROJECT, dir, { recursive: true, force: overwrite });
  return dir;
}
