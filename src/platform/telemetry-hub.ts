import * as vscode from 'vscode';
import { isLivePod, type Pod } from '../kgpu/api/api-types';
import { formatDollarsPerHour, podRatePerHour } from '../kgpu/model/cost';
import {
  DEFAULT_IDLE_GUARD_MINUTES,
  FocusClock,
  formatGiB,
  formatGpuLines,
  formatGpuSummary,
  IdleGuard,
  idleGuardMessage,
  PodGpuWatch,
  telemetryMode,
  type GpuTelemetry,
  type IdleAnswer,
  type PeakTracker,
} from '../kgpu/telemetry';
import type { JobsHub } from './jobs-service';
import type { KgpuServices } from './services';

/**
 * Live GPU telemetry of the running rentals (issue 19): one nvidia-smi loop per pod through the
 * pod agent, only while a kgpu view is visible, a job of this window runs on the pod or something
 * holds the pod (hold(): the active notebook editor's kgpu kernel), and never
 * once the window has been unfocused for 10 minutes or while the idle guard's question is open
 * (telemetry-demand.ts); otherwise the idle guard samples a billed pod itself once a minute
 * (PodGpuWatch), so it judges the pod with no kgpu view open. Feeds the Rentals row
 * (`GPU 87% · 14.2/24 GiB`), the status-bar tooltip, the peak memory in a job's log footer, and
 * the idle guard ("<model> idle for 30 min at $x/h — Release · Keep · Remind me in 1 h";
 * kgpu.idleGuardMinutes, 0 = off).
 */
export class TelemetryHub implements vscode.Disposable {
  private readonly pods = new Map<string, { telemetry: GpuTelemetry; guard: IdleGuard; watch: PodGpuWatch }>();
  private readonly peaks = new Map<string, PeakTracker>();
  /** Holders per pod (hold()). */
  private readonly holds = new Map<string, number>();
  private disposed = false;
  private readonly emitter = new vscode.EventEmitter<string>();
  /** A pod's numbers changed (or its telemetry started/stopped). */
  readonly onDidChange = this.emitter.event;
  private readonly focus = new FocusClock(vscode.window.state.focused);
  private focusTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly disposables: vscode.Disposable[] = [this.emitter];

  constructor(private readonly services: KgpuServices) {
    // The job runner is followed once something created it (a run, a live pod's jobs listed): the
    // hub does not create it, so activation with no pods runs none of its code (issue 24).
    const follow = (hub: JobsHub): void => {
      this.disposables.push(
        hub.runner.onDidChange(() => this.update()),
        hub.runner.onDidEnd(() => this.update()),
      );
      this.update();
    };
    const created = services.jobsIfCreated;
    if (created) follow(created);
    this.disposables.push(
      ...(created ? [] : [services.onDidCreateJobs(follow)]),
      services.pods.onDidChange(() => this.update()),
      services.viewVisibility.onDidChange(() => this.update()),
      vscode.window.onDidChangeWindowState((s) => {
        this.focus.set(s.focused);
        this.update();
      }),
    );
    this.update();
  }

  /** `GPU 87% · 14.2/24 GiB` for a pod whose telemetry runs; undefined otherwise. */
  summary(podId: string): string | undefined {
    const latest = this.pods.get(podId)?.telemetry.latest;
    return latest ? formatGpuSummary(latest.gpus) : undefined;
  }

  /** A consumer outside the views wants a pod's numbers (the active notebook editor's kgpu
   *  kernel): the pod counts as in use for telemetryWanted until the hold is disposed. */
  hold(podId: string): vscode.Disposable {
    this.holds.set(podId, (this.holds.get(podId) ?? 0) + 1);
    this.update();
    let held = true;
    return new vscode.Disposable(() => {
      if (!held) return;
      held = false;
      const n = (this.holds.get(podId) ?? 1) - 1;
      if (n > 0) this.holds.set(podId, n);
      else this.holds.delete(podId);
      if (!this.disposed) this.update();
    });
  }

  /** One line per GPU. */
  lines(podId: string): string[] {
    const latest = this.pods.get(podId)?.telemetry.latest;
    return latest ? formatGpuLines(latest.gpus) : [];
  }

  /** `peak GPU memory 14.2/24 GiB` for a job whose run was watched, then forgotten. */
  takePeak(podId: string, jobId: string): string | undefined {
    const k = `${podId}/${jobId}`;
    const p = this.peaks.get(k);
    if (!p) return undefined;
    p.dispose();
    this.peaks.delete(k);
    return p.peakMiB !== undefined && p.totalMiB ? `peak GPU memory ${formatGiB(p.peakMiB, p.totalMiB)}` : undefined;
  }

  /** This window's running jobs (none while no job runner exists). */
  private runningJobs(): ReturnType<JobsHub['runner']['runningJobs']> {
    return this.services.jobsIfCreated?.runner.runningJobs() ?? [];
  }

  private minutes(): number {
    const v = vscode.workspace.getConfiguration('kgpu').get<number>('idleGuardMinutes', DEFAULT_IDLE_GUARD_MINUTES);
    return typeof v === 'number' && v >= 0 ? v : DEFAULT_IDLE_GUARD_MINUTES;
  }

