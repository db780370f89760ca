import * as vscode from 'vscode';
import type { EndReason, Pod } from '../kgpu/api/api-types';
import { describeEndReason } from '../kgpu/model/end-reason';
import { errorMessage } from '../kgpu/api/error-dedup';
import { isJobEnded, type JobInfo, type JobStatus } from '../kgpu/jobs/job-status';
import { crlf, jobDurationMs, logFooter, logHeader, runCost, TerminalText } from '../kgpu/jobs/job-log-text';
import type { LogStream } from '../kgpu/jobs/job-runner';
import { describeRankFailure, RankLog } from '../kgpu/launch/rank-log';
import { torchrunRanks } from '../kgpu/launch/torchrun';
import type { FollowLogResult } from '../kgpu/jobs/log-follow';
import { SshAbortedError } from '../kgpu/ssh/ssh-errors';
import { decodeCommandArgs, optionsOf } from './command-args';
import { jobsFor } from './jobs-service';
import { addJobLogPanel, jobLogFooterExtras, jobLogPanelFor, jobLogPanelsOf, removeJobLogPanel } from './job-log-panels';
import { priceTable } from './price-table';
import type { KgpuServices } from './services';

/**
 * A job's log panel: a terminal backed by a `Pseudoterminal`, so ANSI colours and `\r` progress
 * bars render as they would locally. A header (pod, GPU, command, start time), the log as it
 * streams (from byte 0 for a new run), and a footer (exit code or signal, duration, credits and
 * dollars spent during the run). Closing the panel stops following, never the job.
 *
 * `kgpu: Show Job Log` reopens a job's log from the start or only new output. Argument: a job row
 * (`{podId, jobId}`) or options `{podId, jobId, from: 'start' | 'end', reveal?: boolean}`.
 */
const MAX_KEPT = 1024 * 1024;

export class JobLogPanel implements vscode.Disposable {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<number | void>();
  private readonly text = new TerminalText();
  private buffer: string[] | undefined = [];
  private stream: LogStream | undefined;
  private closed = false;
  private finished = false;
  /** The last ~1 MiB written, for `written` (tests, the e2e suite): pieces, trimmed now and then. */
  private transcript: string[] = [];
  private transcriptChars = 0;
  private bufferedChars = 0;
  /** A torchrun job's log (src/kgpu/launch/rank-log.ts): a rank prefix per line, a filter. */
  private ranks: RankLog | undefined;
  private headerText = '';
  readonly terminal: vscode.Terminal;

  constructor(
    readonly podId: string,
    readonly jobId: string,
    name: string,
    show: boolean,
  ) {
    const pty: vscode.Pseudoterminal = {
      onDidWrite: this.writeEmitter.event,
      onDidClose: this.closeEmitter.event,
      open: () => {
        const pending = this.buffer ?? [];
        this.buffer = undefined;
        for (const t of pending) this.writeEmitter.fire(t);
      },
      close: () => this.dispose(),
      // Enter/keys do nothing: the job's stdin is /dev/null.
      handleInput: () => undefined,
    };
    this.terminal = vscode.window.createTerminal({ name, pty, iconPath: new vscode.ThemeIcon('play-circle'), isTransient: true });
    addJobLogPanel(this);
    if (show) this.terminal.show(true);
  }

  /** Open panels of a job. */
  static panelsOf(podId: string, jobId: string): JobLogPanel[] {
    // Only JobLogPanels register (the constructor above).
    return jobLogPanelsOf(podId, jobId) as JobLogPanel[];
  }

  /** The open panel shown in a terminal (the active one for a command; the traceback link provider, src/links/). */
  static forTerminal(terminal: vscode.Terminal | undefined): JobLogPanel | undefined {
    return jobLogPanelFor(terminal) as JobLogPanel | undefined;
  }

  /** The text written to the panel (about the last 1 MiB). */
  get written(): string {
    return this.transcript.join('');
  }

  get isFinished(): boolean {
    return this.finished;
  }

