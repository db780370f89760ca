/**
 * The notebook kernel's status-bar item as data: the kernel's state from whatever
 * NotebookKernel.status holds, and the pod's live GPU numbers only while there is a kernel.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { notebookKernelState, notebookStatusView } from '../../../src/kgpu/notebook';

test('the item shows the GPU model, the state word and the live GPU numbers: `$(loading~spin) rtx4090 · busy · GPU 87% · 14.2/24 GiB`', () => {
  const busy = notebookStatusView({ status: 'busy', gpuModel: 'rtx4090', gpu: 'GPU 87% · 14.2/24 GiB' });
  assert.equal(busy.state, 'busy');
  assert.equal(
    busy.text('beschäftigt'),
    '$(loading~spin) rtx4090 · beschäftigt · GPU 87% · 14.2/24 GiB',
    'the state word is the caller’s (localised)',
  );
  assert.equal(busy.warning, false);
  const idle = notebookStatusView({ status: 'idle', gpuModel: 'a100', gpu: undefined });
  assert.equal(idle.text('idle'), '$(circuit-board) a100 · idle', 'no numbers while the telemetry does not run');
  const reconnecting = notebookStatusView({ status: 'reconnecting', gpuModel: 'a100', gpu: '2 GPUs 50% · 20/80 GiB' });
  assert.equal(reconnecting.text('reconnecting'), '$(sync~spin) a100 · reconnecting · 2 GPUs 50% · 20/80 GiB');
});

test('the state of every status the kernel reports; a gone kernel shows no GPU numbers and warns', () => {
  const states = [
    'starting',
    'connecting',
    'idle',
    'busy',
    'reconnecting',
    'lost',
    'disconnected',
    'disposed',
    'dead',
    'shut down',
    'pod ended',
    'what?',
  ].map(notebookKernelState);
  assert.deepEqual(states, [
    'starting',
    'starting',
    'idle',
    'busy',
    'reconnecting',
    'disconnected',
    'disconnected',
    'disconnected',
    'dead',
    'shut down',
    'pod ended',
    'disconnected',
  ]);
  for (const status of ['dead', 'pod ended']) {
    const v = notebookStatusView({ status, gpuModel: 'rtx4090', gpu: 'GPU 0% · 0.1/24 GiB' });
    assert.equal(v.warning, true, status);
    assert.equal(v.text(status), `$(error) rtx4090 · ${status}`, 'no numbers for a kernel that is gone');
  }
  assert.equal(
    notebookStatusView({ status: 'shut down', gpuModel: 'rtx4090', gpu: 'GPU 0%' }).text('shut down'),
    '$(circle-slash) rtx4090 · shut down',
  );
});
