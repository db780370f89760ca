/**
 * `ensure --wait` reads the why file of the server it started once per look: a starting server's
 * "starting" note (with this start's token) goes the moment it serves, and reading its two lines
 * in two reads could see the token, then no note — taken as "it stopped" (the next ensure after a
 * refused preload said 'stopped' instead of 'ready' on a loaded machine). A stand-in interpreter
 * whose "server" puts up and takes down that note as fast as it can, and never serves nor stops,
 * must leave the wait running until its bound: 'timeout', never 'stopped'.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureForkServer } from '../../../src/kgpu/warm';
import { startWarmPod, type WarmPod } from './warm-fixture';

const PY = '/workspace/flicker/python';
let w: WarmPod;

before(async () => {
  w = await startWarmPod();
  // Called as the server: "$p" FILE serve F KEY HASH TOKEN --preload= --learn=…
  w.write(
    PY,
    [
      '#!/bin/sh',
      'F=$3; k=$4; t=$6',
      'while :; do',
      '  printf "starting the fork server is still starting\\ntoken %s\\n" "$t" > "$F/.flicker"',
      '  mv -f "$F/.flicker" "$F/fs-$k.why"',
      '  rm -f "$F/fs-$k.why"',
      'done',
      '',
    ].join('\n'),
  );
  await w.sh(`chmod +x ${PY}`);
});

after(async () => {
  await w?.stop(); // the pod's end kills the stand-in
});

test("a starting server's note that comes and goes is never read as a stop: the wait runs to its bound", async () => {
  const r = await ensureForkServer(w.pod, w.script, { python: PY, cwd: '/workspace', script: 'x.py', args: [], env: {} }, { waitS: 3 });
  assert.deepEqual(r, { state: 'timeout' });
});
