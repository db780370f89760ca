/**
 * Commands in a pod through the system's OpenSSH client (`ssh`), for bulk copies: OpenSSH's C
 * crypto and packet loop cost less CPU per byte than ssh2's (issue 25: measured in
 * test/bench/transfer.ts), which is what limits a copy on a busy machine.
 *
 * Never weaker than our own connection:
 * - the host key is pinned: a known_hosts file holding only the key our connector verified against
 *   its pin (HostKeyAlias, StrictHostKeyChecking=yes, no global file, UpdateHostKeys=no);
 * - nothing of the user's configuration applies (`-F none`), BatchMode (never a prompt), no
 *   forwarding of any kind, no ControlMaster, no proxy or local command;
 * - the key is the connector's: written to a 0600 file in a private 0700 folder
 *   (temp-key-files.ts: a crashed window's folder is removed on the next start) and removed on
 *   dispose, or the connector's agent socket. A key with a passphrase, Pageant, or an HTTP proxy
 *   are not served here (`unavailableReason`): the caller keeps ssh2 for those.
 * The key is never printed or logged (only the file's path is on ssh's command line).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Disposable } from '../util/emitter';
import type { PodConnector } from './ssh-connection';
import type { ExecStream, ExitStatus } from './ssh-exec';
import { ConnectionLostError, SshAbortedError, SshError } from './ssh-errors';
import { createTempKeyDir } from './temp-key-files';

/** The name the bastion's key is filed under in our known_hosts (whatever host and port). */
const HOST_ALIAS = 'kgpu-bastion';

