/**
 * The `ssh` command line for a pod, as the contract shows it: `ssh -p PORT kgpu@HOST`, with
 * `-i <key file> -o IdentitiesOnly=yes` when a specific key must be used. Arguments are quoted for
 * a POSIX shell.
 */
import { quote } from '../util/shell-quote';

export interface SshCommandInput {
  host: string;
  port: number;
  user?: string;
  /** Private key file to pass with -i (the minted key's temp file or kgpu.sshIdentityFile). */
  identityFile?: string;
}

export function sshCommand(i: SshCommandInput): string {
  const parts = ['ssh'];
  if (i.port !== 22) parts.push('-p', String(i.port));
  if (i.identityFile) parts.push('-i', quote(i.identityFile), '-o', 'IdentitiesOnly=yes');
  parts.push(quote(`${i.user ?? 'kgpu'}@${i.host}`));
  return parts.join(' ');
}
