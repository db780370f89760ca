import * as vscode from 'vscode';
import type { PodConnector } from '../kgpu/ssh/ssh-connection';
import type { PodSession } from '../kgpu/ssh/pod-session';
import type { HostKeyStore } from '../kgpu/ssh/host-keys';
import type { RentalsModel } from '../kgpu/model/rentals-model';
import type { PodKeys } from './pod-keys';
import type { Settings } from './settings';
import { createPodConnector } from './lazy/ssh';
import { sshProxyFor } from './proxy-settings';

type PodSessionModule = typeof import('../kgpu/ssh/pod-session');
let podSession: PodSessionModule | undefined;

/**
 * Routes a pod id to ONE PodSession (like vscode-sshfs routes a URI authority to one file system):
 * the pod's connector, exec, agent and retry policy. Every feature (file system, terminal, jobs,
 * ports, notebooks, debugging) asks here instead of building its own, so a key rotation or the end
 * of a pod closes all of that pod's connections at once:
 * - the pod ends → its session is disposed and `onDidReset` fires (users show the end reason);
 * - its key is rotated/forgotten, or kgpu.sshHost/sshPort/identity change → its connections and
 *   agent are closed, and the next use connects with the new key (users reconnect on `onDidReset`).
 */
export interface ConnectionReset {
  podId: string;
  /** 'ended': the pod is gone; 'key': the key changed; 'settings': where/how we connect changed. */
  reason: 'ended' | 'key' | 'settings';
}

export class PodConnections implements vscode.Disposable {
  private readonly sessions = new Map<string, PodSession>();
  private readonly emitter = new vscode.EventEmitter<ConnectionReset>();
  /** A pod's connections were closed (its session reset or, when it ended, disposed). */
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
        for (const podId of [...this.sessions.keys()]) this.reset(podId, 'settings');
      }),
    );
  }

  /**
   * The pod's session (src/kgpu/ssh/pod-session.ts): its connector, exec, agent and retry policy,
   * one per pod for the window. Throws for a pod known to have ended.
   */
  session(podId: string): PodSession {
    this.assertLive(podId);
    let s = this.sessions.get(podId);
    if (!s || s.isDisposed) {
      // Loaded when a pod is first reached, not at activation: the session brings the agent client,
      // SFTP and the bulk transfers (dist/features.js — see esbuild.mjs).
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
      podSession ??= require('../kgpu/ssh/pod-session') as PodSessionModule;
      s = new podSession.PodSession({ podId, createConnector: () => this.createConnector(podId) });
      this.sessions.set(podId, s);
    }
    return s;
  }

  /** The pod's connector (created on first use with the pod's key). Call `connect()` on it per channel. */
  get(podId: string): Promise<PodConnector> {
    try {
      return this.session(podId).connector();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private assertLive(podId: string): void {
    const known = this.pods.get(podId);
    if (known && known.phase !== 'Pending' && known.phase !== 'Running') {
      throw new Error(`Pod ${podId} has ended; it can no longer be reached.`);
    }
  }

  private async createConnector(podId: string): Promise<PodConnector> {
    const t = await this.podKeys.sshTarget(podId);
    // 2 spare connections (closed 45 s after the last use, so they never keep the pod's idle
    // clock running): a run's follower and its sync+start each find one ready.
    return createPodConnector({
      host: t.host,
      port: t.port,
      user: t.user,
      privateKey: t.privateKey,
      agent: t.agent,
      passphrase: t.passphrase,
      hostKeys: this.hostKeys,
      spareConnections: 2,
      httpProxy: sshProxyFor(t.host, t.port),
    });
  }

  /** Close the pod's connections now (disposing its session when the pod ended) and tell its users. */
  reset(podId: string, reason: ConnectionReset['reason']): void {
    const s = this.sessions.get(podId);
    if (s) {
      if (reason === 'ended') {
        this.sessions.delete(podId);
        s.dispose();
      } else {
        s.resetConnections();
      }
    }
    this.emitter.fire({ podId, reason });
  }

  dispose(): void {
    for (const s of this.sessions.values()) s.dispose();
    this.sessions.clear();
    for (const d of this.disposables) d.dispose();
  }
}
