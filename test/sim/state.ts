/**
 * The simulator's one shared state: accounts and tokens, the fleet's free GPUs, pods and their
 * lifecycle (cold start, billing per simulated minute, idle clock, endings), the SSH key pinned to
 * each rental. The REST layer reads and changes it; the bastion asks it (BastionDirectory).
 * New accounts and token authentication: accounts.ts; bringing a rented pod up: pod-startup.ts.
 */
import { randomBytes } from 'node:crypto';
import { ApiError } from './api-error';
import type { SimClockImpl } from './clock';
import type { BastionDirectory, EndReason, PodHandle } from './contracts';
import { DEFAULT_IMAGE } from './fleet';
import { GpuNodes } from './gpu-nodes';
import { newPodId } from './ids';
import { LIMITS, type RentSpec } from './pod-spec';
import { startPod } from './pod-startup';
import { podView, sshAccessView } from './pod-view';
import { assertRentable } from './rent-rules';
import { mintKeyPair } from './ssh-keys';
import { charge, checkIdle } from './rental-clock';
import { DiskEvictions } from './disk-evictions';
import {
  defaultFinalPhase,
  MINUTE,
  roundCredits as round,
  type Account,
  type PodRecord,
  type Principal,
  type SshAccessOut,
  type StateOptions,
} from './state-records';
import { hashToken, newAccountToken, PodTokenSigner } from './tokens';
import { authenticate, newAccount } from './accounts';

// The records, constants and options live in state-records.ts; importing them from here keeps working.
export * from './state-records';

export class SimState implements BastionDirectory {
  readonly accounts = new Map<string, Account>();
  readonly pods = new Map<string, PodRecord>();
  readonly primary: Account;
  private primaryToken: string;
  private readonly fingerprints = new Map<string, string>();
  private readonly nodes: GpuNodes;
  private readonly signer = new PodTokenSigner(randomBytes(32));
  private readonly images: Set<string>;
  private readonly clock: SimClockImpl;
  private readonly disks = new DiskEvictions(
    () => this.pods.values(),
    (pod, reason) => this.end(pod, reason),
  );

  constructor(private readonly o: StateOptions) {
    this.clock = o.clock;
    this.nodes = new GpuNodes(o.fleet, () => this.pods.values());
    this.images = new Set([DEFAULT_IMAGE, ...o.fleet.images]);
    const { account, token } = this.addAccount({
      credits: o.credits,
      name: 'Sim Researcher',
      email: 'researcher@sim.kgpu.test',
      token: o.initialToken,
    });
    this.primary = account;
    this.primaryToken = token;
  }

  /** The primary account's current token. */
  get token(): string {
    return this.primaryToken;
  }

  // ── accounts & tokens ────────────────────────────────────────────────────────────────────

  /** Another account (tests: "another user's pod"). */
  addAccount(o: { credits?: number; name?: string; email?: string; role?: Account['role']; token?: string } = {}): {
    account: Account;
    token: string;
  } {
    const { account, token } = newAccount(this.accounts.size + 1, o, this.o.credits);
    this.accounts.set(account.user_id, account);
    return { account, token };
  }

  /** Revoke the account's token and mint a new one (the dashboard's Reissue). */
  reissueToken(account: Account = this.primary): string {
    const token = newAccountToken();
    account.tokenHash = hashToken(token, account.salt);
    if (account === this.primary) this.primaryToken = token;
    return token;
  }

  /** Who a bearer token is, or why not. */
  authenticate(token: string): Principal | { error: string; message: string } {
    return authenticate(token, this.accounts, this.pods, this.signer);
  }

  // ── fleet ──────────────────────────────────────────────────────────────────────────────

  gpuModels(): { gpu_model: string; total: number; free: number; price_per_hour_credits: number }[] {
    return this.nodes.gpuModels();
  }

  cluster(): { hostname: string; gpu_model: string; total: number; busy: number; free: number; pods: number }[] {
    return this.nodes.cluster();
  }

  freeGpus(model: string): number {
    return this.nodes.freeGpus(model);
  }

  modelNames(): string[] {
    return this.nodes.modelNames();
  }

  gpusInUse(account: Account): number {
    return [...this.pods.values()].filter((p) => p.owner === account.user_id && p.ended_at === null).reduce((s, p) => s + p.gpu_count, 0);
  }

  // ── pods ───────────────────────────────────────────────────────────────────────────────

