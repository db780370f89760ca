/**
 * Copy inside the pod (`cp -a` over exec, never a download/upload): into a hidden temp name
 * beside the target, then moved over it, so a failed copy leaves the target as it was.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { PodConnector } from '../ssh/ssh-connection';
import { exec } from '../ssh/ssh-exec';
import { quote } from '../util/shell-quote';
import { tempSiblingName } from '../util/temp-name';
import { fsError } from './workspace-fs-error';

const posix = path.posix;

/** Copy `from` over `to` in the pod (a folder at `to` is replaced); fails with the pod's message. */
export async function copyInPod(connector: PodConnector, podId: string, from: string, to: string): Promise<void> {
  const tmp = posix.join(posix.dirname(to), tempSiblingName(posix.basename(to), `.kgpu-copy-${randomBytes(6).toString('hex')}`));
  const script = [
    `s=${quote(from)}; d=${quote(to)}; t=${quote(tmp)}`,
    'cp -a -- "$s" "$t" || { r=$?; rm -rf -- "$t"; exit $r; }',
    'if [ -d "$d" ] && [ ! -L "$d" ]; then rm -rf -- "$d" || { rm -rf -- "$t"; exit 1; }; fi',
    'mv -f -T -- "$t" "$d" || { r=$?; rm -rf -- "$t"; exit $r; }',
  ].join('\n');
  const r = await exec(connector, script);
  if (r.exitCode !== 0) {
    throw fsError(
      'Other',
      podId,
      to,
      `Copying ${from} in the pod failed: ${r.stderr.toString('utf8').trim() || `exit ${r.exitCode ?? r.signal}`}.`,
    );
  }
}
