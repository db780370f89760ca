import * as vscode from 'vscode';
import { Auth } from './auth';
import { PodConnections } from './connections';
import type { KgpuClient } from '../kgpu/api/api-client';
import { KgpuApiError, isAbortError } from '../kgpu/api/api-error';
import type { Pod } from '../kgpu/api/api-types';
import { ErrorDeduplicator, errorMessage } from '../kgpu/api/error-dedup';
import { JsonFileHostKeyStore } from '../kgpu/ssh/host-keys';
import { PassphraseDeclinedError } from '../kgpu/ssh/passphrase-gate';
import { forgetHostKeyButton, hostKeyChanged } from './host-key-command';
import { RentalsModel, type RentalsApi } from '../kgpu/model/rentals-model';
import { editorProxySettings } from './proxy-settings';
import { createKgpuClient } from './lazy/rest-client';
import { pickPod, type PickPodOptions } from './pick-pod';
import { PodKeys } from './pod-keys';
import { RentalChildren } from './rental-children';
import { Settings } from './settings';
import { ViewVisibility } from './view-visibility';
import { PodIntents } from './pod-intents';
import { createJobsHub, type JobsHub } from './jobs-service';

/**
 * The services every contribution shares, created once in activate() and handed to each
 * `register…(services): vscode.Disposable`. Layers as in VS Code's git extension: process
 * (src/kgpu: REST client, SSH) → model (RentalsModel) → UI (views, status bar, commands).
 *
 *   context        the ExtensionContext (secrets, globalState, workspaceState, storage URIs)
 *   settings       typed kgpu.* settings; onDidChangeConnection when apiBase, sshHost, sshPort or the identity change
 *   auth           the account token (SecretStorage per apiBase, else $KGPU_API_TOKEN); onDidChange
 *   client()       the current KgpuClient (rebuilt when kgpu.apiBase changes; never cache it)
 *   pods           the rentals model: pods (newest first), get(podId), me, gpuModels, refresh(),
 *                  onDidChange, onDidChangePodState (ready | idle_warning | ended), onDidEndPod
 *                  ({pod, endReason}), upsert(pod) after an action
 *   podKeys        minted private keys per pod (SecretStorage) + kgpu.sshIdentityFile;
 *                  sshTarget(podId) → {host, port, user, privateKey, passphrase?}; onDidChange(podId)
 *   hostKeys       the bastions' pinned host keys (known-hosts.json in global storage, read on every use)
 *   connections    pod id → ONE PodConnector; get(podId); onDidReset({podId, reason: ended|key|settings})
 *                  — reconnect (or show the end reason) when it fires
 *   pickPod(arg, {ready|live, title})  pod id | tree element with pod/podId | kgpu:// Uri | QuickPick
 *   showError(e, {channel?, prefix?})   one notification per distinct failure per channel; a 401
 *                  signs out with ONE "Sign in again" prompt; aborts are ignored
 *   rentalChildren register({getChildren(pod), getTreeItem(child), onDidChange}) → rows under a rental
 *   viewVisibility which kgpu views are visible (polling pauses when none is)
 *   log            the "kgpu" LogOutputChannel — never log tokens or keys
 */
export interface KgpuServices extends vscode.Disposable {
  readonly context: vscode.ExtensionContext;
  readonly settings: Settings;
  readonly auth: Auth;
  client(): KgpuClient;
  readonly pods: RentalsModel;
  readonly podKeys: PodKeys;
  readonly hostKeys: JsonFileHostKeyStore;
  readonly connections: PodConnections;
  pickPod(arg: unknown, options?: PickPodOptions): Promise<Pod | undefined>;
  showError(error: unknown, options?: ShowErrorOptions): void;
  readonly rentalChildren: RentalChildren;
  readonly viewVisibility: ViewVisibility;
  /** What this window is doing to its pods (released here, awaiting ready): rent/release write it, refresh and the notices read it. */
  readonly podIntents: PodIntents;
  /** The window's one JobRunner and job picker, created on first use (a run, a live pod's jobs listed, a job command). */
  readonly jobs: JobsHub;
  /** The jobs hub if something created it; code that only reacts to jobs (telemetry, notices) uses this, not `jobs`. */
  readonly jobsIfCreated: JobsHub | undefined;
  /** Fires once, when `jobs` is first created. */
  readonly onDidCreateJobs: vscode.Event<JobsHub>;
  readonly log: vscode.LogOutputChannel;
  /** Resolves once the stored token is loaded and the first refresh finished (tests, e2e). */
  readonly ready: Promise<void>;
}

