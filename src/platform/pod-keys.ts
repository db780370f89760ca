import { sshAgentSocket } from '../kgpu/net/ssh-agent';
import * as vscode from 'vscode';
import { promises as fsp, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseSshKey } from './lazy/ssh';
import { createTempKeyDir, removeStaleTempKeyDirs } from '../kgpu/ssh/temp-key-files';
import { PassphraseGate } from '../kgpu/ssh/passphrase-gate';
import type { Settings } from './settings';

/**
 * The SSH keys of rentals. A key the server minted (rent or rotate without `ssh_pubkey`) is kept in
 * SecretStorage for its pod and never written to disk — except on request for an external tool
 * (`ssh -i`), then in a 0600 file in a private temp folder removed when the pod's key is forgotten
 * or the extension deactivates (and, after a crash, at the next start: temp-key-files.ts). Otherwise the `kgpu.sshIdentityFile` key pair is used: its `.pub`
 * is pinned on rent; its private half is read when connecting (a passphrase is asked once per
 * session and kept in memory only).
 */
export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** Never log it. Undefined when an SSH agent holds the key (`agent`). */
  privateKey?: string;
  passphrase?: string;
  /** ssh-agent's socket (or "pageant" on Windows): used when no key of ours is known (src/kgpu/net/ssh-agent.ts). */
  agent?: string;
  /** Where the key came from, for messages: the minted key of the pod, the identity file path, or 'agent'. */
  keySource: 'minted' | 'agent' | string;
}

export interface IdentityPublicKey {
  /** The private key file (kgpu.sshIdentityFile, ~ expanded). */
  privateKeyPath: string;
  /** One-line OpenSSH public key from `<file>.pub`. */
  publicKey: string;
}

const SECRET_PREFIX = 'kgpu.podKey:';
const INDEX_KEY = 'kgpu.podKeyIds';

