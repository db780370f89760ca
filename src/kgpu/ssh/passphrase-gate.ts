/**
 * Passphrases of `kgpu.sshIdentityFile` keys, asked once per session and kept in memory only.
 * Background work (job polling, file watching, spare connections) connects without the user
 * asking: after the user cancelled the prompt, nothing asks again until they act (`allowAgain`,
 * from a command they ran or the notification's "Enter Passphrase…"), and connections made at
 * the same moment share one prompt instead of stacking input boxes.
 */
import { KgpuError } from '../util/kgpu-error';

export class PassphraseDeclinedError extends KgpuError {
  constructor(readonly file: string) {
    super(
      'ssh',
      'passphrase_declined',
      `No passphrase given for ${file}; kgpu will not ask again until you choose "Enter Passphrase…" or run a kgpu command that connects to the pod.`,
    );
  }
}

export class PassphraseGate {
  private readonly known = new Map<string, string>();
  private readonly declined = new Set<string>();
  private readonly asking = new Map<string, Promise<string>>();

  /** The passphrase for `file`: remembered, or asked with `prompt` (undefined = cancelled). */
  get(file: string, prompt: () => Promise<string | undefined>): Promise<string> {
    const known = this.known.get(file);
    if (known !== undefined) return Promise.resolve(known);
    if (this.declined.has(file)) return Promise.reject(new PassphraseDeclinedError(file));
    let p = this.asking.get(file);
    if (!p) {
      p = prompt().then((entered) => {
        if (entered === undefined) {
          this.declined.add(file);
          throw new PassphraseDeclinedError(file);
        }
        this.known.set(file, entered);
        return entered;
      });
      const asked = p;
      this.asking.set(file, asked);
      void asked.then(
        () => this.asking.delete(file),
        () => this.asking.delete(file),
      );
    }
    return p;
  }

  /** The user acted: the next connection may ask again (all files when none is named). */
  allowAgain(file?: string): void {
    if (file === undefined) this.declined.clear();
    else this.declined.delete(file);
  }

  /** Whether asking for `file` is on hold after a cancel. */
  isDeclined(file: string): boolean {
    return this.declined.has(file);
  }

  clear(): void {
    this.known.clear();
    this.declined.clear();
  }
}
