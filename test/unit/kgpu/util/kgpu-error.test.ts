/**
 * One vocabulary for errors (src/kgpu/util/kgpu-error.ts): every layer's errors share one base —
 * layer, kind, the message (unchanged: what happened and what to do next) and kgpu's request id —
 * and cancellation reads the same in every layer. The JSON answers' one reader (api/json-body.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KgpuAbortedError, KgpuApiError, KgpuNetworkError } from '../../../../src/kgpu/api/api-error';
import { jsonErrorField, parseJsonObject } from '../../../../src/kgpu/api/json-body';
import { KgpuUploadError } from '../../../../src/kgpu/api/presigned-upload';
import { WaitTimeoutError } from '../../../../src/kgpu/api/wait-ready';
import { AgentStartError } from '../../../../src/kgpu/agent/errors';
import { RemoteFsError } from '../../../../src/kgpu/fs/remote-fs';
import { fsError } from '../../../../src/kgpu/fs/workspace-fs-error';
import { JobNotFoundError } from '../../../../src/kgpu/jobs/jobs';
import { RunError } from '../../../../src/kgpu/jobs/run-plan';
import { AuthRejectedError, ConnectionLostError, SshAbortedError, SshError } from '../../../../src/kgpu/ssh/ssh-errors';
import { SyncError } from '../../../../src/kgpu/transfer/sync-error';
import { CancelledError, isCancelled } from '../../../../src/kgpu/util/cancelled';
import { describeError, KgpuError } from '../../../../src/kgpu/util/kgpu-error';
import { ProxyTunnelError } from '../../../../src/kgpu/net/http-connect';
import { PortForwardError } from '../../../../src/kgpu/ports/port-forward';
import { KernelStartError } from '../../../../src/kgpu/notebook/kernel-start';
import { DepsInstallError } from '../../../../src/kgpu/deps/ensure';
import { SweepSpecError } from '../../../../src/kgpu/sweeps/grid';
import { ExecInputError } from '../../../../src/kgpu/api/exec-request';
import { BodyTooLargeError } from '../../../../src/kgpu/api/bounded-body';
import { TarCorruptError } from '../../../../src/kgpu/transfer/tar-stream';
import { DapFramingError } from '../../../../src/kgpu/debug/dap-codec';
import { PassphraseDeclinedError } from '../../../../src/kgpu/ssh/passphrase-gate';

test('every layer raises a KgpuError with its layer and kind; the messages are the ones users saw before', () => {
  const api = new KgpuApiError(409, 'POST', '/pods', 'req-123', { error: 'no_capacity', message: 'only 0 free' });
  const net = new KgpuNetworkError('unreachable', 'https://kgpu.example', 'GET', '/pods', 'ECONNREFUSED', false);
  const cases: [KgpuError, string, string, RegExp][] = [
    [api, 'api', 'no_capacity', /req-123/],
    [net, 'api', 'unreachable', /^Cannot reach kgpu at https:\/\/kgpu\.example: ECONNREFUSED — check kgpu\.apiBase and your network\.$/],
    [
      new KgpuUploadError(403, 'AccessDenied', '/o/1'),
      'api',
      'upload_refused',
      /^The object store refused the upload \(403 AccessDenied\)/,
    ],
    [
      new ConnectionLostError('the test'),
      'ssh',
      'connection_lost',
      /^The SSH connection to the pod was lost during the test\. It is safe to retry; check the pod is still running if this repeats\.$/,
    ],
    [new AuthRejectedError('bastion', 22), 'ssh', 'auth_rejected', /^Permission denied \(publickey\) by the kgpu bastion at bastion:22/],
    [new SshError('The SSH connector for h:1 was disposed.'), 'ssh', 'ssh', /^The SSH connector for h:1 was disposed\.$/],
    [fsError('NotFound', 'pod-1', '/workspace/x', ''), 'fs', 'NotFound', /^No such file or folder: \/workspace\/x \(pod pod-1\)\./],
    [new RemoteFsError('ENOENT', '/w/x', 'No such file: /w/x'), 'fs', 'ENOENT', /^No such file: \/w\/x$/],
    [new JobNotFoundError('j1'), 'jobs', 'job_not_found', /^There is no job j1 in this pod\./],
    [new RunError('The pod path must be absolute (got "x").'), 'jobs', 'run_failed', /^The pod path must be absolute/],
    [new SyncError('Pulling /x failed: exit 2'), 'transfer', 'sync_failed', /^Pulling \/x failed: exit 2$/],
    [new WaitTimeoutError('p1', undefined, 5000), 'api', 'wait_timeout', /^Pod p1 is still not ready after 5 s — it is unknown\./],
    [new AgentStartError('no python3'), 'ssh', 'agent_start', /^The kgpu pod agent could not start in the pod: no python3$/],
  ];
  for (const [e, layer, kind, message] of cases) {
    assert.ok(e instanceof KgpuError && e instanceof Error, e.name);
    assert.equal(e.layer, layer, e.name);
    assert.equal(e.kind, kind, e.name);
    assert.match(e.message, message);
    assert.equal(isCancelled(e), false, `${e.name} is not a cancellation`);
  }
  // The names stay what logs and callers knew.
  assert.deepEqual(
    cases.map(([e]) => e.name),
    [
      'KgpuApiError',
      'KgpuNetworkError',
      'KgpuUploadError',
      'ConnectionLostError',
      'AuthRejectedError',
      'SshError',
      'WorkspaceFsError',
      'RemoteFsError',
      'JobNotFoundError',
      'RunError',
      'SyncError',
      'WaitTimeoutError',
      'AgentStartError',
    ],
  );
  // kgpu's request id travels with its errors, and only with them.
  assert.deepEqual(describeError(api), { layer: 'api', kind: 'no_capacity', message: api.message, requestId: 'req-123' });
  assert.deepEqual(describeError(net), { layer: 'api', kind: 'unreachable', message: net.message });
  assert.deepEqual(describeError(new TypeError('x is not a function')), { kind: 'other', message: 'x is not a function' });
  // The cause is kept.
  const cause = new Error('socket hang up');
  assert.equal(new ConnectionLostError('the test', { cause }).cause, cause);
});

test('cancellation is one kind in every layer: recognised, named AbortError where it always was, its reason kept', () => {
  const reason = new Error('the user pressed Cancel');
  const cancelled = [
    new CancelledError('Renting', reason),
    new KgpuAbortedError('The upload', reason),
    new SshAbortedError('Syncing to the pod'),
  ];
  for (const e of cancelled) {
    assert.ok(e instanceof KgpuError);
    assert.equal(e.kind, 'cancelled');
    assert.ok(isCancelled(e));
  }
  assert.deepEqual(
    cancelled.map((e) => [e.layer, e.name, e.message]),
    [
      ['core', 'AbortError', 'Renting was cancelled.'],
      ['api', 'AbortError', 'The upload was cancelled.'],
      ['ssh', 'SshAbortedError', 'Syncing to the pod was cancelled.'],
    ],
  );
  assert.equal(cancelled[0].cause, reason);
  assert.equal(cancelled[1].cause, reason);
});

test('one reader of JSON answers: an object or nothing, and its error field', () => {
  assert.deepEqual(parseJsonObject('{"error":"no_capacity","free":0}'), { error: 'no_capacity', free: 0 });
  for (const text of ['', 'not json', '42', 'null', '"text"']) assert.equal(parseJsonObject(text), undefined, text);
  assert.equal(jsonErrorField('{"error":"AccessDenied"}'), 'AccessDenied');
  assert.equal(jsonErrorField('<Error><Code>AccessDenied</Code></Error>'), undefined);
  assert.equal(jsonErrorField('null'), undefined);
});

test('the feature folders raise KgpuErrors too: layer, kind, their own name and fields, the same message', () => {
  const cases: [Error, string, string, string][] = [
    [new ProxyTunnelError('The proxy refused the tunnel (407).', 407), 'net', 'proxy_refused', 'ProxyTunnelError'],
    [new ProxyTunnelError('The proxy closed the connection.'), 'net', 'proxy_failed', 'ProxyTunnelError'],
    [new PortForwardError('Port 8000 is in use.'), 'ports', 'forward_failed', 'PortForwardError'],
    [new KernelStartError('ipykernel is missing.', 'no-jupyter'), 'notebook', 'no-jupyter', 'KernelStartError'],
    [new DepsInstallError('pip failed.', ['ERROR: x']), 'deps', 'install_failed', 'DepsInstallError'],
    [new SweepSpecError('sweep.yaml line 2: not a list', ['runs', 1]), 'sweeps', 'invalid_spec', 'SweepSpecError'],
    [new ExecInputError('The input is too large.'), 'api', 'exec_input', 'ExecInputError'],
    [new BodyTooLargeError(1048576), 'api', 'body_too_large', 'BodyTooLargeError'],
    [new TarCorruptError('The tar stream from the pod is corrupted.'), 'transfer', 'tar_corrupt', 'TarCorruptError'],
    [new DapFramingError('a DAP header without Content-Length'), 'debug', 'dap_framing', 'DapFramingError'],
    [new PassphraseDeclinedError('/home/u/.ssh/id_ed25519'), 'ssh', 'passphrase_declined', 'PassphraseDeclinedError'],
  ];
  for (const [e, layer, kind, name] of cases) {
    assert.ok(e instanceof KgpuError, `${name} is a KgpuError`);
    assert.equal(e.layer, layer, name);
    assert.equal(e.kind, kind, name);
    assert.equal(e.name, name);
    assert.deepEqual(describeError(e), { layer, kind, message: e.message });
  }
  assert.equal(new BodyTooLargeError(1048576).message, 'The response is larger than 1.0 MiB.');
});