  private emit(text: string): void {
    if (this.closed || !text) return;
    this.transcript.push(text);
    this.transcriptChars += text.length;
    if (this.transcriptChars > 2 * MAX_KEPT) {
      const kept = this.transcript.join('').slice(-MAX_KEPT);
      this.transcript = [kept];
      this.transcriptChars = kept.length;
    }
    if (!this.buffer) {
      this.writeEmitter.fire(text);
      return;
    }
    // Not opened yet (a panel not shown): keep the newest output, bounded.
    this.buffer.push(text);
    this.bufferedChars += text.length;
    if (this.bufferedChars > 2 * MAX_KEPT) {
      const kept = this.buffer.join('').slice(-MAX_KEPT);
      this.buffer = ['\x1b[2m[kgpu] … earlier output not shown (Show Job Log → From the Start for all of it)\x1b[0m\r\n', kept];
      this.bufferedChars = kept.length;
    }
  }

  attach(stream: LogStream): void {
    this.stream = stream;
  }

  header(pod: Pod | undefined, job: Pick<JobInfo, 'command' | 'cwd'> & { startedAt: number }, fromOffset = 0): void {
    const ranks = torchrunRanks(job.command);
    if (ranks && !this.ranks) this.ranks = new RankLog(ranks);
    this.emit(
      (this.headerText = logHeader({
        jobId: this.jobId,
        podId: this.podId,
        podName: pod?.name,
        gpu: pod ? `${pod.gpu_model} × ${pod.gpu_count}` : undefined,
        command: job.command,
        cwd: job.cwd,
        startedAt: job.startedAt,
        fromOffset,
      })),
    );
  }

  /** A torchrun job's log: its ranks (undefined for other jobs). */
  get rankLog(): RankLog | undefined {
    return this.ranks;
  }

  /** Show only one rank's lines (undefined: all), redrawn from what the panel kept. */
  filterRank(rank: number | undefined): void {
    if (!this.ranks) return;
    const what = rank === undefined ? 'all ranks' : `rank ${rank} only`;
    this.emit(
      `\x1b[2J\x1b[3J\x1b[H${this.headerText}\x1b[2m[kgpu] showing ${what} (kgpu: Filter Log by Rank… to change)\x1b[0m\r\n${this.ranks.setFilter(rank)}`,
    );
  }

  private get atLineStart(): boolean {
    return this.ranks ? this.ranks.atLineStart : this.text.atLineStart;
  }

  private endText(): string {
    return this.ranks ? this.ranks.end() + this.ranks.closeLine() : this.text.end();
  }

  /** A dim line of our own (sync progress, reconnects). */
  note(text: string): void {
    const lead = this.ranks ? this.ranks.closeLine() : this.text.atLineStart ? '' : '\r\n';
    this.emit(`${lead}\x1b[2m${crlf(text)}\x1b[0m\r\n`);
  }

  write(chunk: Buffer): void {
    this.emit(this.ranks ? this.ranks.push(chunk) : this.text.push(chunk));
  }

  /** The footer, once the job has ended and its log is drained. */
  finish(result: FollowLogResult, pod: Pod | undefined, prices?: ReadonlyMap<string, number>): void {
    if (this.finished) return;
    this.finished = true;
    this.emit(this.endText());
    const duration = jobDurationMs(result.job);
    const cost = pod && duration !== undefined ? runCost(pod, duration, prices) : undefined;
    const failed = this.ranks?.failure();
    const extra = jobLogFooterExtras(this.podId, this.jobId);
    this.emit(
      logFooter({
        status: result.job.status,
        durationMs: duration,
        cost,
        extra,
        newlineFirst: !this.atLineStart,
        rankFailure: failed && describeRankFailure(failed),
      }),
    );
  }

  /** The job ended without its log being drained (its pod ended): the footer with the status. */
  ended(status: JobStatus, podEndReason?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.emit(this.endText());
    if (podEndReason) this.note(`[kgpu] the pod ended: ${describeEndReason(podEndReason as EndReason).label}`);
    this.emit(logFooter({ status, newlineFirst: !this.atLineStart }));
  }

  fail(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    if (error instanceof SshAbortedError) return;
    const lead = this.ranks ? this.ranks.closeLine() : this.text.atLineStart ? '' : '\r\n';
    this.emit(`${lead}\x1b[31m[kgpu] ${crlf(errorMessage(error))}\x1b[0m\r\n`);
  }

  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    // The job goes on; only the follow stops.
    this.stream?.close();
    removeJobLogPanel(this);
    this.writeEmitter.dispose();
    this.closeEmitter.dispose();
  }
}

