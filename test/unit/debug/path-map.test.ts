/**
 * The DAP path mapping and framing without a pod: local ↔ /workspace/<folder> both ways (also
 * Windows paths), kgpu:// URIs for the user's pod-only files and read-only kgpu-lib:// ones for library files, every `source` in a message rewritten, and the
 * decoder's bounds on pod data.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { DapDecoder, DapFramingError, encodeDap, PodPathMap } from '../../../src/kgpu/debug';

const POD = 'gpu-rent-abc';

test('local paths under the synced folder map to /workspace/<folder> and back; others stay', () => {
  const local = new Set(['/home/u/my proj/src/a b.py']);
  const m = new PodPathMap({
    podId: POD,
    localRoot: '/home/u/my proj',
    remoteRoot: '/workspace/my proj',
    localExists: (f) => local.has(f),
    pathModule: path.posix,
  });
  assert.equal(m.toRemote('/home/u/my proj/src/a b.py'), '/workspace/my proj/src/a b.py');
  assert.equal(m.toRemote('/home/u/other/x.py'), '/home/u/other/x.py');
  assert.equal(m.toRemote('/home/u/my projx/x.py'), '/home/u/my projx/x.py', 'a sibling folder with the same prefix is not inside');
  assert.equal(m.toLocal('/workspace/my proj/src/a b.py'), '/home/u/my proj/src/a b.py');
  // In the synced folder but not on this machine (written by the program): the pod's file.
  assert.equal(m.toLocal('/workspace/my proj/out/gen.py'), `kgpu://${POD}/workspace/my%20proj/out/gen.py`);
  // A library file (outside /workspace): the read-only view of it.
  assert.equal(m.toLocal('/usr/lib/python3.11/json/__init__.py'), `kgpu-lib://${POD}/usr/lib/python3.11/json/__init__.py`);
  assert.equal(m.toLocal('<string>'), '<string>');
  // A kgpu:// URI of this pod is its path; another pod's is left alone.
  assert.equal(m.toRemote(`kgpu://${POD}/workspace/my%20proj/out/gen.py`), '/workspace/my proj/out/gen.py');
  assert.equal(m.toRemote('kgpu://gpu-rent-other/x.py'), 'kgpu://gpu-rent-other/x.py');
  // Names with #, ? and quotes survive the round trip through a URI.
  const odd = `/opt/it's "#1"?.py`;
  assert.equal(m.toRemote(m.toLocal(odd)), odd);
});

test('Windows local paths map with forward slashes in the pod', () => {
  const m = new PodPathMap({
    podId: POD,
    localRoot: 'C:\\Users\\u\\proj',
    remoteRoot: '/workspace/proj',
    localExists: () => true,
    pathModule: path.win32,
  });
  assert.equal(m.toRemote('C:\\Users\\u\\proj\\pkg\\train.py'), '/workspace/proj/pkg/train.py');
  assert.equal(m.toLocal('/workspace/proj/pkg/train.py'), 'C:\\Users\\u\\proj\\pkg\\train.py');
});

test('every source in a message is rewritten: requests to the pod, responses and events to the editor', () => {
  const m = new PodPathMap({ podId: POD, localRoot: '/p', remoteRoot: '/workspace/p', localExists: () => true, pathModule: path.posix });
  const req = m.mapToPod({
    type: 'request',
    command: 'setBreakpoints',
    arguments: { source: { path: '/p/t.py' }, breakpoints: [{ line: 3 }] },
  });
  assert.equal(req.arguments.source.path, '/workspace/p/t.py');
  const resp: any = m.mapToEditor({
    type: 'response',
    body: {
      stackFrames: [
        { source: { path: '/workspace/p/t.py' } },
        { source: { path: '/usr/lib/python3/dist-packages/torch/nn/modules/module.py', sources: [{ path: '/workspace/p/u.py' }] } },
      ],
    },
  });
  assert.equal(resp.body.stackFrames[0].source.path, '/p/t.py');
  assert.equal(resp.body.stackFrames[1].source.path, `kgpu-lib://${POD}/usr/lib/python3/dist-packages/torch/nn/modules/module.py`);
  assert.equal(resp.body.stackFrames[1].source.presentationHint, 'deemphasize', 'library frames are de-emphasized');
  assert.equal(resp.body.stackFrames[1].source.sources[0].path, '/p/u.py');
  const ev = m.mapToEditor({ type: 'event', event: 'breakpoint', body: { breakpoint: { source: { path: '/workspace/p/t.py' } } } });
  assert.equal(ev.body.breakpoint.source.path, '/p/t.py');
});

test("library frames (pod files outside /workspace and the synced folder) open read-only (kgpu-lib://); the user's pod files stay writable (kgpu://)", () => {
  const m = new PodPathMap({ podId: POD, localRoot: '/p', remoteRoot: '/srv/proj', localExists: () => false, pathModule: path.posix });
  const lib = '/root/.cache/kgpu/venvs/abc/lib/python3.11/site-packages/torch/nn/functional.py';
  assert.equal(m.toLocal(lib), `kgpu-lib://${POD}${lib}`, 'a venv is a library');
  assert.equal(m.toLocal('/usr/lib/python3.11/os.py'), `kgpu-lib://${POD}/usr/lib/python3.11/os.py`);
  const venv = '/workspace/.kgpu/venvs/proj-1a2b/lib/python3.11/site-packages/numpy/core/numeric.py';
  assert.equal(m.toLocal(venv), `kgpu-lib://${POD}${venv}`, "the project's venv in /workspace is a library too");
  assert.equal(m.toLocal('/workspace/.kgpu/venvs/proj-1a2b/bin/tool.py'), `kgpu-lib://${POD}/workspace/.kgpu/venvs/proj-1a2b/bin/tool.py`);
  assert.equal(
    m.toLocal('/srv/proj/.venv/lib/python3.11/site-packages/a.py'),
    `kgpu-lib://${POD}/srv/proj/.venv/lib/python3.11/site-packages/a.py`,
  );
  assert.equal(m.toLocal('/workspace/other/helper.py'), `kgpu://${POD}/workspace/other/helper.py`, "another project of the user's");
  assert.equal(m.toLocal('/srv/proj/gen.py'), `kgpu://${POD}/srv/proj/gen.py`, 'the synced folder, wherever it is');
  assert.equal(m.toLocal('/workspacex/a.py'), `kgpu-lib://${POD}/workspacex/a.py`, 'a sibling of /workspace is not inside it');
  // A breakpoint set in the read-only view maps back to the pod path.
  assert.equal(m.toRemote(`kgpu-lib://${POD}/usr/lib/python3.11/os.py`), '/usr/lib/python3.11/os.py');
  assert.equal(m.toRemote('kgpu-lib://gpu-rent-other/usr/x.py'), 'kgpu-lib://gpu-rent-other/usr/x.py');
  // A library file the editor opened itself through kgpu:// (to set a breakpoint) keeps that form.
  assert.equal(m.toRemote(`kgpu://${POD}/usr/lib/python3.11/json/decoder.py`), '/usr/lib/python3.11/json/decoder.py');
  assert.equal(m.toLocal('/usr/lib/python3.11/json/decoder.py'), `kgpu://${POD}/usr/lib/python3.11/json/decoder.py`);
  const frames: any = m.mapToEditor({ type: 'response', body: { stackFrames: [{ source: { path: '/usr/lib/python3.11/os.py' } }] } });
  assert.equal(frames.body.stackFrames[0].source.presentationHint, 'deemphasize');
});

test('the DAP decoder reassembles split messages and bounds what the pod may send', () => {
  const a = encodeDap({ seq: 1, type: 'event', event: 'output', body: { output: 'héllo\n' } });
  const b = encodeDap({ seq: 2, type: 'response', request_seq: 1, success: true });
  const all = Buffer.concat([a, b]);
  const d = new DapDecoder();
  const got = [];
  for (let i = 0; i < all.length; i += 7) got.push(...d.push(all.subarray(i, i + 7)));
  assert.deepEqual(
    got.map((x) => x.seq),
    [1, 2],
  );
  assert.equal((got[0] as { body?: { output?: string } }).body?.output, 'héllo\n');
  assert.throws(() => new DapDecoder(1000).push(Buffer.from('Content-Length: 1001\r\n\r\n')), DapFramingError);
  assert.throws(() => new DapDecoder().push(Buffer.alloc(9000, 0x41)), DapFramingError, 'a header without an end is bounded');
  assert.throws(() => new DapDecoder().push(Buffer.from('Content-Length: 2\r\n\r\n{]')), DapFramingError);
});