  private update(): void {
    if (this.disposed) return;
    const running = this.runningJobs();
    const live = new Set(this.services.pods.pods.filter((p) => isLivePod(p) && p.phase === 'Running' && p.ready).map((p) => p.pod_id));
    for (const [podId, entry] of this.pods) {
      if (live.has(podId)) continue;
      entry.watch.dispose();
      this.pods.delete(podId);
      this.emitter.fire(podId);
    }
    for (const podId of live) {
      let entry = this.pods.get(podId);
      const jobRunning = running.some((j) => j.podId === podId);
      // Live numbers while a view shows them or a job runs; else the idle guard's own sample once a
      // minute, so a billed pod is judged with no kgpu view open (telemetry-demand.ts).
      const mode = telemetryMode({
        viewVisible: this.services.viewVisibility.anyVisible,
        jobRunning,
        inUse: this.holds.has(podId),
        unfocusedForMs: this.focus.unfocusedForMs,
        idleQuestionPending: entry?.guard.pending ?? false,
        idleGuardOn: this.minutes() > 0,
      });
      if (!entry && mode === 'off') continue;
      if (!entry) entry = this.create(podId);
      if (jobRunning) entry.guard.activity();
      if (entry.watch.mode !== mode) entry.watch.setMode(mode);
      // A running job's peak memory, for its log footer.
      for (const j of running) {
        const k = `${j.podId}/${j.info.id}`;
        if (j.podId === podId && !this.peaks.has(k)) this.peaks.set(k, entry.telemetry.trackPeak());
      }
      // Peaks of jobs whose footer never came (no panel): keep the newest 64.
      for (const [k, p] of this.peaks) {
        if (this.peaks.size <= 64) break;
        p.dispose();
        this.peaks.delete(k);
      }
    }
    // Re-judge when the 10-minute unfocused mark passes.
    if (this.focusTimer) clearTimeout(this.focusTimer);
    const left = this.focus.msUntilStop;
    this.focusTimer = left !== undefined ? setTimeout(() => this.update(), left + 50) : undefined;
    this.focusTimer?.unref?.();
  }

  private create(podId: string): { telemetry: GpuTelemetry; guard: IdleGuard; watch: PodGpuWatch } {
    const agent = this.services.connections.session(podId).agent;
    const watch = new PodGpuWatch({
      openStream: (t, o) => agent.openStream(t, o),
      minutes: () => this.minutes(),
      jobRunning: () => this.runningJobs().some((j) => j.podId === podId),
    });
    const entry = { telemetry: watch.live, guard: watch.guard, watch };
    watch.live.onDidSample(() => this.emitter.fire(podId));
    watch.live.onDidChangeRunning(() => this.emitter.fire(podId));
    watch.onDidAsk((at) => void this.ask(podId, watch.guard, at));
    this.pods.set(podId, entry);
    return entry;
  }

  private async ask(podId: string, guard: IdleGuard, at: number): Promise<void> {
    const pod: Pod | undefined = this.services.pods.get(podId);
    if (!pod) return;
    this.update(); // the question is open: telemetry stops until it is answered
    const rate = podRatePerHour(pod);
    const text = idleGuardMessage(
      `${pod.name} (${pod.gpu_model} × ${pod.gpu_count})`,
      at - (guard.idleSinceMs ?? at),
      rate !== undefined ? formatDollarsPerHour(rate) : undefined,
    );
    this.services.log.info(`Idle guard: ${text}.`);
    const release = vscode.l10n.t('Release');
    const keep = vscode.l10n.t('Keep');
    const remind = vscode.l10n.t('Remind me in 1 h');
    const choice = await vscode.window.showWarningMessage(vscode.l10n.t('kgpu: {0}.', text), release, keep, remind);
    const answer: IdleAnswer | undefined =
      choice === release ? 'release' : choice === remind ? 'remind' : choice === keep ? 'keep' : undefined;
    guard.answer(answer, Date.now());
    this.update();
    if (answer === 'release') {
      try {
        await vscode.commands.executeCommand('kgpu.release', podId); // the Release command (src/commands) asks and releases
      } catch (e) {
        this.services.showError(e, { prefix: vscode.l10n.t('Could not release {0}:', pod.name) });
      }
    }
  }

  /** Diagnostics and tests: whether the idle guard's question about a pod waits for an answer. */
  idleQuestionPending(podId: string): boolean {
    return this.pods.get(podId)?.guard.pending ?? false;
  }

  /** Diagnostics and tests: whether a pod's telemetry runs. */
  isRunning(podId: string): boolean {
    return this.pods.get(podId)?.telemetry.running ?? false;
  }

  dispose(): void {
    this.disposed = true;
    if (this.focusTimer) clearTimeout(this.focusTimer);
    for (const e of this.pods.values()) e.watch.dispose();
    this.pods.clear();
    for (const p of this.peaks.values()) p.dispose();
    this.peaks.clear();
    for (const d of this.disposables) d.dispose();
  }
}

const all = new WeakMap<KgpuServices, TelemetryHub>();

export function telemetryFor(services: KgpuServices): TelemetryHub {
  let hub = all.get(services);
  if (!hub) {
    hub = new TelemetryHub(services);
    all.set(services, hub);
    services.context.subscriptions.push(hub);
  }
  return hub;
}