  podsOf(account: Account): PodRecord[] {
    return [...this.pods.values()]
      .filter((p) => p.owner === account.user_id)
      .sort((a, b) => b.created_at - a.created_at || (b.pod_id < a.pod_id ? -1 : 1));
  }

  rent(account: Account, spec: RentSpec): { pod: PodRecord; sshAccess: SshAccessOut; balanceAfter: number } {
    const model = this.o.fleet.models.find((m) => m.gpu_model === spec.gpu_model)!;
    const perHour = model.price_per_hour_credits * Math.max(1, spec.gpu_count);
    const perMinute = perHour / 60;
    assertRentable({
      spec,
      balance: account.credits,
      perHour,
      perMinute,
      keyTaken: spec.fingerprint !== null && this.fingerprints.has(spec.fingerprint),
      inUse: this.gpusInUse(account),
      free: this.freeGpus(spec.gpu_model),
    });
    const now = this.clock.now();
    let podId = newPodId(spec.name, now);
    while (this.pods.has(podId)) podId = newPodId(spec.name, now);
    const minted = spec.fingerprint === null ? mintKeyPair(`kgpu-${podId}`) : undefined;
    const fingerprint = spec.fingerprint ?? minted!.fingerprint;
    const goodImage = this.images.has(spec.image);
    const pod: PodRecord = {
      pod_id: podId,
      owner: account.user_id,
      name: spec.name,
      image: spec.image,
      gpu_model: spec.gpu_model,
      gpu_count: spec.gpu_count,
      cpu: spec.cpu,
      memory: spec.memory,
      ephemeral_storage_gib: spec.ephemeral_storage_gib,
      diskLimitBytes: spec.ephemeral_storage_gib * (this.o.diskBytesPerGib ?? 2 ** 30),
      env: spec.env,
      price_per_hour_credits: perHour,
      price_per_gpu_hour_credits: model.price_per_hour_credits,
      phase: 'Pending',
      ready: false,
      pending_reason: goodImage ? 'starting' : `ImagePullBackOff: Back-off pulling image "${spec.image}": not found`,
      created_at: now,
      ready_at: null,
      ended_at: null,
      end_reason: null,
      last_activity_at: now,
      idle_warning: false,
      credits_spent: 0,
      refunded_credits: 0,
      fingerprint,
      podToken: this.signer.mint(podId),
      allocation: this.nodes.allocate(spec.gpu_model, spec.gpu_count),
      handle: undefined,
      creating: undefined,
      coldStartDone: false,
      timers: [],
      billTimer: undefined,
      teardown: undefined,
    };
    this.pods.set(podId, pod);
    this.fingerprints.set(fingerprint, podId);
    // Per-minute billing, in advance: the first minute now, then one per simulated minute.
    charge(account, pod, perMinute);
    const balanceAfter = round(account.credits);
    this.scheduleMinute(pod, 1);
    startPod(pod, goodImage, this.o, (p, reason, phase) => this.end(p, reason, phase));
    return { pod, sshAccess: this.sshAccess(fingerprint, minted?.privateKey), balanceAfter };
  }

  /** PATCH /pods/{id}: pin a new key (or mint one); the old fingerprint stops routing at once. */
  rotateKey(pod: PodRecord, fingerprint: string | null): SshAccessOut {
    if (pod.ended_at !== null)
      throw new ApiError(409, 'pod_ended', `rental ${pod.pod_id} has ended (${pod.end_reason}); there is no key to rotate`);
    const minted = fingerprint === null ? mintKeyPair(`kgpu-${pod.pod_id}`) : undefined;
    const fp = fingerprint ?? minted!.fingerprint;
    const other = this.fingerprints.get(fp);
    if (other !== undefined && other !== pod.pod_id) {
      throw new ApiError(409, 'duplicate_key', 'this public key is already pinned to another live rental; use a distinct key per rental', {
        field: 'ssh_pubkey',
      });
    }
    this.fingerprints.delete(pod.fingerprint);
    pod.fingerprint = fp;
    this.fingerprints.set(fp, pod.pod_id);
    return this.sshAccess(fp, minted?.privateKey);
  }

