/**
 * The text an agent's exec prints before its binary frames (the start-up in agent-script.ts), one
 * line at a time: `KGPU-AGENT-SEND <n>` asks for the program (it was not in the pod under its
 * hash), `KGPU-AGENT-ERR <code> <text>` fails the start, `KGPU-AGENT-READY …` ends the text; any
 * other line is noise from the pod's shell start-up and skipped — at most MAX_PREAMBLE bytes in all.
 */
import { ERROR_LINE, SEND_LINE, type AgentScript } from './agent-script';
import { AgentStartError } from './errors';

export const READY_LINE = 'KGPU-AGENT-READY';

/** Text before the binary frames: lines, at most this much in all (a noisy login shell's output is skipped). */
const MAX_PREAMBLE = 64 * 1024;

export class AgentPreamble {
  private buffered: Buffer = Buffer.alloc(0);
  private seen = 0;

  /** `sendProgram` is called when the pod asks for the agent's program (after its size was checked). */
  constructor(
    private readonly script: AgentScript,
    private readonly sendProgram: () => void,
  ) {}

  /** Consume a chunk of stdout: the bytes after the READY line once it came, else undefined (more
   *  text to come). Throws AgentStartError for an ERR line, a wrong size asked or too much text. */
  push(chunk: Buffer): Buffer | undefined {
    let buf = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    for (;;) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (this.seen + buf.length > MAX_PREAMBLE) throw tooMuch();
        this.buffered = buf;
        return undefined;
      }
      const line = buf.subarray(0, nl).toString('utf8').replace(/\r$/, '');
      this.seen += nl + 1;
      buf = buf.subarray(nl + 1);
      if (this.seen > MAX_PREAMBLE) throw tooMuch();
      if (line.startsWith(SEND_LINE + ' ')) {
        const n = Number(line.slice(SEND_LINE.length + 1));
        if (n !== this.script.source.length)
          throw new AgentStartError(
            `the pod asked for ${line.slice(SEND_LINE.length + 1)} bytes of the agent, which has ${this.script.source.length}.`,
          );
        this.sendProgram();
      } else if (line.startsWith(ERROR_LINE + ' ')) {
        const [code, ...rest] = line.slice(ERROR_LINE.length + 1).split(' ');
        const hint = code === 'no-python' ? " The agent needs Python ≥ 3.8 in the pod's image." : '';
        throw new AgentStartError(`${rest.join(' ')} (${code}).${hint}`);
      } else if (line.startsWith(READY_LINE + ' ')) {
        this.buffered = Buffer.alloc(0);
        return buf;
      }
      // anything else: noise from the pod's shell start-up; skipped.
    }
  }
}

function tooMuch(): AgentStartError {
  return new AgentStartError('the pod printed too much before the agent started (a login script writing to stdout?).');
}
