import * as vscode from 'vscode';
import type { PodConnector } from '../kgpu/ssh/ssh-connection';
import type { HostKeyStore } from '../kgpu/ssh/host-keys';
import type { RentalsModel } from '../kgpu/model/rentals-model';
import type { PodKeys } from './pod-keys';
import type { Settings } from './settings';
import { createPodConnector } from './lazy/ssh';
import { sshProxyFor } from './proxy-settings';

/**
 * Routes a pod id to ONE PodConnector (like vscode-sshfs routes a URI authority to one file
 * system). Every feature (file system, terminal, jobs) asks here instead of building its own, so
 * a key rotation or the end of a pod closes all of that pod's connections at once:
 * - the pod ends → its connector is disposed and `onDidReset` fires (users show the end reason);
 * - its key is rotated/forgotten, or kgpu.sshHost/sshPort/identity change → disposed, and the
 *   next `get()` builds a new one with the new key (users reconnect on `onDidReset`).
 */
export interface ConnectionReset {
  podId: string;
  /** 'ended': the pod is gone; 'key': the key changed; 'settings': where/how we connect changed. */
  reason: 'ended' | 'key' | 'settings';
}

export class PodConnections implements vscode.Disposable {
  private readonly connectors = new Map<string, Promise<PodConnector>>();
  private readonly emitter = new vscode.EventEmitter<ConnectionReset>();
  /** A pod's connector was disposed; open channels were closed. */
  readonly onDidReset = this.emitter.event;
  private readonly disposables: vscode.Disposable[] = [this.emitter];

  constructor(
    private readonly podKeys: PodKeys,
    private readonly pods: RentalsModel,
    settings: Settings,
    private readonly hostKeys: HostKeyStore,
  ) {
    this.disposables.push(
      pods.onDidEndPod((e) => this.reset(e.pod.pod_id, 'ended')),
      podKeys.onDidChange((podId) => this.reset(podId, 'key')),
      settings.onDidChangeConnection(() => {
        for (const podId of [...this.connectors.keys()]) this.reset(podId, 'settings');
      }),
    );
  }

  /** The pod's connector (created on first use with the pod's key). Call `connect()` on it per channel. */
  get(podId: string): Promise<PodConnector> {
    const known = this.pods.get(podId);
    if (known && known.phase !== 'Pending' && known.phase !== 'Running') {
      return Promise.reject(new Error(`Pod ${podId} has ended; it can no longer be reached.`));
    }
    let c = this.connectors.get(podId);
    if (!c) {
      c = this.podKeys.sshTarget(podId).then(
        // 2 spare connections (closed 45 s after the last use, so they never keep the pod's idle
        // clock running): a run's follower and its sync+start each find one ready.
        (t) =>
          createPodConnector({
            host: t.host,
            port: t.port,
            user: t.user,
            privateKey: t.privateKey,
            agent: t.agent,
            passphrase: t.passphrase,
            hostKeys: this.hostKeys,
            spareConnections: 2,
            httpProxy: sshProxyFor(t.host, t.port),
          }),
      );
      this.connectors.set(podId, c);
      // A failure (no key yet, passphrase cancelled) must not be cached.
      c.catch(() => {
        if (this.connectors.get(podId) === c) this.connectors.delete(podId);
      });
    }
    return c;
  }

  /** Dispose the pod's connector now (closing its connections) and tell its users. */
  reset(podId: string, reason: ConnectionReset['reason']): void {
    const c = this.connectors.get(podId);
    this.connectors.delete(podId);
    if (c)
      void c.then(
        (connector) => connector.dispose(),
        () => undefined,
      );
    this.emitter.fire({ podId, reason });
  }

  dispose(): void {
    for (const c of this.connectors.values())
      void c.then(
        (connector) => connector.dispose(),
        () => undefined,
      );
    this.connectors.clear();
    for (const d of this.disposables) d.dispose();
  }
}