  /**
   * End a rental for `reason`: Terminating at once (ended_at/end_reason set, GPUs freed, key
   * unpinned, SSH connections closed), then Ended (or Failed) when its processes and disk are gone.
   * Idempotent; resolves when the teardown is complete.
   */
  end(pod: PodRecord, reason: EndReason, finalPhase: 'Ended' | 'Failed' = defaultFinalPhase(reason)): Promise<void> {
    if (pod.teardown) return pod.teardown;
    const now = this.clock.now();
    pod.ended_at = now;
    pod.end_reason = reason;
    pod.phase = 'Terminating';
    pod.ready = false;
    pod.pending_reason = null;
    pod.idle_warning = false;
    for (const t of pod.timers) t.cancel();
    pod.timers = [];
    pod.billTimer?.cancel();
    pod.billTimer = undefined;
    this.nodes.free(pod);
    if (this.fingerprints.get(pod.fingerprint) === pod.pod_id) this.fingerprints.delete(pod.fingerprint);
    if (reason.startsWith('start_failed:')) {
      const account = this.accounts.get(pod.owner)!;
      account.credits += pod.credits_spent;
      pod.refunded_credits = pod.credits_spent;
      pod.credits_spent = 0;
    }
    try {
      this.o.bastion()?.closePod(pod.pod_id);
    } catch {
      /* the bastion is shutting down */
    }
    pod.teardown = (async () => {
      try {
        await pod.creating;
      } catch {
        /* creation failed: nothing to destroy */
      }
      try {
        await pod.handle?.destroy();
      } catch (e) {
        console.error(`kgpu-sim: destroying ${pod.pod_id} failed: ${(e as Error).message}`);
      }
      pod.phase = finalPhase;
    })();
    return pod.teardown;
  }

  /** End every live pod (simulator shutdown, out of credits). */
  async endAll(reason: EndReason, account?: Account): Promise<void> {
    const live = [...this.pods.values()].filter((p) => p.ended_at === null && (!account || p.owner === account.user_id));
    await Promise.all(live.map((p) => this.end(p, reason)));
  }

  /** Every pending teardown (tests: wait for Ended). */
  async settled(): Promise<void> {
    await Promise.all([...this.pods.values()].map((p) => p.teardown ?? p.creating?.catch(() => undefined)));
  }

  /**
   * The kubelet's eviction check: a live pod whose disk (/workspace + /tmp) holds more than its
   * ephemeral_storage_gib ends with `evicted_by_kubelet:OutOfephemeral-storage` (disk-evictions.ts).
   */
  checkDisks(o: { ifIdle?: boolean } = {}): Promise<void> {
    return this.disks.check(o);
  }

  // ── BastionDirectory ───────────────────────────────────────────────────────────────────

  podForFingerprint(fingerprint: string): { podId: string; handle: PodHandle } | undefined {
    const id = this.fingerprints.get(fingerprint);
    const pod = id ? this.pods.get(id) : undefined;
    if (!pod || pod.ended_at !== null || !pod.ready || !pod.handle) return undefined;
    return { podId: pod.pod_id, handle: pod.handle };
  }

  noteSshActivity(podId: string): void {
    const pod = this.pods.get(podId);
    if (!pod || pod.ended_at !== null) return;
    pod.last_activity_at = this.clock.now();
    pod.idle_warning = false;
  }

  // ── views ──────────────────────────────────────────────────────────────────────────────

  podView(pod: PodRecord): Record<string, unknown> {
    return podView(pod, this.clock.now(), this.o.bastion());
  }

  sshAccess(fingerprint: string, privateKey?: string): SshAccessOut {
    return sshAccessView(fingerprint, privateKey, this.o.bastion());
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────

  private scheduleMinute(pod: PodRecord, n: number): void {
    pod.billTimer = this.clock.at(pod.created_at + n * MINUTE, () => this.minuteTick(pod, n));
  }

  /** Once per simulated minute of a rental: bill it, then look at its idle clock. */
  private async minuteTick(pod: PodRecord, n: number): Promise<void> {
    if (pod.ended_at !== null) return;
    const account = this.accounts.get(pod.owner)!;
    const paid = charge(account, pod, pod.price_per_hour_credits / 60);
    if (!paid) {
      await this.endAll('out_of_credits', account);
      return;
    }
    this.scheduleMinute(pod, n + 1);
    await checkIdle(
      pod,
      () => this.clock.now(),
      (p, reason) => this.end(p, reason),
    );
  }

  /** For tests: credit or debit an account (a maintainer's top-up). */
  topUp(account: Account, credits: number): void {
    account.credits += credits;
  }

  static readonly limits = LIMITS;
}
