/**
 * The host key a bastion presents now, read without authenticating: the SSH handshake is stopped
 * at host-key verification, before any user name or key is offered. "kgpu: Forget Bastion Host
 * Key…" shows it next to the pinned one so the user can compare before trusting it.
 */
import net from 'node:net';
import { Client } from 'ssh2';
import { sshFingerprint } from './host-keys';
import { BastionUnreachableError } from './ssh-errors';

export function probeHostKey(host: string, port: number, options: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const client = new Client();
    let seen: string | undefined;
    let settled = false;
    const done = (err?: Error): void => {
      if (settled) return;
      settled = true;
      client.destroy();
      if (seen) resolve(seen);
      else reject(err ?? new BastionUnreachableError(host, port, 'it closed the connection before showing its host key'));
    };
    client.on('error', (e: Error & { code?: string }) =>
      done(seen ? undefined : new BastionUnreachableError(host, port, e.code ?? e.message, { cause: e })),
    );
    client.on('close', () => done());
    client.on('ready', () => done()); // never: verification always refuses
    const sock = net.connect({ host, port, noDelay: true });
    try {
      client.connect({
        sock,
        username: 'kgpu',
        readyTimeout: options.timeoutMs ?? 15_000,
        tryKeyboard: false,
        hostVerifier: (key: Buffer) => {
          seen = sshFingerprint(key);
          // Refuse: the handshake ends here, nothing is authenticated or sent.
          setImmediate(() => done());
          return false;
        },
      });
    } catch (e) {
      sock.destroy();
      done(e instanceof Error ? e : new Error(String(e)));
    }
  });
}
