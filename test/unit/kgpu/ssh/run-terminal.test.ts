/**
 * The pod terminal without the editor (src/kgpu/ssh/pod-shell.ts) through the simulator's bastion:
 * keyboard input and output round trip through the PTY, resize, a dropped connection said in
 * the terminal and Enter reconnecting, the exit status, the pod's end.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PodShell } from '../../../../src/kgpu/ssh/pod-shell';
import { describeEndReason } from '../../../../src/kgpu/model/end-reason';
import { startRunFixture, waitFor, type RunFixture } from '../jobs/run-fixture';

let fx: RunFixture;
before(async () => {
  fx = await startRunFixture();
});
after(async () => {
  await fx?.stop();
});

function terminal(): { shell: PodShell; text(): string; exits: (number | undefined)[] } {
  let out = '';
  const exits: (number | undefined)[] = [];
  const shell = new PodShell({
    connector: async () => fx.connector(),
    podLabel: 'test-pod',
    endedBecause: async () => {
      const p = await fx.pod();
      return p.end_reason ? describeEndReason(p.end_reason).label : undefined;
    },
    cols: 100,
    rows: 30,
  });
  shell.onOutput((t) => (out += t));
  shell.onExit((c) => exits.push(c));
  return { shell, text: () => out, exits };
}

test('keyboard input reaches the shell through the PTY and its output comes back; resize; exit status', async () => {
  const t = terminal();
  await t.shell.start();
  assert.equal(t.shell.state, 'open');
  t.shell.input('echo "sum=$((40 + 2))"\r');
  await waitFor('the echo through the PTY', () => t.text().includes('sum=42'));
  t.shell.input('stty size\r');
  await waitFor('the PTY size', () => t.text().includes('30 100'));
  t.shell.resize(132, 40);
  t.shell.input('stty size\r');
  await waitFor('the new PTY size', () => t.text().includes('40 132'));
  // A PTY echoes what is typed and turns \n into \r\n: the terminal gets what a local one would.
  assert.match(t.text(), /sum=42\r\n/);
  t.shell.input('exit 3\r');
  await waitFor('the shell to exit', () => t.exits.length === 1);
  assert.deepEqual(t.exits, [3]);
  assert.equal(t.shell.state, 'exited');
  assert.match(t.text(), /The shell exited with code 3\./);
  t.shell.close();
});

test('a dropped connection is said in the terminal; Enter reconnects', async () => {
  const t = terminal();
  await t.shell.start();
  t.shell.input('echo before-drop\r');
  await waitFor('output', () => t.text().includes('before-drop\r\n'));
  fx.sim.bastion.dropConnections({ podId: fx.podId });
  await waitFor('the drop message', () => t.shell.state === 'disconnected');
  assert.match(t.text(), /\[kgpu\] The connection to test-pod was lost: .*\r\n.*Press Enter to reconnect\./s);
  t.shell.input('x'); // anything but Enter does nothing
  assert.equal(t.shell.state, 'disconnected');
  t.shell.input('\r');
  await waitFor('the reconnection', () => t.shell.state === 'open');
  t.shell.input('echo after-$((1 + 1))\r');
  await waitFor('output after reconnecting', () => t.text().includes('after-2'));
  t.shell.close();
  assert.equal(t.shell.state, 'closed');
});

test('the pod ending under the terminal is said plainly, with no reconnect offer', async () => {
  const own = await startRunFixture();
  try {
    let out = '';
    const shell = new PodShell({
      connector: async () => own.connector(),
      podLabel: 'doomed',
      endedBecause: async () => {
        const p = await own.pod();
        return p.end_reason ? describeEndReason(p.end_reason).label : undefined;
      },
    });
    shell.onOutput((s) => (out += s));
    await shell.start();
    shell.input('echo alive\r');
    await waitFor('output', () => out.includes('alive\r\n'));
    await own.sim.endPod(own.podId, 'evicted_by_kubelet:OOMKilled');
    await waitFor('the end message', () => shell.state === 'ended');
    assert.match(out, /The pod has ended: Evicted: out of memory\./);
    assert.doesNotMatch(out, /Press Enter/);
    shell.input('\r');
    assert.equal(shell.state, 'ended');
    shell.close();
  } finally {
    await own.stop();
  }
});
