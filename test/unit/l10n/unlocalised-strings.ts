/**
 * Finds user-visible English in the editor code that does not go through `vscode.l10n.t`.
 *
 * The rule (kept simple on purpose; see CONTRIBUTING in README.md "Localisation"):
 *   1. The arguments of `show{Information,Warning,Error}Message`, `setStatusBarMessage` and
 *      `showInputBox`/`showQuickPick`'s option bags (rule 2) are user-visible.
 *   2. In an object literal, the properties `title`, `placeholder`, `placeHolder`, `prompt`,
 *      `tooltip`, `label`, `detail`, `description`, `message`, `validationMessage`, `text`,
 *      `openLabel` (file dialogs) and `prefix` (services.showError's lead-in)
 *      (progress options, QuickPick/InputBox options and items, progress.report, tree items) are
 *      user-visible.
 *   3. Assignments to those same property names (`item.tooltip = …`, `statusBar.text = …`) are
 *      user-visible.
 * A user-visible value must not be a string literal, a template literal or a `+` concatenation
 * whose literal text has a word in it (two letters); a codicon `$(name)` alone is not a word. Wrap
 * the text in `vscode.l10n.t('… {0} …', x)` instead. Pure data (`label: pod.id`,
 * `description: \`${a} · ${b}\``) is fine. A line may opt out with a trailing `// l10n-ignore: why`.
 */
import ts from 'typescript';

const MESSAGE_CALLS = new Set(['showInformationMessage', 'showWarningMessage', 'showErrorMessage', 'setStatusBarMessage']);
const VISIBLE_PROPS = new Set([
  'title',
  'placeholder',
  'placeHolder',
  'prompt',
  'tooltip',
  'label',
  'detail',
  'description',
  'message',
  'validationMessage',
  'text',
  'openLabel',
  'prefix',
]);

export interface Finding {
  line: number;
  text: string;
}

/** The literal text of a string, template or concatenation (expressions left out), or undefined. */
function literalText(e: ts.Expression): string | undefined {
  if (ts.isParenthesizedExpression(e)) return literalText(e.expression);
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return e.text;
  if (ts.isTemplateExpression(e)) return [e.head.text, ...e.templateSpans.map((s) => s.literal.text)].join(' ');
  if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const l = literalText(e.left);
    const r = literalText(e.right);
    return l === undefined && r === undefined ? undefined : `${l ?? ''} ${r ?? ''}`;
  }
  if (ts.isConditionalExpression(e)) {
    const a = literalText(e.whenTrue);
    const b = literalText(e.whenFalse);
    return a === undefined && b === undefined ? undefined : `${a ?? ''} ${b ?? ''}`;
  }
  return undefined;
}

const hasWords = (s: string) => /[A-Za-z]{2}/.test(s.replace(/\$\([\w~-]+\)/g, ''));

export function findUnlocalised(source: string, fileName = 'x.ts'): Finding[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const lines = source.split('\n');
  const found: Finding[] = [];
  const flag = (e: ts.Expression) => {
    const t = literalText(e);
    if (t === undefined || !hasWords(t)) return;
    const line = sf.getLineAndCharacterOfPosition(e.getStart()).line;
    if (/\/\/ l10n-ignore\b/.test(lines[line])) return;
    found.push({ line: line + 1, text: e.getText().replace(/\s+/g, ' ').slice(0, 100) });
  };
  const visit = (n: ts.Node) => {
    if (ts.isCallExpression(n)) {
      const callee = n.expression;
      const name = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : '';
      if (MESSAGE_CALLS.has(name)) n.arguments.forEach(flag);
    } else if (ts.isPropertyAssignment(n) && VISIBLE_PROPS.has(n.name.getText(sf))) {
      flag(n.initializer);
    } else if (
      ts.isBinaryExpression(n) &&
      n.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
      ts.isPropertyAccessExpression(n.left) &&
      VISIBLE_PROPS.has(n.left.name.text)
    ) {
      flag(n.right);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}
