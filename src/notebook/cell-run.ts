/**
 * One notebook cell's run as the kernel controller (notebook-kernel.ts) shows it: its
 * NotebookCellExecution, the outputs built from the kernel's records (rendered at most every
 * 40 ms), and its end; the tag that finds a run's cell again after a window reload.
 */
import { createHash } from 'node:crypto';
import type * as vscode from 'vscode';
import { CellOutputs } from '../kgpu/notebook';
import { toNotebookOutput } from './cell-output-items';

/** What a cell run is tagged with in the kernel: the cell's index and its source's hash (a reload finds the cell again). */
export interface Tag {
  i: number;
  h: string;
}

/** One cell's execution, fed from the kernel's records. */
export interface CellRun {
  cell: vscode.NotebookCell;
  execution: vscode.NotebookCellExecution;
  outputs: CellOutputs;
  started: boolean;
  /** Adopted after a reload: what the cell showed before is replaced once the execution starts. */
  adopted: boolean;
  reply: boolean;
  idle: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  rendering: Promise<unknown>;
}

export const sourceHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

/** The cell a tag names: the one at its index if its source still matches, else the first whose source does. */
export function taggedCell(cells: readonly vscode.NotebookCell[], tag: Tag): vscode.NotebookCell | undefined {
  const at = cells[tag.i];
  return at && sourceHash(at.document.getText()) === tag.h ? at : cells.find((c) => sourceHash(c.document.getText()) === tag.h);
}

export function newRun(cell: vscode.NotebookCell, execution: vscode.NotebookCellExecution): CellRun {
  return {
    cell,
    execution,
    outputs: new CellOutputs(),
    started: false,
    adopted: false,
    reply: false,
    idle: false,
    timer: undefined,
    rendering: Promise.resolve(),
  };
}

export function scheduleRender(run: CellRun): void {
  if (run.timer) return;
  run.timer = setTimeout(() => {
    run.timer = undefined;
    void renderRun(run);
  }, 40);
}

export function renderRun(run: CellRun): Promise<unknown> {
  const outputs = run.outputs.outputs.map(toNotebookOutput);
  run.rendering = run.rendering.then(() => run.execution.replaceOutput(outputs)).catch(() => undefined);
  return run.rendering;
}

/** End the run's execution (started first if it never did), after its last render; `note` added as an error output. */
export function endRun(run: CellRun, success: boolean, note?: { ename: string; evalue: string }): void {
  if (run.timer) clearTimeout(run.timer);
  run.timer = undefined;
  if (note) run.outputs.note(note.ename, note.evalue);
  if (!run.started) {
    run.started = true;
    run.execution.start(Date.now());
  }
  void renderRun(run).finally(() => {
    try {
      run.execution.end(success, Date.now());
    } catch {
      // Already ended (the notebook was closed).
    }
  });
}
