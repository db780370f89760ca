/**
 * The one command-argument decoder (src/platform/command-args.ts): what the palette, tree rows,
 * the explorer, strings and executeCommand options become, and the pod each names. It loads no
 * `vscode` at run time; a URI is recognised by its shape, so URIs here are plain objects shaped
 * like vscode.Uri (scheme, authority, path, with(), toJSON()).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type * as vscode from 'vscode';
import { decodeCommandArgs, isUri, optionsOf, podIdOf } from '../../../src/platform/command-args';

function uri(text: string): vscode.Uri {
  const u = new URL(text);
  const shape = {
    scheme: u.protocol.slice(0, -1),
    authority: u.host,
    path: decodeURIComponent(u.pathname),
    query: '',
    fragment: '',
    fsPath: decodeURIComponent(u.pathname),
    with: () => shape,
    toJSON: () => ({ scheme: u.protocol.slice(0, -1), authority: u.host, path: u.pathname }),
  };
  return shape as unknown as vscode.Uri;
}

test('nothing, a pod id or a kgpu:// string', () => {
  assert.deepEqual(decodeCommandArgs(undefined), { kind: 'none' });
  assert.deepEqual(decodeCommandArgs(null), { kind: 'none' });
  assert.deepEqual(decodeCommandArgs('   '), { kind: 'none' });
  assert.deepEqual(decodeCommandArgs(' gpu-rent-abc '), { kind: 'pod', podId: 'gpu-rent-abc', options: {} });
  assert.deepEqual(decodeCommandArgs('kgpu://gpu-rent-abc/workspace/x.py'), { kind: 'pod', podId: 'gpu-rent-abc', options: {} });
  assert.deepEqual(decodeCommandArgs('kgpu:///workspace'), { kind: 'none' });
  assert.deepEqual(decodeCommandArgs(42), { kind: 'none' });
});

test('a URI, with the explorer selection as the second argument', () => {
  const a = uri('file:///home/me/proj/a.py');
  const b = uri('file:///home/me/proj/b.py');
  assert.ok(isUri(a));
  assert.ok(!isUri({ scheme: 'file', authority: '', path: '/x' }), 'a plain object with URI fields is not a URI');
  assert.deepEqual(decodeCommandArgs(a), { kind: 'uri', uri: a, selection: [a] });
  assert.deepEqual(decodeCommandArgs(a, [a, b]), { kind: 'uri', uri: a, selection: [a, b] });
  assert.deepEqual(decodeCommandArgs(a, ['not a uri']), { kind: 'uri', uri: a, selection: [a] });
  assert.equal(podIdOf(decodeCommandArgs(a)), undefined, 'a local file names no pod');
  assert.equal(podIdOf(decodeCommandArgs(uri('kgpu://gpu-rent-abc/workspace/train.py'))), 'gpu-rent-abc');
  assert.deepEqual(optionsOf(decodeCommandArgs(a)), {});
});

test('tree rows and options objects: a job, a pod, or plain options', () => {
  const jobRow = { kind: 'job', podId: 'gpu-rent-abc', jobId: 'j-20260101-1' };
  assert.deepEqual(decodeCommandArgs(jobRow), { kind: 'job', podId: 'gpu-rent-abc', jobId: 'j-20260101-1', options: jobRow });
  const stop = { podId: 'p1', jobId: 'j1', yes: true, graceMs: 100 };
  assert.deepEqual(optionsOf(decodeCommandArgs(stop)), stop);
  const rentalRow = { kind: 'rental', pod: { pod_id: 'gpu-rent-abc', name: 'x' } };
  assert.deepEqual(decodeCommandArgs(rentalRow), { kind: 'pod', podId: 'gpu-rent-abc', options: rentalRow });
  for (const [arg, id] of [
    [{ podId: 'p2', file: '/x.py' }, 'p2'],
    [{ pod_id: 'p3' }, 'p3'],
    [{ resourceUri: uri('kgpu://p4/workspace') }, 'p4'],
    [{ uri: uri('kgpu://p5/') }, 'p5'],
  ] as const)
    assert.equal(podIdOf(decodeCommandArgs(arg)), id);
  // A local resourceUri names no pod (and is not looked past).
  assert.equal(podIdOf(decodeCommandArgs({ resourceUri: uri('file:///x'), podId: undefined })), undefined);
  // A job id without its pod is not a job.
  assert.deepEqual(decodeCommandArgs({ jobId: 'j1' }), { kind: 'options', options: { jobId: 'j1' } });
  const opts = { localPaths: ['/a'], remoteDir: '/workspace' };
  assert.deepEqual(decodeCommandArgs(opts), { kind: 'options', options: opts });
  assert.equal(podIdOf(decodeCommandArgs(opts)), undefined);
});