/** The first executable `ssh` on PATH, or undefined. */
export function findSsh(pathEnv: string | undefined = process.env.PATH): string | undefined {
  for (const dir of (pathEnv ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, 'ssh');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** Why OpenSSH cannot stand in for this connector's connection, or undefined when it can. */
export function unavailableReason(connector: PodConnector): string | undefined {
  const { target, viaHttpProxy } = connector.clientTarget;
  if (viaHttpProxy) return 'the bastion is reached through an HTTP proxy';
  if (target.privateKey !== undefined && target.passphrase) return 'the key has a passphrase';
  if (target.privateKey === undefined && (!target.agent || target.agent === 'pageant')) return 'no key file or agent socket to hand over';
  return undefined;
}

/** The key type named inside an SSH wire-format public key blob ("ssh-ed25519", …). */
export function hostKeyType(blob: Buffer): string {
  if (blob.length < 4) throw new SshError('The bastion host key is malformed.');
  const n = blob.readUInt32BE(0);
  if (n < 1 || n > 64 || 4 + n > blob.length) throw new SshError('The bastion host key is malformed.');
  return blob.subarray(4, 4 + n).toString('latin1');
}

/** The signature algorithms that authenticate a host key of this type. */
function hostKeyAlgorithms(type: string): string {
  return type === 'ssh-rsa' ? 'rsa-sha2-512,rsa-sha2-256,ssh-rsa' : type;
}

/** The command was cancelled or the connection lost, as ssh (exit 255) reports it. */
export class OpensshConnectionError extends ConnectionLostError {
  constructor(
    what: string,
    readonly stderr: string,
  ) {
    super(`${what} (OpenSSH: ${stderr.split('\n').filter(Boolean).slice(-2).join('; ') || 'exit 255'})`);
  }
}

export interface OpensshExecOptions {
  /** The ssh program (default: findSsh()). */
  sshPath?: string;
  /** Where the private folder is made (default: the OS temp folder). */
  tmpRoot?: string;
}

export class OpensshExec implements Disposable {
  private dir: string | undefined;
  private readonly children = new Set<ChildProcess>();
  private disposed = false;

  constructor(
    private readonly connector: PodConnector,
    private readonly sshPath: string,
    private readonly options: OpensshExecOptions = {},
  ) {}

  /** ssh processes still running (for tests and diagnostics). */
  get running(): number {
    return this.children.size;
  }

  /** The private folder with the key and known_hosts files, while there is one (for tests). */
  get privateDir(): string | undefined {
    return this.dir;
  }

  /** The ssh argv for `command` (files written on first use). The connector must have connected once. */
  args(command: string): string[] {
    if (this.disposed) throw new SshError('The OpenSSH client for the pod was disposed.');
    const { target, hostKey } = this.connector.clientTarget;
    if (!hostKey) throw new SshError('The bastion host key is not verified yet: connect once with the connector first.');
    const reason = unavailableReason(this.connector);
    if (reason) throw new SshError(`OpenSSH cannot be used for this pod: ${reason}.`);
    this.dir ??= createTempKeyDir(this.options.tmpRoot);
    const type = hostKeyType(hostKey);
    const knownHosts = path.join(this.dir, 'known_hosts');
    fs.writeFileSync(knownHosts, `${HOST_ALIAS} ${type} ${hostKey.toString('base64')}\n`, { mode: 0o600 });
    const auth: string[] = [];
    if (target.privateKey !== undefined) {
      const keyFile = path.join(this.dir, 'id');
      if (!fs.existsSync(keyFile)) {
        const k = Buffer.from(target.privateKey);
        fs.writeFileSync(keyFile, k.at(-1) === 0x0a ? k : Buffer.concat([k, Buffer.from('\n')]), { mode: 0o600, flag: 'wx' });
      }
      auth.push('-i', keyFile, '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none');
    } else {
      auth.push('-o', `IdentityAgent=${target.agent}`);
    }
    const o = (kv: string): string[] => ['-o', kv];
    return [
      '-F',
      'none',
      '-T',
      '-x',
      '-a',
      '-e',
      'none',
      ...o('BatchMode=yes'),
      ...o('StrictHostKeyChecking=yes'),
      ...o(`UserKnownHostsFile=${knownHosts}`),
      ...o('GlobalKnownHostsFile=none'),
      ...o(`HostKeyAlias=${HOST_ALIAS}`),
      ...o(`HostKeyAlgorithms=${hostKeyAlgorithms(type)}`),
      ...o('UpdateHostKeys=no'),
      ...o('CheckHostIP=no'),
      ...o('PasswordAuthentication=no'),
      ...o('KbdInteractiveAuthentication=no'),
      ...o('ControlMaster=no'),
      ...o('ControlPath=none'),
      ...o('ClearAllForwardings=yes'),
      ...o('PermitLocalCommand=no'),
      ...o('ProxyCommand=none'),
      ...o('ConnectTimeout=20'),
      ...o('ServerAliveInterval=15'),
      ...o('ServerAliveCountMax=3'),
      ...o('LogLevel=ERROR'),
      ...auth,
      '-p',
      String(target.port),
      '-l',
      target.user ?? 'kgpu',
      '--',
      target.host,
      command,
    ];
  }

  /**
   * Run `command` (the pod's `sh -c`, as over ssh2) with its stdio streamed, like ssh-exec's
   * execStream: `done` resolves with the exit status, rejects with OpensshConnectionError when ssh
   * itself failed (exit 255: unreachable, refused, host key, connection lost) and SshAbortedError on
   * abort; `close()` ends ssh, which hangs the command up in the pod.
   */
  execStream(command: string, options: { signal?: AbortSignal } = {}): ExecStream {
    const { signal } = options;
    if (signal?.aborted) throw new SshAbortedError(`Running ${JSON.stringify(command.split('\n')[0].slice(0, 40))}`);
    const argv = this.args(command);
    const child = spawn(this.sshPath, argv, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    });
    this.children.add(child);
    // ssh gone while we write: reported by `done`, never an unhandled EPIPE.
    child.stdin.on('error', () => undefined);
    let stderrTail = '';
    child.stderr.on('data', (b: Buffer) => {
      stderrTail = (stderrTail + b.toString('utf8')).slice(-2048);
    });
    let aborted = false;
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    };
    const onAbort = (): void => {
      aborted = true;
      kill();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = new Promise<ExitStatus>((resolve, reject) => {
      child.once('error', (e) => {
        this.children.delete(child);
        signal?.removeEventListener('abort', onAbort);
        reject(new SshError(`Cannot start ${this.sshPath}: ${e.message}`, { cause: e }));
      });
      child.once('close', (code, sig) => {
        this.children.delete(child);
        signal?.removeEventListener('abort', onAbort);
        if (aborted) reject(new SshAbortedError('The command in the pod'));
        else if (code === 255 || sig !== null) reject(new OpensshConnectionError('a command over OpenSSH', stderrTail.trim()));
        else resolve({ exitCode: code, signal: null });
      });
    });
    return { stdout: child.stdout, stderr: child.stderr, stdin: child.stdin, done, close: kill };
  }

  /** End every ssh still running and remove the private folder (key and known_hosts). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
