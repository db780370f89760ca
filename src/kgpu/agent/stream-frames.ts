/**
 * A frame the agent addressed to an open stream (stream ≠ 0): its payload checked and decoded, then
 * handed to the stream (OPEN_OK/OPEN_FAIL, DATA/STDERR, WINDOW, EOF, EXIT, BLOCKED, CLOSE, RESET).
 * A malformed frame or one no stream may receive throws AgentProtocolError, which ends the connection.
 */
import type { AgentStream } from './agent-stream';
import { AgentOpenError, AgentProtocolError } from './errors';
import { frameName, FrameType, parseJsonPayload, type Frame } from './protocol';

export function deliverStreamFrame(stream: AgentStream, f: Frame): void {
  switch (f.type) {
    case FrameType.OPEN_OK: {
      if (f.payload.length < 4) throw new AgentProtocolError('OPEN_OK payload too short');
      stream.onOpenOk(f.payload.readUInt32BE(0), f.payload.length > 4 ? parseJsonPayload(f.payload.subarray(4), 'OPEN_OK') : {});
      return;
    }
    case FrameType.OPEN_FAIL: {
      const e = parseJsonPayload(f.payload, 'OPEN_FAIL');
      stream.onOpenFail(new AgentOpenError(String(e.code ?? 'EIO'), stream.label, String(e.message ?? 'refused')));
      return;
    }
    case FrameType.DATA:
    case FrameType.STDERR:
      stream.onData(f.payload, f.type === FrameType.STDERR);
      return;
    case FrameType.WINDOW:
      if (f.payload.length !== 4) throw new AgentProtocolError(`WINDOW payload of ${f.payload.length} bytes`);
      stream.onWindow(f.payload.readUInt32BE(0));
      return;
    case FrameType.EOF:
      if (f.payload.length) throw new AgentProtocolError('EOF with a payload');
      stream.onEof();
      return;
    case FrameType.EXIT:
      stream.onExit(parseJsonPayload(f.payload, 'EXIT'));
      return;
    case FrameType.BLOCKED:
      if (f.payload.length) throw new AgentProtocolError('BLOCKED with a payload');
      stream.onBlocked();
      return;
    case FrameType.CLOSE:
      stream.onClose();
      return;
    case FrameType.RESET: {
      const e = f.payload.length ? parseJsonPayload(f.payload, 'RESET') : {};
      stream.onReset(String(e.code ?? 'ECONNRESET'), String(e.message ?? 'reset'));
      return;
    }
    default:
      throw new AgentProtocolError(`unexpected ${frameName(f.type)} frame from the agent`);
  }
}