export function panelName(name: string, startedAt: number): string {
  const d = new Date(startedAt);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `kgpu: ${name} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export interface ShowJobLogOptions {
  podId?: string;
  jobId?: string;
  /** 'start': the whole log; 'end': only new output; 'stored': where the last panel stopped. */
  from?: 'start' | 'end' | 'stored';
  /** Show an open panel of the job instead of opening another one. */
  reveal?: boolean;
  /** Bring the panel to the front (default true). */
  show?: boolean;
}

/** Open a panel following a job's log. */
export function openJobLog(
  services: KgpuServices,
  podId: string,
  job: JobInfo,
  from: 'start' | 'end' | 'stored' | number,
  show = true,
): JobLogPanel {
  const jobs = jobsFor(services);
  const panel = new JobLogPanel(podId, job.id, panelName(job.name, job.startedAt ?? job.createdAt), show);
  const pod = services.pods.get(podId);
  const stream = jobs.runner.openLog(podId, job.id, {
    from: from === 'start' ? 0 : from,
    onData: (chunk) => panel.write(chunk),
    onReconnect: (r) => panel.note(`[kgpu] connection lost (${r.error.message}); resuming the log at byte ${r.offset}…`),
  });
  panel.attach(stream);
  const startOffset = typeof from === 'number' ? from : from === 'start' ? 0 : undefined;
  panel.header(pod, { command: job.command, cwd: job.cwd, startedAt: job.startedAt ?? job.createdAt }, startOffset);
  if (from === 'end')
    panel.note(
      isJobEnded(job.status) ? '(the job has ended; showing only output written from now on — none)' : '(showing only new output)',
    );
  stream.done.then(
    (r) => panel.finish(r, services.pods.get(podId) ?? pod, priceTable(services)),
    (e: unknown) => panel.fail(e),
  );
  return panel;
}

export function registerJobLogCommands(services: KgpuServices): vscode.Disposable {
  return vscode.commands.registerCommand('kgpu.showJobLog', async (arg?: unknown) => {
    services.podKeys.allowPassphrasePrompt(); // the user asked: a cancelled passphrase may be asked for again
    const args = decodeCommandArgs(arg);
    const o = optionsOf(args) as ShowJobLogOptions;
    const jobs = jobsFor(services);
    const picked =
      args.kind === 'job'
        ? { podId: args.podId, jobId: args.jobId }
        : await jobs.pickJob({ title: vscode.l10n.t('Show the log of which job?') });
    if (!picked) return undefined;
    let tracked = jobs.runner.get(picked.podId, picked.jobId);
    if (!tracked) {
      try {
        await jobs.runner.refresh(picked.podId);
      } catch (e) {
        services.showError(e, { prefix: vscode.l10n.t('Could not read the jobs of the pod:') });
        return undefined;
      }
      tracked = jobs.runner.get(picked.podId, picked.jobId);
    }
    if (!tracked) {
      void vscode.window.showErrorMessage(vscode.l10n.t('kgpu: there is no job {0} on pod {1}.', picked.jobId, picked.podId));
      return undefined;
    }
    if (o.reveal) {
      const open = JobLogPanel.panelsOf(picked.podId, picked.jobId)[0];
      if (open) {
        open.terminal.show(true);
        return open.terminal.name;
      }
    }
    let from = o.from;
    if (!from) {
      const choice = await vscode.window.showQuickPick(
        [
          {
            label: `$(debug-restart) ${vscode.l10n.t('From the Start')}`,
            description: vscode.l10n.t('the whole log'),
            from: 'start' as const,
          },
          {
            label: `$(arrow-down) ${vscode.l10n.t('Only New Output')}`,
            description: isJobEnded(tracked.info.status)
              ? vscode.l10n.t('the job has ended')
              : vscode.l10n.t('what the job prints from now on'),
            from: 'end' as const,
          },
        ],
        { title: vscode.l10n.t('Show the log of {0}', tracked.info.name), placeHolder: vscode.l10n.t('Where should the log start?') },
      );
      if (!choice) return undefined;
      from = choice.from;
    }
    for (const p of JobLogPanel.panelsOf(picked.podId, picked.jobId)) p.terminal.dispose();
    const panel = openJobLog(services, picked.podId, tracked.info, from, o.show ?? true);
    return panel.terminal.name;
  });
}