export interface ShowErrorOptions {
  /** Deduplicate within this channel (e.g. "refresh"): the same failure is shown once until `succeeded(channel)`. */
  channel?: string;
  /** Prepended to the message, e.g. "Could not release gpu-rent-…:". */
  prefix?: string;
}

const HIDDEN_PODS_KEY = 'kgpu.hiddenPods';
const enterPassphraseButton = (): string => vscode.l10n.t('Enter Passphrase…');

/** An error and its causes. */
function causes(e: unknown): unknown[] {
  const out: unknown[] = [];
  for (let c: unknown = e; c !== undefined && out.length < 6; c = c instanceof Error ? c.cause : undefined) out.push(c);
  return out;
}

class Services implements KgpuServices {
  readonly settings: Settings;
  readonly auth: Auth;
  readonly pods: RentalsModel;
  readonly podKeys: PodKeys;
  readonly hostKeys: JsonFileHostKeyStore;
  readonly connections: PodConnections;
  readonly rentalChildren = new RentalChildren();
  readonly viewVisibility = new ViewVisibility();
  readonly podIntents = new PodIntents();
  private jobsHub: JobsHub | undefined;
  private readonly jobsCreated = new vscode.EventEmitter<JobsHub>();
  readonly onDidCreateJobs = this.jobsCreated.event;
  get jobs(): JobsHub {
    if (!this.jobsHub) {
      this.jobsHub = createJobsHub(this);
      this.jobsCreated.fire(this.jobsHub);
    }
    return this.jobsHub;
  }
  get jobsIfCreated(): JobsHub | undefined {
    return this.jobsHub;
  }
  readonly log: vscode.LogOutputChannel;
  readonly ready: Promise<void>;
  private current: KgpuClient | undefined;
  private currentProxyKey: string | undefined;
  private readonly dedup = new ErrorDeduplicator();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(readonly context: vscode.ExtensionContext) {
    this.log = vscode.window.createOutputChannel('kgpu', { log: true });
    this.settings = new Settings(process.env, context.globalState);
    this.auth = new Auth(context.secrets, this.settings);
    const workspaceState = context.workspaceState;
    this.pods = new RentalsModel(() => ({ api: this.rentalsApi(), signedIn: this.auth.signedIn }), {
      get: () => workspaceState.get<string[]>(HIDDEN_PODS_KEY, []),
      set: (ids) => workspaceState.update(HIDDEN_PODS_KEY, ids),
    });
    this.podKeys = new PodKeys(context.secrets, context.globalState, this.settings);
    this.hostKeys = new JsonFileHostKeyStore(vscode.Uri.joinPath(context.globalStorageUri, 'known-hosts.json').fsPath);
    this.connections = new PodConnections(this.podKeys, this.pods, this.settings, this.hostKeys);
    this.disposables.push(
      this.log,
      this.jobsCreated,
      this.settings,
      this.auth,
      this.pods,
      this.podKeys,
      this.connections,
      this.rentalChildren,
      this.viewVisibility,
      this.pods.onDidFail((f) => this.showError(f.error, { channel: 'refresh' })),
      // The key of an ended pod is useless (the bastion refuses it): drop it and its temp file.
      this.pods.onDidEndPod((e) => void this.podKeys.forget(e.pod.pod_id)),
      this.pods.onDidChange(() => {
        if (!this.pods.lastError && this.dedup.succeeded('refresh')) this.log.info('kgpu is reachable again.');
      }),
      this.auth.onDidChange((s) => {
        this.log.info(
          `Account: ${s.signedIn ? `signed in (token from ${s.source === 'stored' ? 'secret storage' : '$KGPU_API_TOKEN'})` : s.rejected ? 'token rejected' : 'signed out'}.`,
        );
        this.dedup.clear();
        this.pods.reset();
        void this.pods.refresh();
      }),
      this.settings.onDidChangeConnection(() => {
        this.log.info(
          `Settings changed: API ${this.settings.get().apiBase}, SSH ${this.settings.get().sshHost}:${this.settings.get().sshPort}.`,
        );
        this.dedup.clear();
        this.pods.reset();
        void this.pods.refresh();
      }),
    );
    this.ready = this.auth
      .reload()
      .then(() => this.pods.refresh())
      .then(() => {
        const live = new Set(this.pods.livePods.map((p) => p.pod_id));
        if (this.auth.signedIn && !this.pods.lastError) return this.podKeys.pruneExcept(live);
      })
      .catch((e: unknown) => this.log.error(`Start-up: ${errorMessage(e)}`));
  }

