/**
 * The listening-port offers while a job runs (issue 19), against a simulator pod: a job that
 * starts a listener gets exactly one offer for it (named after its script); nothing is watched
 * while no job runs; a port forwarded already is not offered; the watch pauses once the window has
 * been unfocused for 10 minutes (a clock the test moves) and resumes on focus; a port is never
 * offered twice, even after the watch restarted.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PortOffers, type PortOffer } from '../../../src/kgpu/ports';
import { UNFOCUSED_STOP_MS } from '../../../src/kgpu/telemetry';
import { startAgentFixture, waitFor, type AgentFixture } from '../agent/agent-fixture';

let f: AgentFixture;
before(async () => {
  f = await startAgentFixture();
  f.writeFile(
    'listen.py',
    Buffer.from(
      'import socket, sys, time\ns = socket.socket()\ns.bind(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0))\ns.listen(5)\nopen(sys.argv[1], "w").write(str(s.getsockname()[1]))\ntime.sleep(600)\n',
    ),
  );
});
const pids: number[] = [];
after(async () => {
  if (pids.length) await f?.sh(`kill ${pids.join(' ')} 2>/dev/null || true`);
  await f?.stop();
});

/** Start a listener in the pod as `<name>.py` (a copy of listen.py); its port and pid. */
async function listen(name: string, fixedPort = 0): Promise<{ port: number; pid: number }> {
  await f.sh(
    `cd /workspace && cp listen.py ${name}.py && rm -f ${name}.port && setsid -f python3 ${name}.py /workspace/${name}.port ${fixedPort} </dev/null >/dev/null 2>&1`,
  );
  const port = Number(
    await waitFor(`${name}.py to listen`, async () => (await f.sh(`cat /workspace/${name}.port 2>/dev/null || true`)).trim() || undefined),
  );
  const pid = Number((await f.sh(`pgrep -f '^python3 ${name}.py' | head -1`)).trim());
  pids.push(pid);
  return { port, pid };
}

function setUp(forwarded = new Set<number>()): { offers: PortOffers; seen: PortOffer[]; clock: { now: number } } {
  const client = f.client();
  const clock = { now: 1_000_000 };
  const offers = new PortOffers({
    openStream: (_podId, t, o) => client.openStream(t, o),
    isForwarded: (_podId, port) => forwarded.has(port),
    focused: true,
    intervalMs: 200,
    now: () => clock.now,
  });
  const seen: PortOffer[] = [];
  offers.onDidOffer((o) => seen.push(o));
  return { offers, seen, clock };
}

test('a job that starts a listener gets exactly one offer, named after its script; no job, no watch', async () => {
  const { offers, seen } = setUp();
  try {
    await listen('before'); // listening before the job: the baseline, never offered
    offers.setRunning([]);
    assert.deepEqual(offers.watching, []);
    offers.setRunning(['pod-a']);
    assert.deepEqual(offers.watching, ['pod-a']);
    await waitFor('the baseline list', () => (offers.watcherOf('pod-a')?.lists ?? 0) >= 1);
    const train = await listen('train');
    const first = await waitFor('the offer of train.py', () => seen.find((o) => o.socket.port === train.port));
    assert.equal(first.podId, 'pod-a');
    assert.equal(first.socket.name, 'train.py');
    // A later listener's offer comes after any repeat of the first one would have.
    const eval_ = await listen('evaluate');
    await waitFor('the offer of evaluate.py', () => seen.find((o) => o.socket.port === eval_.port));
    assert.equal(seen.filter((o) => o.socket.port === train.port).length, 1, 'one offer for train.py');
    assert.deepEqual(
      seen.map((o) => o.socket.name),
      ['train.py', 'evaluate.py'],
      'the baseline listener was never offered',
    );
    // The job ends: the watch stops; a new job's watch never offers the same port again.
    offers.setRunning([]);
    assert.deepEqual(offers.watching, []);
    offers.setRunning(['pod-a']);
    const w = offers.watcherOf('pod-a')!;
    await waitFor('the new baseline list', () => w.lists >= 1);
    const third = await listen('third');
    await waitFor('the offer of third.py', () => seen.find((o) => o.socket.port === third.port));
    assert.equal(seen.length, 3);
  } finally {
    offers.dispose();
  }
});

test('a port forwarded already is not offered; 10 unfocused minutes pause the watch and focus resumes it', async () => {
  const forwarded = new Set<number>();
  const { offers, seen, clock } = setUp(forwarded);
  try {
    offers.setRunning(['pod-b']);
    await waitFor('the baseline list', () => (offers.watcherOf('pod-b')?.lists ?? 0) >= 1);
    // Forwarded before it listens (e.g. by Forward Port…): no offer. The next listener's offer proves
    // the watcher saw it.
    const pre = Number(await f.sh(`python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'`));
    forwarded.add(pre);
    await listen('served', pre);
    const next = await listen('next');
    await waitFor('the offer of next.py', () => seen.find((o) => o.socket.port === next.port));
    assert.ok(!seen.some((o) => o.socket.port === pre), 'a forwarded port is not offered');

    // Unfocused: still watched until the 10-minute mark, then the watch (an agent stream) stops.
    offers.setFocused(false);
    clock.now += UNFOCUSED_STOP_MS - 1;
    offers.update();
    assert.deepEqual(offers.watching, ['pod-b']);
    clock.now += 1;
    offers.update();
    assert.deepEqual(offers.watching, [], 'paused after 10 unfocused minutes');
    offers.setRunning(['pod-b']); // a job change while paused does not resume it
    assert.deepEqual(offers.watching, []);
    offers.setFocused(true);
    assert.deepEqual(offers.watching, ['pod-b'], 'focus resumes the watch');
    const w = offers.watcherOf('pod-b')!;
    await waitFor('the resumed baseline list', () => w.lists >= 1);
    const later = await listen('later');
    await waitFor('the offer of later.py', () => seen.find((o) => o.socket.port === later.port));
  } finally {
    offers.dispose();
  }
});
