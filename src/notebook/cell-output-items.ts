import * as vscode from 'vscode';
import { displayStreamText, type CellOutput } from '../kgpu/notebook';

/** A kernel output as VS Code shows it (and as the built-in ipynb serializer saves it: the
 *  metadata's outputType / executionCount / metadata are what it writes back to the file). */
export function toNotebookOutput(o: CellOutput): vscode.NotebookCellOutput {
  switch (o.kind) {
    case 'stream': {
      const text = displayStreamText(o.text);
      const item = o.name === 'stderr' ? vscode.NotebookCellOutputItem.stderr(text) : vscode.NotebookCellOutputItem.stdout(text);
      return new vscode.NotebookCellOutput([item], { outputType: 'stream' });
    }
    case 'error':
      return new vscode.NotebookCellOutput(
        [
          vscode.NotebookCellOutputItem.error({
            name: o.ename,
            message: o.evalue,
            stack: o.traceback.length ? o.traceback.join('\n') : undefined,
          }),
        ],
        { outputType: 'error', originalError: { output_type: 'error', ename: o.ename, evalue: o.evalue, traceback: o.traceback } },
      );
    case 'data': {
      const items: vscode.NotebookCellOutputItem[] = [];
      for (const [mime, value] of Object.entries(o.data)) {
        const item = toItem(mime, value);
        if (item) items.push(item);
      }
      return new vscode.NotebookCellOutput(items, {
        outputType: o.executionCount !== undefined ? 'execute_result' : 'display_data',
        executionCount: o.executionCount,
        metadata: o.metadata,
      });
    }
  }
}

function toItem(mime: string, value: unknown): vscode.NotebookCellOutputItem | undefined {
  if (mime.startsWith('image/') && mime !== 'image/svg+xml' && typeof value === 'string') {
    return new vscode.NotebookCellOutputItem(Buffer.from(value, 'base64'), mime);
  }
  if (mime === 'application/json' || mime.endsWith('+json')) return vscode.NotebookCellOutputItem.json(value, mime);
  if (typeof value === 'string') return vscode.NotebookCellOutputItem.text(value, mime);
  if (Array.isArray(value)) return vscode.NotebookCellOutputItem.text(value.map(String).join(''), mime);
  if (value !== null && typeof value === 'object') return vscode.NotebookCellOutputItem.json(value, mime);
  return undefined;
}