  client(): KgpuClient {
    const apiBase = this.settings.get().apiBase;
    const proxy = editorProxySettings();
    const proxyKey = JSON.stringify(proxy);
    if (this.current?.apiBase !== apiBase || this.currentProxyKey !== proxyKey) {
      this.current?.dispose();
      this.currentProxyKey = proxyKey;
      this.current = createKgpuClient({ apiBase, getToken: async () => this.auth.token(), proxy });
    }
    return this.current;
  }

  private rentalsApi(): RentalsApi {
    const c = this.client();
    return {
      listPods: () => c.listPods(),
      getPod: (id) => c.getPod(id),
      me: () => c.getMe(),
      gpuModels: () => c.listGpuModels(),
    };
  }

  pickPod(arg: unknown, options?: PickPodOptions): Promise<Pod | undefined> {
    return pickPod(this.pods, arg, options);
  }

  showError(error: unknown, options: ShowErrorOptions = {}): void {
    if (isAbortError(error)) return;
    if (error instanceof KgpuApiError && error.status === 401) {
      this.log.warn(error.userMessage);
      if (this.auth.markRejected(this.auth.token())) {
        void vscode.window
          .showWarningMessage(
            error.requestId
              ? vscode.l10n.t(
                  'kgpu: your token was not accepted (invalid, reissued on the dashboard, or the account is not approved yet) — request {0}.',
                  error.requestId,
                )
              : vscode.l10n.t(
                  'kgpu: your token was not accepted (invalid, reissued on the dashboard, or the account is not approved yet).',
                ),
            vscode.l10n.t('Sign in again'),
          )
          .then((a) => a && vscode.commands.executeCommand('kgpu.signIn'));
      }
      return;
    }
    const text = `${options.prefix ? options.prefix + ' ' : ''}${errorMessage(error)}`;
    if (options.channel && !this.dedup.shouldShow(options.channel, error)) {
      this.log.debug(`(repeated) ${text}`);
      return;
    }
    this.log.error(text);
    // A changed bastion host key: the way back is one click away (it shows both keys and asks).
    const hostKey = hostKeyChanged(error);
    // A cancelled passphrase: nothing asks again by itself; this is the way to.
    const passphrase = causes(error).some((c) => c instanceof PassphraseDeclinedError);
    const FORGET_HOST_KEY = forgetHostKeyButton();
    const ENTER_PASSPHRASE = enterPassphraseButton();
    const SHOW_LOG = vscode.l10n.t('Show Log');
    const actions = [...(hostKey ? [FORGET_HOST_KEY] : []), ...(passphrase ? [ENTER_PASSPHRASE] : []), SHOW_LOG];
    void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: {0}', text), ...actions).then((a) => {
      if (a === SHOW_LOG) this.log.show();
      if (a === FORGET_HOST_KEY && hostKey) void vscode.commands.executeCommand('kgpu.forgetHostKey', { hostPort: hostKey.hostPort });
      if (a === ENTER_PASSPHRASE) void this.podKeys.unlockIdentity();
    });
  }

  dispose(): void {
    this.current?.dispose();
    for (const d of this.disposables.reverse()) d.dispose();
  }
}

export function createServices(context: vscode.ExtensionContext): KgpuServices {
  return new Services(context);
}
