/**
 * A delay line (delay-line.ts) in its own process, so its copying and timers never share an event
 * loop with the client being measured, and so it can run inside the link's network namespace.
 * Input: one JSON argument (DelayLineOptions). Prints `LISTENING <port>`; answers each `count`
 * line on stdin with `COUNT <connections accepted>`; exits when stdin closes (its parent is gone).
 */
import readline from 'node:readline';
import { startDelayLine, type DelayLineOptions } from './delay-line';

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as DelayLineOptions;
  const line = await startDelayLine(options);
  process.stdout.write(`LISTENING ${line.port}\n`);
  const input = readline.createInterface({ input: process.stdin });
  input.on('line', (l) => {
    if (l.trim() === 'count') process.stdout.write(`COUNT ${line.connections()}\n`);
  });
  input.on('close', () => void line.close().finally(() => process.exit(0)));
}

main().catch((e: unknown) => {
  console.error(`delay-line: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
