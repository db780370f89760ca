/**
 * Forwarded ports survive a window reload (issue 19), against a simulator pod: the list a window
 * persisted (JSON, as workspaceState keeps it) is read by a fresh ForwardSet with a fresh agent
 * client — the reloaded window — which restores each forward once its pod is known to be live,
 * on the same local port, and the forwarded HTTP server answers again byte for byte. Forwards of a
 * pod not loaded yet are kept, those of an ended pod dropped, malformed entries ignored.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, test } from 'node:test';
import type { AgentClient } from '../../../src/kgpu/agent';
import { ForwardSet, parseSavedForwards, type ForwardStore, type PodLiveness } from '../../../src/kgpu/ports';
import { sha256, startAgentFixture, type AgentFixture } from '../agent/agent-fixture';

let f: AgentFixture;
before(async () => {
  f = await startAgentFixture();
});
after(async () => {
  await f?.stop();
});

/** workspaceState: what a window stored, as JSON text (a reload reads it back from disk). */
function memento(): ForwardStore & { text: string | undefined } {
  return {
    text: undefined,
    get() {
      return this.text === undefined ? undefined : JSON.parse(this.text);
    },
    set(list) {
      this.text = JSON.stringify(list);
    },
  };
}

function windowSet(store: ForwardStore, client: AgentClient, liveness: (podId: string) => PodLiveness): ForwardSet {
  return new ForwardSet({
    store,
    liveness,
    openStream: (_podId, podPort, signal) => client.openStream({ kind: 'tcp', host: '127.0.0.1', port: podPort }, { signal }),
  });
}

function get(port: number, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

test('a reloaded window restores the saved forward once its pod is live: same local port, the pod server answers again', async () => {
  const data = randomBytes(300_000);
  const hash = f.writeFile('www/restore.bin', data);
  const podPort = await f.httpPort();
  const store = memento();

  // Window 1: forward the pod's server, fetch through it, then the window goes away.
  const first = windowSet(store, f.client(), () => 'live');
  const saved = await first.forward('pod-a', podPort, { localPort: 0, label: 'http.server' });
  assert.equal((await get(saved.localPort, '/restore.bin')).status, 200);
  first.dispose();
  await f.quiesce(); // the old window's agent connection is gone
  await assert.rejects(get(saved.localPort, '/restore.bin'), 'the old listener is closed');
  assert.deepEqual(parseSavedForwards(store.get()), [{ podId: 'pod-a', podPort, localPort: saved.localPort, label: 'http.server' }]);

  // Window 2 starts before the pods are loaded: nothing is restored yet, and the list is kept.
  let pods: PodLiveness = undefined;
  const second = windowSet(store, f.client(), () => pods);
  try {
    await second.restore();
    assert.deepEqual(second.of('pod-a'), []);
    assert.equal(parseSavedForwards(store.get()).length, 1, 'a pod not loaded yet keeps its saved forwards');

    // The pods are loaded (the editor calls restore() on every change of the pod list).
    pods = 'live';
    await second.restore();
    const restored = second.of('pod-a');
    assert.deepEqual(restored, [{ podId: 'pod-a', podPort, localPort: saved.localPort, label: 'http.server' }]);
    const r = await get(saved.localPort, '/restore.bin');
    assert.equal(r.status, 200);
    assert.equal(sha256(r.body), hash);
    await second.restore(); // idempotent: no second listener, same list
    assert.equal(second.of('pod-a').length, 1);
    assert.equal(parseSavedForwards(store.get()).length, 1);
  } finally {
    second.dispose();
  }
});

test('a restore that runs while the pods change looks again; ended pods lose their saved forwards; malformed entries are ignored', async () => {
  const podPort = await f.httpPort();
  const store = memento();
  store.set([
    { podId: 'pod-live', podPort, localPort: 0 },
    { podId: 'pod-ended', podPort: 8888, localPort: 8888 },
    { podId: 'pod-later', podPort: 6006, localPort: 6006 },
    { podId: 7, podPort: 'x' } as never,
  ]);
  const state = new Map<string, PodLiveness>([['pod-ended', 'ended']]);
  const set = windowSet(store, f.client(), (id) => state.get(id));
  try {
    const running = set.restore();
    state.set('pod-live', 'live'); // the pod list changed during the pass
    const again = set.restore();
    await Promise.all([running, again]);
    assert.equal(set.of('pod-live').length, 1, 'the pod that became live during the restore is restored');
    assert.equal((await get(set.of('pod-live')[0].localPort, '/restore.bin')).status, 200);
    assert.deepEqual(set.of('pod-ended'), []);
    const left = parseSavedForwards(store.get());
    assert.deepEqual(left.map((s) => s.podId).sort(), ['pod-later', 'pod-live']);
    set.podEnded('pod-live');
    assert.deepEqual(set.of('pod-live'), []);
    assert.deepEqual(
      parseSavedForwards(store.get()).map((s) => s.podId),
      ['pod-later'],
    );
  } finally {
    set.dispose();
  }
});
