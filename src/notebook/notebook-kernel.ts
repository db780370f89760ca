import path from 'node:path';
import * as vscode from 'vscode';
import { AgentOpenError } from '../kgpu/agent';
import type { Pod } from '../kgpu/api/api-types';
import { endReasonSentence } from '../kgpu/model/end-reason';
import { errorMessage } from '../kgpu/api/error-dedup';
import { projectPython } from '../kgpu/deps';
import {
  fallbackMessage,
  kernelIdFor,
  kernelPythonArgv,
  KernelSession,
  startKernel,
  type KernelHello,
  type KernelRecord,
} from '../kgpu/notebook';
import type { PodCommands } from '../kgpu/ssh/pod-commands';
import { syncUp } from '../kgpu/transfer/sync';
import type { EndReason } from '../kgpu/api/api-types';
import type { KgpuServices } from '../platform/services';
import { podFilePython } from '../platform/pod-target-python';
import { toNotebookOutput } from './cell-output-items';
import { endRun, newRun, renderRun, scheduleRender, sourceHash, taggedCell, type CellRun, type Tag } from './cell-run';
import { kernelPlace, type KernelPlace } from './kernel-place';

export { kernelPlace, type KernelPlace } from './kernel-place';

/**
 * One notebook's kernel in a pod, as the controller drives it: connect (sync, start or find the
 * kernel, attach), execute cells (each a NotebookCellExecution fed from the kernel's records),
 * interrupt, restart, shut down; runs a reloaded window finds in the kernel are adopted by their
 * cell (tag: index and source hash) and rebuilt from their first output.
 */
export class NotebookKernel implements vscode.Disposable {
  private session: KernelSession | undefined;
  private connecting: Promise<KernelSession> | undefined;
  private readonly runs = new Map<string, CellRun>();
  private readonly subscriptions: vscode.Disposable[] = [];
  private disposed = false;
  status = 'disconnected';
  private readonly statusEmitter = new vscode.EventEmitter<string>();
  readonly onDidChangeStatus = this.statusEmitter.event;

  constructor(
    private readonly services: KgpuServices,
    readonly controller: vscode.NotebookController,
    readonly notebook: vscode.NotebookDocument,
    readonly pod: Pod,
  ) {}