export class PodKeys implements vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<string>();
  /** Fires with the pod id whose key was stored (rent, rotate) or forgotten. */
  readonly onDidChange = this.emitter.event;
  /** Passphrases asked once per session, in memory only; not asked again after a cancel until the user acts. */
  private readonly passphrases = new PassphraseGate();
  private tempDir: string | undefined;
  private readonly tempFiles = new Map<string, string>();

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly globalState: vscode.Memento,
    private readonly settings: Settings,
  ) {
    // Temp key files of windows that crashed (they could not remove their own) go now — right
    // after activation, not in its way.
    setImmediate(() => {
      try {
        removeStaleTempKeyDirs();
      } catch {
        /* best effort: an unreadable temp folder is not a reason to fail */
      }
    });
  }

  /** Keep the server-minted private key of a pod (replaces and thereby forgets the previous one). */
  async storeMinted(podId: string, privateKey: string): Promise<void> {
    await this.secrets.store(SECRET_PREFIX + podId, privateKey);
    const ids = new Set(this.globalState.get<string[]>(INDEX_KEY, []));
    ids.add(podId);
    await this.globalState.update(INDEX_KEY, [...ids]);
    this.removeTempFile(podId);
    this.emitter.fire(podId);
  }

  async mintedKey(podId: string): Promise<string | undefined> {
    return (await this.secrets.get(SECRET_PREFIX + podId)) || undefined;
  }

  async hasMintedKey(podId: string): Promise<boolean> {
    return (await this.mintedKey(podId)) !== undefined;
  }

  /** Forget a pod's minted key and its temp file (the pod ended, or the key was rotated to the identity file). */
  async forget(podId: string): Promise<void> {
    const had = await this.hasMintedKey(podId);
    await this.secrets.delete(SECRET_PREFIX + podId);
    const ids = this.globalState.get<string[]>(INDEX_KEY, []).filter((id) => id !== podId);
    await this.globalState.update(INDEX_KEY, ids);
    this.removeTempFile(podId);
    if (had) this.emitter.fire(podId);
  }

  /** Forget the keys of every pod not in `livePodIds` (ended while VS Code was closed). */
  async pruneExcept(livePodIds: ReadonlySet<string>): Promise<void> {
    for (const id of this.globalState.get<string[]>(INDEX_KEY, [])) if (!livePodIds.has(id)) await this.forget(id);
  }

  /** The identity file's public key to pin on rent/rotate, or undefined when kgpu.sshIdentityFile is empty. */
  async identityPublicKey(): Promise<IdentityPublicKey | undefined> {
    const file = this.identityFile();
    if (!file) return undefined;
    const pubPath = `${file}.pub`;
    let text: string;
    try {
      text = await fsp.readFile(pubPath, 'utf8');
    } catch (e) {
      throw new Error(
        vscode.l10n.t(
          'Cannot read the public key {0} for kgpu.sshIdentityFile ({1}). Create it with `ssh-keygen -y -f {2} > {0}`, or clear the setting to let kgpu mint a key.',
          pubPath,
          (e as NodeJS.ErrnoException).code ?? (e as Error).message,
          file,
        ),
        { cause: e },
      );
    }
    const line = text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l && !l.startsWith('#'));
    if (!line || !/^(ssh-|ecdsa-|sk-)/.test(line)) throw new Error(`${pubPath} does not hold an OpenSSH public key.`);
    return { privateKeyPath: file, publicKey: line };
  }

  /** How to reach a pod over the bastion: its minted key when we hold one, else the identity file. */
  async sshTarget(podId: string): Promise<SshTarget> {
    const s = this.settings.get();
    const base = { host: s.sshHost, port: s.sshPort, user: 'kgpu' };
    const minted = await this.mintedKey(podId);
    if (minted) return { ...base, privateKey: minted, keySource: 'minted' };
    const file = this.identityFile();
    if (!file) {
      // Rented elsewhere (the dashboard, another machine) with a key your SSH agent holds.
      const agent = sshAgentSocket();
      if (agent) return { ...base, agent, keySource: 'agent' };
      throw new Error(
        vscode.l10n.t(
          'No SSH key for pod {0}: it was rented elsewhere or its minted key was lost. Run "kgpu: Rotate SSH Key" to get a new one, set kgpu.sshIdentityFile, or start ssh-agent with the key.',
          podId,
        ),
      );
    }
    let privateKey: string;
    try {
      privateKey = await fsp.readFile(file, 'utf8');
    } catch (e) {
      throw new Error(
        vscode.l10n.t(
          'Cannot read kgpu.sshIdentityFile {0} ({1}). Fix the setting or clear it to use minted keys.',
          file,
          (e as NodeJS.ErrnoException).code ?? (e as Error).message,
        ),
        { cause: e },
      );
    }
    const passphrase = await this.passphraseFor(file, privateKey);
    return { ...base, privateKey, passphrase, keySource: file };
  }

  /** A 0600 file holding the pod's minted key, for `ssh -i` (removed on forget/rotate/dispose). */
  async writeTempKeyFile(podId: string): Promise<string> {
    const existing = this.tempFiles.get(podId);
    if (existing) return existing;
    const key = await this.mintedKey(podId);
    if (!key) throw new Error(`No minted key is stored for pod ${podId}.`);
    this.tempDir ??= createTempKeyDir();
    const file = path.join(this.tempDir, `${podId.replace(/[^A-Za-z0-9._-]/g, '_')}.key`);
    await fsp.writeFile(file, key.endsWith('\n') ? key : key + '\n', { mode: 0o600 });
    this.tempFiles.set(podId, file);
    return file;
  }

  private removeTempFile(podId: string): void {
    const file = this.tempFiles.get(podId);
    if (!file) return;
    this.tempFiles.delete(podId);
    rmSync(file, { force: true });
  }

  private identityFile(): string | undefined {
    const f = this.settings.get().sshIdentityFile;
    if (!f) return undefined;
    return f === '~' || f.startsWith('~/') ? path.join(os.homedir(), f.slice(1)) : path.resolve(f);
  }

  private async passphraseFor(file: string, privateKey: string): Promise<string | undefined> {
    const parsed = parseSshKey(privateKey);
    if (!(parsed instanceof Error)) {
      // ssh2 parses public keys too: a .pub file here would only fail later, at connect time.
      if (!parsed.isPrivateKey()) {
        throw new Error(
          vscode.l10n.t(
            'kgpu.sshIdentityFile {0} holds a public key, not a private key. Point the setting at the private key (the file without .pub, e.g. ~/.ssh/id_ed25519), or clear it to let kgpu mint a key.',
            file,
          ),
        );
      }
      return undefined;
    }
    if (!/passphrase/i.test(parsed.message)) throw new Error(`kgpu.sshIdentityFile ${file} is not a usable private key: ${parsed.message}`);
    // Background connections (job polling, file watches) come here too: after a cancel nothing
    // asks again until the user acts (allowPassphrasePrompt), and simultaneous ones share one prompt.
    return this.passphrases.get(file, async () =>
      vscode.window.showInputBox({
        title: vscode.l10n.t('kgpu: SSH key passphrase'),
        prompt: vscode.l10n.t('Passphrase for {0} (kept in memory for this session only)', file),
        password: true,
        ignoreFocusOut: true,
        validateInput: (v) => (parseSshKey(privateKey, v) instanceof Error ? vscode.l10n.t('Wrong passphrase') : undefined),
      }),
    );
  }

  /** The user asked for something that connects (a command, "Enter Passphrase…"): a passphrase
   *  they cancelled before may be asked for again. */
  allowPassphrasePrompt(): void {
    this.passphrases.allowAgain();
  }

  /** "Enter Passphrase…": ask now for the identity file's passphrase. True when it is known after. */
  async unlockIdentity(): Promise<boolean> {
    this.passphrases.allowAgain();
    const file = this.identityFile();
    if (!file) return false;
    const privateKey = await fsp.readFile(file, 'utf8');
    return await this.passphraseFor(file, privateKey).then(
      () => true,
      () => false,
    );
  }

  dispose(): void {
    this.emitter.dispose();
    this.passphrases.clear();
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
    this.tempFiles.clear();
  }
}
