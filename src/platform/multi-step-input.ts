import * as vscode from 'vscode';

/**
 * Multi-step input as VS Code's own flows do it: each step shows "step/totalSteps" in its title
 * bar and, after the first, a Back button that returns to the previous step with its answer kept.
 * Escape (or focus lost without ignoreFocusOut) cancels the whole flow.
 */
export type StepOutcome<T> = { kind: 'value'; value: T } | { kind: 'back' } | { kind: 'cancel' };

export interface StepContext {
  title: string;
  step: number;
  totalSteps: number;
}

/** Run steps in order; a step returning 'back' goes to the one before. Resolves false when cancelled. */
export async function runSteps(
  title: string,
  steps: readonly ((ctx: StepContext) => Promise<'next' | 'back' | 'cancel'>)[],
  totalSteps: () => number = () => steps.length,
): Promise<boolean> {
  let i = 0;
  while (i < steps.length) {
    const r = await steps[i]({ title, step: i + 1, totalSteps: Math.max(totalSteps(), i + 1) });
    if (r === 'cancel') return false;
    if (r === 'back') i = Math.max(0, i - 1);
    else i++;
  }
  return true;
}

export interface PickStepOptions<I extends vscode.QuickPickItem> {
  items: readonly I[];
  placeholder?: string;
  active?: I;
  matchOnDescription?: boolean;
  /** A reason to refuse the accepted item (shown in the title), or undefined to accept it. */
  refuse?: (item: I) => string | undefined;
}

export function pickStep<I extends vscode.QuickPickItem>(ctx: StepContext, o: PickStepOptions<I>): Promise<StepOutcome<I>> {
  return new Promise((resolve) => {
    const qp = vscode.window.createQuickPick<I>();
    Object.assign(qp, {
      title: ctx.title,
      step: ctx.step,
      totalSteps: ctx.totalSteps,
      ignoreFocusOut: true,
      matchOnDescription: o.matchOnDescription ?? false,
    });
    qp.placeholder = o.placeholder;
    qp.items = o.items;
    if (o.active) qp.activeItems = [o.active];
    if (ctx.step > 1) qp.buttons = [vscode.QuickInputButtons.Back];
    let settled = false;
    const finish = (r: StepOutcome<I>): void => {
      if (settled) return;
      settled = true;
      resolve(r);
      qp.hide();
    };
    qp.onDidTriggerButton((b) => b === vscode.QuickInputButtons.Back && finish({ kind: 'back' }));
    qp.onDidAccept(() => {
      const item = qp.selectedItems[0] ?? qp.activeItems[0];
      if (!item) return;
      const refused = o.refuse?.(item);
      if (refused) {
        qp.title = `${ctx.title} — ${refused}`;
        return;
      }
      finish({ kind: 'value', value: item });
    });
    qp.onDidHide(() => {
      finish({ kind: 'cancel' });
      qp.dispose();
    });
    qp.show();
  });
}

export interface InputStepOptions {
  prompt: string;
  value?: string;
  placeholder?: string;
  validate: (v: string) => string | undefined;
}

export function inputStep(ctx: StepContext, o: InputStepOptions): Promise<StepOutcome<string>> {
  return new Promise((resolve) => {
    const box = vscode.window.createInputBox();
    Object.assign(box, {
      title: ctx.title,
      step: ctx.step,
      totalSteps: ctx.totalSteps,
      ignoreFocusOut: true,
      prompt: o.prompt,
      value: o.value ?? '',
      placeholder: o.placeholder,
    });
    if (ctx.step > 1) box.buttons = [vscode.QuickInputButtons.Back];
    let settled = false;
    const finish = (r: StepOutcome<string>): void => {
      if (settled) return;
      settled = true;
      resolve(r);
      box.hide();
    };
    const check = (): string | undefined => (box.validationMessage = o.validate(box.value)) as string | undefined;
    box.onDidChangeValue(() => void check());
    box.onDidTriggerButton((b) => b === vscode.QuickInputButtons.Back && finish({ kind: 'back' }));
    box.onDidAccept(() => {
      if (check()) return;
      finish({ kind: 'value', value: box.value });
    });
    box.onDidHide(() => {
      finish({ kind: 'cancel' });
      box.dispose();
    });
    box.show();
  });
}