  /** Sync, start (or find) the kernel and attach; shared by concurrent callers. */
  connect(): Promise<KernelSession> {
    if (this.session && this.session.state !== 'lost') return Promise.resolve(this.session);
    this.connecting ??= this.doConnect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async doConnect(): Promise<KernelSession> {
    const place = kernelPlace(this.notebook, this.pod);
    if (typeof place === 'string') throw new Error(place);
    const podId = this.pod.pod_id;
    return vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: vscode.l10n.t('kgpu: starting the notebook kernel on {0}', this.pod.name),
        cancellable: true,
      },
      async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        const podSession = this.services.connections.session(podId);
        const pod = podSession.commands;
        // The pod agent (a connection of its own, placed and started) comes up while the folder
        // syncs and the kernel starts: the attach then costs a stream's round trip, not a new
        // connection after the start (a reattach at 150 ms RTT: ~21 → ~12 round trips). Its
        // errors, if any, are the attach's (openStream starts it again).
        podSession.agent.start({ signal: abort.signal }).catch(() => undefined);
        const python = await this.prepare(place, pod, abort.signal, (m) => progress.report({ message: m }));
        progress.report({ message: vscode.l10n.t('starting IPython…') });
        // kgpu.env (machine-scoped, from the user's settings only) goes to the kernel, as to a Run.
        const env = this.services.settings.get().env;
        const started = await startKernel(pod, {
          cwd: place.cwd,
          kernelId: kernelIdFor(podId, place.notebookPodPath),
          env,
          python,
          signal: abort.signal,
        });
        this.services.log.info(
          `Notebook: ${started.existing ? 'reattached to' : 'started'} the kernel of ${place.notebookPodPath} on ${podId} (bridge pid ${started.pid}${started.python ? `, ${started.python.join(' ')}` : ''}).`,
        );
        if (started.fallback) this.warnFallback(started.fallback);
        const session = new KernelSession({
          open: async (signal) =>
            this.services.connections.session(podId).agent.openStream({ kind: 'unix', path: started.socket }, { signal }),
          isGone: (e) => e instanceof AgentOpenError && (e.code === 'ENOENT' || e.code === 'ECONNREFUSED'),
          // An idle kernel lets go of the connection (the agent then closes after its own quiet
          // period), so it never keeps the pod's SSH idle clock running; a running cell holds it.
          quietCloseMs: 60_000,
        });
        this.session?.dispose();
        this.session = session;
        session.onRecord((r) => this.onRecord(r));
        session.onDidAttach((h) => this.onAttach(h));
        session.onDidChangeState((s) => {
          if (s.state === 'lost') this.onLost(s.error);
          if (s.state !== 'connected' && s.state !== 'parked') this.setStatus(s.state);
        });
        progress.report({ message: vscode.l10n.t('attaching…') });
        await Promise.race([
          session.ready,
          new Promise((_, reject) => token.onCancellationRequested(() => reject(new vscode.CancellationError()))),
        ]);
        return session;
      },
    );
  }

  async execute(cells: vscode.NotebookCell[]): Promise<void> {
    // Each cell's execution shows as pending at once, in order.
    const pending = cells
      .filter((c) => c.kind === vscode.NotebookCellKind.Code)
      .map((cell) => ({ cell, execution: this.controller.createNotebookCellExecution(cell) }));
    let session: KernelSession;
    try {
      session = await this.connect();
    } catch (e) {
      for (const p of pending) {
        p.execution.start(Date.now());
        await p.execution.replaceOutput([toNotebookOutput({ kind: 'error', ename: 'kgpu', evalue: startFailure(e), traceback: [] })]);
        p.execution.end(false, Date.now());
      }
      return;
    }
    for (const { cell, execution } of pending) {
      const tag: Tag = { i: cell.index, h: sourceHash(cell.document.getText()) };
      const id = `kgpu-${Math.random().toString(16).slice(2)}-${Date.now().toString(16)}`;
      this.runs.set(id, newRun(cell, execution));
      session.execute(cell.document.getText(), tag, id);
    }
  }

  interrupt(): void {
    this.session?.interrupt();
  }

  /** Restart the kernel as a fresh start would be: the notebook's folder synced first (changed
   *  files only), the project's interpreter (its environment updated when its dependency files
   *  changed) and the current kgpu.env. Resolves when the new kernel answers (or failed). */
  async restart(): Promise<void> {
    const session = this.session;
    if (!session) return;
    const place = kernelPlace(this.notebook, this.pod);
    if (typeof place === 'string') throw new Error(place);
    await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: vscode.l10n.t('kgpu: restarting the notebook kernel on {0}', this.pod.name),
        cancellable: true,
      },
      async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        const pod = this.services.connections.session(this.pod.pod_id).commands;
        const python = await this.prepare(place, pod, abort.signal, (m) => progress.report({ message: m }));
        if (abort.signal.aborted || this.session !== session) return;
        progress.report({ message: vscode.l10n.t('restarting IPython…') });
        const done = new Promise<Record<string, unknown>>((resolve) => {
          const sub = session.onRecord((r) => {
            if (r.ch !== 'bridge' || (r.type !== 'restarted' && r.type !== 'died' && r.type !== 'shutdown')) return;
            sub.dispose();
            resolve(r.type === 'restarted' ? r.content : {});
          });
        });
        session.restart({ env: this.services.settings.get().env, python: kernelPythonArgv(python) });
        const content = await done;
        const fb = content.fallback as { python?: unknown; error?: unknown } | null | undefined;
        if (fb && typeof fb.python === 'string') this.warnFallback({ python: fb.python, error: String(fb.error ?? '') });
      },
    );
  }

  /** Sync the notebook's folder (changed files only) and settle the kernel's interpreter: the
   *  project's (its venv, installed or updated as for a Run), else kgpu.python. */
  private async prepare(place: KernelPlace, pod: PodCommands, signal: AbortSignal, report: (m: string) => void): Promise<string> {
    const settings = this.services.settings.get();
    // A notebook in the pod: the project's requirements beside it there, installed once, then reused.
    if (!place.sync) return podFilePython(this.services, pod, place.notebookPodPath, { signal, report });
    report(vscode.l10n.t('syncing {0} to {1}…', path.basename(place.sync.folder), place.sync.remoteDir));
    await vscode.workspace.saveAll(false);
    const storage = this.services.context.globalStorageUri?.fsPath;
    const r = await syncUp(pod, place.sync.folder, place.sync.remoteDir, {
      exclude: settings.syncExclude,
      stateDir: storage ? path.join(storage, 'sync') : undefined,
      signal,
    });
    this.services.log.info(`Notebook: synced ${r.uploadedFiles} changed file(s) to ${place.sync.remoteDir} in ${r.durationMs} ms.`);
    // The kgpu: file system (an open explorer on the pod) sees what the sync changed.
    this.services.connections.session(this.pod.pod_id).notifyPathsChanged(r.changes);
    const project = await projectPython(
      pod,
      { folder: place.sync.folder, remoteDir: place.sync.remoteDir, script: place.sync.notebook, python: settings.python },
      { signal, onOutput: (line) => report(vscode.l10n.t("installing the project's dependencies: {0}", line.slice(0, 120))) },
    );
    return project.python;
  }

  private warnFallback(f: { python: string; error: string }): void {
    const message = fallbackMessage(f);
    this.services.log.warn(`Notebook: ${message}`);
    void vscode.window.showWarningMessage(vscode.l10n.t('kgpu: {0}', message));
  }

  shutdown(): void {
    this.session?.shutdown();
  }

  /** The pod ended: say so in every unfinished cell, with the reason. */
  podEnded(reason: EndReason | string | null | undefined): void {
    const text = `The pod ${this.pod.name} ended while this cell ran: ${endReasonSentence((reason || null) as EndReason | null)}`;
    for (const [id, run] of this.runs) this.finish(id, run, false, { ename: 'kgpu', evalue: text });
    this.setStatus('pod ended');
    this.session?.dispose();
    this.session = undefined;
  }

  private setStatus(s: string): void {
    if (s === this.status) return;
    this.status = s;
    this.statusEmitter.fire(s);
  }

  private onAttach(hello: KernelHello): void {
    this.setStatus(hello.status);
    if (hello.input) void this.askInput(hello.input);
  }

  private onLost(error: Error | undefined): void {
    const why = error?.message ?? 'the kernel is gone';
    for (const [id, run] of this.runs)
      this.finish(id, run, false, {
        ename: 'kgpu',
        evalue: `The kernel in the pod is gone (${why}). Run the cell again to start a new kernel.`,
      });
    this.setStatus('disconnected');
  }

  private onRecord(r: KernelRecord): void {
    if (r.ch === 'iopub' && r.type === 'status') this.setStatus(String(r.content.execution_state));
    if (r.ch === 'bridge') {
      if (r.type === 'execute' && r.parent && !this.runs.has(r.parent)) this.adopt(r.parent, r.content.tag as Tag | null);
      if (r.type === 'restarted' || r.type === 'died' || r.type === 'shutdown') {
        const why =
          r.type === 'restarted'
            ? 'The kernel was restarted.'
            : r.type === 'shutdown'
              ? 'The kernel was shut down.'
              : String(r.content.message ?? 'The kernel died.');
        for (const [id, run] of this.runs)
          if (r.type !== 'died' || !r.parent || r.parent === id) this.finish(id, run, false, { ename: 'kgpu', evalue: why });
        this.setStatus(r.type === 'restarted' ? 'idle' : r.type === 'shutdown' ? 'shut down' : 'dead');
      }
      if (r.type === 'dropped') {
        for (const run of this.runs.values())
          run.outputs.note(
            'kgpu',
            `Some output was dropped in the pod while no editor was connected (records ${String(r.content.from)}–${String(r.content.to)}).`,
          );
      }
      return;
    }
    if (!r.parent) return;
    const run = this.runs.get(r.parent);
    if (!run) return;
    if (!run.started && r.ch === 'iopub' && (r.type === 'execute_input' || (r.type === 'status' && r.content.execution_state === 'busy'))) {
      run.started = true;
      run.execution.start(Date.now());
      if (run.adopted) void renderRun(run);
    }
    if (run.outputs.apply(r)) scheduleRender(run);
    if (run.outputs.executionCount !== undefined) run.execution.executionOrder = run.outputs.executionCount;
    if (r.ch === 'stdin' && r.type === 'input_request') void this.askInput(r.content as { prompt?: string; password?: boolean });
    if (r.ch === 'shell' && r.type === 'execute_reply') run.reply = true;
    if (r.ch === 'iopub' && r.type === 'status' && r.content.execution_state === 'idle') run.idle = true;
    if (run.reply && run.idle) this.finish(r.parent, run, run.outputs.status === 'ok');
  }

  /** A run this window did not start (a reload): find its cell, clear it, rebuild it from the replay. */
  private adopt(id: string, tag: Tag | null): void {
    const cells = this.notebook.getCells();
    let cell: vscode.NotebookCell | undefined;
    if (tag && typeof tag.i === 'number') {
      cell = taggedCell(cells, tag);
    }
    if (!cell || cell.kind !== vscode.NotebookCellKind.Code) return;
    let execution: vscode.NotebookCellExecution;
    try {
      execution = this.controller.createNotebookCellExecution(cell);
    } catch (e) {
      this.services.log.warn(`Notebook: could not show the running cell ${cell.index + 1}: ${errorMessage(e)}`);
      return;
    }
    // The output is rebuilt (replaced) once the execution has started: a cell execution refuses
    // output changes before start(), and clearOutput() throws then (synchronously).
    const run = newRun(cell, execution);
    run.adopted = true;
    this.runs.set(id, run);
  }

  private async askInput(req: { prompt?: string; password?: boolean }): Promise<void> {
    const value = await vscode.window.showInputBox({
      title: vscode.l10n.t('kgpu: the notebook asks for input'),
      prompt: req.prompt || 'input()',
      password: req.password === true,
      ignoreFocusOut: true,
    });
    this.session?.input(value ?? '');
  }

  private finish(id: string, run: CellRun, success: boolean, note?: { ename: string; evalue: string }): void {
    this.runs.delete(id);
    endRun(run, success, note);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const [id, run] of this.runs)
      this.finish(id, run, false, {
        ename: 'kgpu',
        evalue: 'Disconnected from the kernel; it keeps running in the pod — reopen the notebook to see the rest.',
      });
    this.session?.dispose();
    this.session = undefined;
    this.statusEmitter.dispose();
    for (const s of this.subscriptions) s.dispose();
  }
}

function startFailure(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  if (code === 'no-jupyter')
    return `${errorMessage(e)}\nThe pod image needs ipykernel and jupyter_client (kgpu's default image has them): run \`pip install ipykernel\` in the pod's terminal, then run the cell again.`;
  return `The kgpu kernel could not start: ${errorMessage(e)}`;
}
