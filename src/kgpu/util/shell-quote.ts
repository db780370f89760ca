/**
 * POSIX shell quoting for every command line we send to a pod (over SSH exec, which the pod runs
 * with `sh -c`). Each argument is wrapped in single quotes, inside which a POSIX shell treats every
 * byte literally; an embedded `'` becomes `'\''` (close, escaped quote, reopen). This is safe for
 * spaces, quotes, `$()`, backticks, globs, newlines, a leading `-` (quoting cannot stop a program
 * from reading `-x` as an option: put `--` before file names where the program supports it) and
 * arbitrary bytes — pass a Buffer for names that are not valid UTF-8.
 */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quote one argument for a POSIX shell. Plain words (letters, digits, `_@%+=:,./-`) are left
 *  bare so commands stay readable; everything else is single-quoted. A leading `-` is kept
 *  as is (quoting would not change how the program parses it). */
export function quote(arg: string): string;
export function quote(arg: Buffer): Buffer;
export function quote(arg: string | Buffer): string | Buffer;
export function quote(arg: string | Buffer): string | Buffer {
  if (typeof arg === 'string') {
    if (arg === '') return "''";
    if (SAFE.test(arg)) return arg;
    return `'${arg.replace(/'/g, `'\\''`)}'`;
  }
  return quoteBytes(arg);
}

function quoteBytes(arg: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from("'")];
  let start = 0;
  for (let i = 0; i < arg.length; i++) {
    if (arg[i] === 0x27) {
      parts.push(arg.subarray(start, i), Buffer.from(`'\\''`));
      start = i + 1;
    }
  }
  if (arg.includes(0)) throw new Error('A shell argument cannot contain a NUL byte.');
  parts.push(arg.subarray(start), Buffer.from("'"));
  return Buffer.concat(parts);
}

/** Quote an argv into one command line (`quoteArgv(['ls', '-l', 'my dir'])` → `ls -l 'my dir'`). */
export function quoteArgv(argv: readonly string[]): string;
export function quoteArgv(argv: readonly (string | Buffer)[]): string | Buffer;
export function quoteArgv(argv: readonly (string | Buffer)[]): string | Buffer {
  if (argv.length === 0) throw new Error('Cannot build a command line from an empty argv.');
  for (const a of argv) {
    if (typeof a === 'string' && a.includes('\0')) throw new Error('A shell argument cannot contain a NUL character.');
  }
  if (argv.every((a): a is string => typeof a === 'string')) return argv.map((a) => quote(a)).join(' ');
  const parts: Buffer[] = [];
  argv.forEach((a, i) => {
    if (i > 0) parts.push(Buffer.from(' '));
    parts.push(typeof a === 'string' ? Buffer.from(quote(a)) : quote(a));
  });
  return Buffer.concat(parts);
}
