/**
 * Scenario 4 — re-sync after a one-line edit in a 50 MB tree.
 *   ours:      syncUp (hash cache kept, as the extension keeps it in its global storage): bytes
 *              written to the pod (SyncResult.wireBytes: path list, tar headers, content, manifest
 *              lines, gzip'd) and file-content bytes (uploadedBytes), and the time.
 *   reference: what the manual workflow does to be sure the pod is current: `scp -O -r` the tree
 *              (it sends every file: the tree's size), and its time.
 * Each run checks the edited file arrived in the pod.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { syncUp } from '../../src/kgpu/transfer/sync';
import type { BenchEnv } from './env';
import { interleave, now, runTool, summarize, type BenchConfig, type ScenarioResult } from './measure';

function writeTree(dir: string, dataFiles: number, dataBytes: number): number {
  let total = 0;
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  for (let i = 0; i < 20; i++) {
    const lines = [`"""module ${i}"""`];
    for (let j = 0; j < 80; j++) lines.push(`value_${j} = ${j * i}  # a line of ordinary source text`);
    const text = lines.join('\n') + '\n';
    fs.writeFileSync(path.join(dir, 'src', `mod${i}.py`), text);
    total += Buffer.byteLength(text);
  }
  for (let i = 0; i < dataFiles; i++) {
    fs.writeFileSync(path.join(dir, 'data', `shard-${i}.bin`), randomBytes(dataBytes));
    total += dataBytes;
  }
  return total;
}

function editOneLine(file: string, rep: number): number {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines[5] = `value_4 = ${1000 + rep}  # edited for run ${rep}`;
  fs.writeFileSync(file, lines.join('\n'));
  return fs.statSync(file).size;
}

export async function benchSync(env: BenchEnv, cfg: BenchConfig): Promise<ScenarioResult[]> {
  const local = path.join(env.tmp, 'sync-tree');
  const stateDir = path.join(env.tmp, 'sync-state');
  const dataFiles = cfg.quick ? 2 : 48;
  const dataBytes = cfg.quick ? 256 * 1024 : 1024 * 1024;
  const treeBytes = writeTree(local, dataFiles, dataBytes);
  const edited = path.join(local, 'src', 'mod3.py');
  const remoteOurs = '/workspace/sync-ours';
  const t0 = now();
  const first = await syncUp(env.pod, local, remoteOurs, { stateDir });
  const firstMs = now() - t0;

  const wire: number[] = [];
  const content: number[] = [];
  const changedSizes: number[] = [];
  const refBytes: number[] = [];
  let rep = 0;
  const times = await interleave(
    cfg,
    async () => {
      const r = ++rep;
      const changed = editOneLine(edited, r);
      const t = now();
      const res = await syncUp(env.pod, local, remoteOurs, { stateDir });
      const ms = now() - t;
      if (res.uploadedFiles !== 1) throw new Error(`bench sync: ${res.uploadedFiles} files uploaded after a one-file edit`);
      const there = await env.sh(`grep -c 'edited for run ${r}$' ${remoteOurs}/src/mod3.py || true`);
      if (there.trim() !== '1') throw new Error('bench sync: the edit did not reach the pod');
      wire.push(res.wireBytes);
      content.push(res.uploadedBytes);
      changedSizes.push(changed);
      return ms;
    },
    async () => {
      const t = now();
      await runTool('scp', env.scpArgs('-r', local, env.remote('/workspace/'))); // → /workspace/sync-tree
      refBytes.push(treeBytes);
      return now() - t;
    },
  );
  // The warm-up run of each side is not counted.
  wire.shift();
  content.shift();
  changedSizes.shift();
  refBytes.shift();
  const changed = Math.max(...changedSizes);
  const wireMed = summarize(wire).median;
  return [
    {
      key: 'sync_bytes',
      label: `4. re-sync after 1-line edit, bytes sent (${(treeBytes / 1e6).toFixed(0)} MB tree)`,
      unit: 'bytes',
      ours: wire,
      reference: refBytes,
      goal: `≤ 2× the changed file (${changed} B)`,
      met: wireMed <= 2 * changed,
      extra: {
        changed_file_bytes: changed,
        ours_content_bytes: summarize(content).median,
        tree_bytes: treeBytes,
        first_sync_ms: firstMs,
        first_sync_wire_bytes: first.wireBytes,
        ours_measure: 'SyncResult.wireBytes (all bytes written to the pod, after gzip)',
        reference_measure: 'tree size (scp -O -r sends every file)',
      },
    },
    {
      key: 'sync_time',
      label: '4. re-sync after 1-line edit, time (syncUp vs scp -O -r)',
      unit: 'ms',
      ours: times.ours,
      reference: times.reference,
      goal: '—',
      met: null,
      extra: { tree_bytes: treeBytes },
    },
  ];
}
