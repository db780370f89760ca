/**
 * Sweep files beside the script (src/kgpu/sweeps/sweep-file.ts): sweep.yaml / sweep.yml with the
 * schema of sweep.json, read with the `yaml` package; bounded; errors with the file's line.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { parseSweepJson } from '../../../src/kgpu/sweeps/grid';
import { MAX_SWEEP_FILE_BYTES, parseSweepYaml, readSweepFile, sweepFilesBeside } from '../../../src/kgpu/sweeps/sweep-file';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-sweep-file-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('sweep.yaml: the same grid as sweep.json gives the same runs (YAML numbers, flags, args appended)', () => {
  const yaml = `# a sweep
grid:
  --lr: [1e-3, 3e-4]
  --amp: [true, false]
  --opt: adam
args: [--epochs, 2]
`;
  const json = '{"grid": {"--lr": [0.001, 0.0003], "--amp": [true, false], "--opt": "adam"}, "args": ["--epochs", "2"]}';
  assert.deepEqual(parseSweepYaml(yaml), parseSweepJson(json));
  assert.deepEqual(parseSweepYaml(yaml).runs[0], ['--lr', '0.001', '--amp', '--opt', 'adam', '--epochs', '2']);
  assert.deepEqual(parseSweepYaml('runs:\n  - [--lr, "1e-3"]\n  - - --bs\n    - 64\n').runs, [
    ['--lr', '1e-3'],
    ['--bs', '64'],
  ]);
});

test('sweep.yaml errors name the file and the line: bad YAML, a duplicate key, a value of the wrong kind, no grid', () => {
  assert.throws(
    () => parseSweepYaml('grid:\n  --lr: [1, 2\n  --bs: 3\n'),
    (e: Error) => /^sweep\.yaml line [23], column \d+: /.test(e.message),
  );
  assert.throws(
    () => parseSweepYaml('grid:\n  --lr: [1]\n  --lr: [2]\n', 'sweep.yml'),
    (e: Error) => /^sweep\.yml line 3, column \d+: .*unique/i.test(e.message),
  );
  assert.throws(
    () => parseSweepYaml('runs:\n  - [--lr, 1]\n  - --bs\n'),
    (e: Error) => e.message === 'sweep.yaml line 3: runs[1] must be a list of arguments.',
  );
  assert.throws(
    () => parseSweepYaml('grid:\n  --lr:\n    - 1\n    - {a: 1}\n'),
    (e: Error) => /^sweep\.yaml line 4: grid "--lr": \{"a":1\} is not a string or a number\.$/.test(e.message),
  );
  assert.throws(
    () => parseSweepYaml('\n\nlr: 1\n'),
    (e: Error) => /^sweep\.yaml line 3: sweep\.yaml must have "grid"/.test(e.message),
  );
  assert.throws(
    () => parseSweepYaml('- 1\n- 2\n'),
    (e: Error) => /^sweep\.yaml line 1: sweep\.yaml must be an object/.test(e.message),
  );
});

test('sweep files beside a script: json, yaml and yml found, bounded in size, a missing one is no error', async () => {
  const dir = path.join(tmp, 'beside');
  fs.mkdirSync(dir);
  const script = path.join(dir, 'train.py');
  assert.deepEqual(await sweepFilesBeside(script), []);
  fs.writeFileSync(path.join(dir, 'sweep.yml'), 'grid:\n  --bs: [1, 2, 3]\n');
  fs.writeFileSync(path.join(dir, 'sweep.json'), '{"runs": [["--lr", "1"]]}');
  assert.deepEqual(
    (await sweepFilesBeside(script)).map((f) => [f.name, f.runs.length]),
    [
      ['sweep.json', 1],
      ['sweep.yml', 3],
    ],
  );
  const big = path.join(dir, 'sweep.yaml');
  fs.writeFileSync(big, `# ${'x'.repeat(MAX_SWEEP_FILE_BYTES)}\ngrid: {--a: [1]}\n`);
  await assert.rejects(readSweepFile(big), /sweep\.yaml is \d+ bytes; a sweep file may have at most 1048576 bytes/);
  await assert.rejects(sweepFilesBeside(script), /at most/);
  fs.rmSync(big);
  fs.mkdirSync(big);
  await assert.rejects(readSweepFile(big), /not a regular file/);
});
