/**
 * Reading torchrun's `--tee 3` output back as ranks (src/kgpu/launch/rank-log.ts): headers split
 * across chunks, partial lines of one rank continued behind another header after other ranks'
 * lines, torchrun's own lines, the failure summary; the launcher choice (src/kgpu/launch/torchrun.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeRankFailure, parseTorchrunFailure, RankLog, RankSplitter } from '../../../src/kgpu/launch/rank-log';
import { parseLauncherSetting, resolveLauncher, torchrunPrefix } from '../../../src/kgpu/launch/torchrun';

const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

test('RankSplitter: a header cut between chunks, partial lines continued after another rank, torchrun lines after a newline', () => {
  const s = new RankSplitter();
  const text =
    'WARNING:torch.distributed.run:\n[default0]:\repoch 1 step 1[default1]:hello\n[default0]:\repoch 1 step 2\n[default1]:[default1] is not a header here\nsummary\n';
  const segs = [];
  for (let i = 0; i < text.length; i += 3) segs.push(...s.push(text.slice(i, i + 3)));
  segs.push(...s.end());
  const merged: { rank: number | undefined; text: string }[] = [];
  for (const g of segs) {
    const last = merged[merged.length - 1];
    if (last && last.rank === g.rank) last.text += g.text;
    else merged.push({ ...g });
  }
  assert.deepEqual(merged, [
    { rank: undefined, text: 'WARNING:torch.distributed.run:\n' },
    { rank: 0, text: '\repoch 1 step 1' },
    { rank: 1, text: 'hello\n' },
    { rank: 0, text: '\repoch 1 step 2\n' },
    { rank: 1, text: '[default1] is not a header here\n' },
    { rank: undefined, text: 'summary\n' },
  ]);
});

test('RankLog: a prefix per line and per \\r redraw; another rank ends an open line; our own lines start on a new line', () => {
  const log = new RankLog(12);
  let out = log.push(Buffer.from('[default0]:\rstep 1'));
  out += log.push(Buffer.from('[default11]:ready\n[default0]:\rstep 2\n'));
  assert.equal(plain(out), '[rank  0] \r[rank  0] step 1\r\n[rank 11] ready\r\n[rank  0] \r[rank  0] step 2\r\n');
  assert.equal(log.atLineStart, true);
  out = log.push(Buffer.from('[default3]:no newline yet'));
  assert.equal(log.atLineStart, false);
  assert.equal(log.closeLine(), '\r\n');
  assert.equal(plain(log.setFilter(11)), '[rank 11] ready\r\n');
  assert.equal(plain(log.push(Buffer.from('[default0]:hidden\n[default11]:shown\n'))), '[rank 11] shown\r\n');
  // UTF-8 split between chunks stays whole.
  const euro = Buffer.from('[default11]:€\n');
  assert.equal(plain(log.push(euro.subarray(0, 13)) + log.push(euro.subarray(13))), '[rank 11] €\r\n');
});

test('RankLog: a line another rank cut goes on behind a fresh prefix; when only its end is left, no empty line', () => {
  // As torchrun --tee sends a `\r` progress line: the part written so far, another rank's line, then the
  // end of the first line on its own (its readline() saw the `\r` only with the next write).
  const log = new RankLog(2);
  const out =
    log.push(Buffer.from('[default0]:step 5/5')) +
    log.push(Buffer.from('[default1]:rank 1 done\n')) +
    log.push(Buffer.from('[default0]:\n[default0]:epoch 2 loss 1.7\n'));
  assert.equal(plain(out), '[rank 0] step 5/5\r\n[rank 1] rank 1 done\r\n[rank 0] epoch 2 loss 1.7\r\n');
  // Text after the cut goes on behind a fresh prefix, as before; a rank's own empty line stays.
  const more =
    log.push(Buffer.from('[default0]:half')) +
    log.push(Buffer.from('[default1]:x\n')) +
    log.push(Buffer.from('[default0]: rest\n[default0]:\n'));
  assert.equal(plain(more), '[rank 0] half\r\n[rank 1] x\r\n[rank 0]  rest\r\n[rank 0] \r\n');
});

const SUMMARY = `Traceback (most recent call last):
  File "/usr/bin/torchrun", line 33, in <module>
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
fails.py FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2026-11-30_13:01:02
  host      : pod-1
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 41)
  error_file: <N/A>
  traceback : Signal 15 (SIGTERM) received by PID 41
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-11-30_13:01:01
  host      : pod-1
  rank      : 1 (local_rank: 1)
  exitcode  : 3 (pid: 42)
  error_file: <N/A>
  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html
============================================================
`;

test("torchrun's failure summary: the root cause's rank and exit code first, the others counted", () => {
  const f = parseTorchrunFailure(SUMMARY);
  assert.deepEqual(f, { rank: 1, exitCode: 3, others: 1 });
  assert.equal(describeRankFailure(f!), 'rank 1 failed first: exit code 3 (and 1 other rank)');
  assert.equal(describeRankFailure({ rank: 0, exitCode: -9, others: 0 }), 'rank 0 failed first: killed by SIGKILL');
  assert.equal(
    parseTorchrunFailure(SUMMARY.replace(/Failures:[^]*?---+\nRoot/, 'Failures:\n  <NO_OTHER_FAILURES>\n------\nRoot'))?.others,
    0,
  );
  assert.equal(parseTorchrunFailure('plain crash\n'), undefined);
  const log = new RankLog(2);
  log.push(Buffer.from('[default1]:boom\n' + SUMMARY));
  assert.deepEqual(log.failure(), { rank: 1, exitCode: 3, others: 1 });
});

test('kgpu.launcher: python and torchrun are taken as set; auto asks on a multi-GPU pod until a choice is remembered', () => {
  assert.equal(parseLauncherSetting('torchrun'), 'torchrun');
  assert.equal(parseLauncherSetting('mpirun'), 'auto');
  assert.deepEqual(resolveLauncher('python', 4, 'torchrun'), { kind: 'python' });
  assert.deepEqual(resolveLauncher('torchrun', 1, undefined), { kind: 'torchrun', nprocPerNode: 1 });
  assert.deepEqual(resolveLauncher('auto', 1, 'torchrun'), { kind: 'python' });
  assert.equal(resolveLauncher('auto', 2, undefined), undefined);
  assert.deepEqual(resolveLauncher('auto', 2, 'torchrun'), { kind: 'torchrun', nprocPerNode: 2 });
  assert.deepEqual(resolveLauncher('auto', 2, 'python'), { kind: 'python' });
  assert.throws(() => torchrunPrefix('python', 0), /1–64/);
});
