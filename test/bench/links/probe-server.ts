/**
 * A tiny TCP server to put behind a link and measure it (test/unit/bench/link-emulation.test.ts).
 * Listens on 127.0.0.1 (a free port), prints `LISTENING <port>`. Per connection, the first byte says:
 *   E  echo every byte back (round trips);
 *   S  followed by a 4-byte big-endian length: send that many bytes, then end (download);
 *   R  followed by a 4-byte length: read that many bytes, then send `K` and end (upload).
 * Exits when its stdin closes.
 */
import net from 'node:net';

const server = net.createServer({ noDelay: true }, (s) => {
  let head = Buffer.alloc(0);
  let mode: 'E' | 'S' | 'R' | undefined;
  let left = 0;
  const received = (n: number): void => {
    left -= n;
    if (left <= 0) s.end('K');
  };
  s.on('error', () => undefined);
  s.on('data', (b: Buffer) => {
    if (mode === 'E') return void s.write(b);
    if (mode === 'R') return received(b.length);
    head = Buffer.concat([head, b]);
    if (head[0] === 0x45) {
      mode = 'E';
      if (head.length > 1) s.write(head.subarray(1));
      return;
    }
    if (head.length < 5) return;
    left = head.readUInt32BE(1);
    if (head[0] === 0x53) {
      mode = 'S';
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const send = (): void => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!s.write(chunk.subarray(0, n))) return void s.once('drain', send);
        }
        s.end();
      };
      send();
    } else {
      mode = 'R';
      if (head.length > 5) received(head.length - 5);
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${(server.address() as net.AddressInfo).port}\n`);
});
process.stdin.on('data', () => undefined);
process.stdin.on('end', () => process.exit(0));
