/**
 * What the fork server reads from a script before it forks (pod/forkserver.py, run here with this
 * machine's python3 — the simulator's pods run the same one): the packages it imports (learned for
 * the preload), and whether it changes os.environ / sys.path before importing a preloaded package
 * (which read them at import in the server: such a run must be cold). Also the start-mode line the
 * start command prints, and which kgpu.python values can start warm.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeStartMode, parseStartMode, preloadList, wantsServer, warmUnsupported } from '../../../src/kgpu/warm';
import { RESOLVE_SHELL } from '../../../src/kgpu/warm/pod-shell';

const POD_DIR = path.resolve(__dirname, '../../../pod');

/** For each project (files by name; the script is main.py): the conflict with `preloaded`, and the imports met in order. */
function analyze(projects: Record<string, string>[], preloaded: string[]): { conflict: string | null; imports: string[] }[] {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-warm-analysis-'));
  try {
    const dirs = projects.map((files, i) => {
      const d = path.join(root, `p${i}`);
      fs.mkdirSync(d);
      for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(d, name), text);
      return d;
    });
    const code = [
      'import json, os, sys',
      `sys.path.insert(0, ${JSON.stringify(POD_DIR)})`,
      'import forkserver as fs',
      'out = []',
      `for d in json.loads(sys.argv[1]):`,
      '    a = fs.analyze(os.path.join(d, "main.py"), d)',
      `    out.append({"conflict": fs.environ_conflict(a, set(${JSON.stringify(preloaded)})), "imports": [e[1] for e in a.events if e[0] == "import"]})`,
      'print(json.dumps(out))',
    ].join('\n');
    return JSON.parse(execFileSync('python3', ['-I', '-c', code, JSON.stringify(dirs)], { encoding: 'utf8' })) as {
      conflict: string | null;
      imports: string[];
    }[];
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

test('os.environ or sys.path changed before importing a preloaded package: cold, with where and what', () => {
  const cases: [Record<string, string>, string | null][] = [
    [{ 'main.py': 'import os\nos.environ["OMP_NUM_THREADS"] = "1"\nimport torch\n' }, 'main.py changes os.environ before importing torch'],
    [{ 'main.py': 'import torch\nimport os\nos.environ["OMP_NUM_THREADS"] = "1"\n' }, null],
    [{ 'main.py': 'import os\nos.environ["CUDA_VISIBLE_DEVICES"] = "1"\nos.environ["MASTER_PORT"] = "29500"\nimport torch\n' }, null],
    [
      { 'main.py': 'import os\nos.environ.setdefault("HF_HOME", "/cache")\nimport torch\n' },
      'main.py changes os.environ before importing torch',
    ],
    [{ 'main.py': 'import os\nos.putenv("A", "1")\nimport numpy\n' }, 'main.py changes os.environ before importing numpy'],
    [{ 'main.py': 'from dotenv import load_dotenv\nload_dotenv()\nimport torch\n' }, 'main.py changes os.environ before importing torch'],
    [{ 'main.py': 'import sys\nsys.path.insert(0, "vendor")\nimport torch\n' }, 'main.py changes sys.path before importing torch'],
    [
      { 'main.py': 'import setup_env\nimport torch\n', 'setup_env.py': 'import os\nos.environ["KMP_AFFINITY"] = "x"\n' },
      'setup_env.py changes os.environ before importing torch',
    ],
    [{ 'main.py': 'import os\ndef configure():\n    os.environ["A"] = "1"\nimport torch\n' }, null],
    [
      { 'main.py': 'import os\nos.environ["A"] = "1"\ndef main():\n    import torch\n' },
      'main.py changes os.environ and imports torch later',
    ],
    [{ 'main.py': 'import os\nos.environ["A"] = "1"\nimport json\n' }, null],
    [
      { 'main.py': 'import os\nos.environ[name] = "1"  # not a known-lazy literal\nimport torch\n' },
      'main.py changes os.environ before importing torch',
    ],
  ];
  const got = analyze(
    cases.map((c) => c[0]),
    ['torch', 'numpy'],
  );
  cases.forEach(([files, want], i) => assert.equal(got[i].conflict, want, files['main.py']));
});

test('the imports a script meets (to learn what to preload): top level, in try/if blocks, in functions, through project modules; never relative ones', () => {
  const [a] = analyze(
    [
      {
        'main.py': [
          'import os, numpy as np',
          'from torch.utils.data import DataLoader',
          'try:',
          '    import yaml',
          'except ImportError:',
          '    yaml = None',
          'if True:',
          '    import pandas',
          'from . import sibling_rel',
          'import model',
          'def train():',
          '    import matplotlib.pyplot',
          '',
        ].join('\n'),
        'model.py': 'import sklearn.linear_model\n',
      },
    ],
    [],
  );
  assert.deepEqual(a.imports, ['os', 'numpy', 'torch', 'yaml', 'pandas', 'sklearn', 'matplotlib']);
});

test('the start mode line, what the log header says, when a fork server is wanted, which interpreters can start warm', () => {
  assert.deepEqual(parseStartMode('noise\nKGPU-START warm\n'), { warm: true });
  assert.deepEqual(parseStartMode('KGPU-START cold stale installed packages changed (/x/y.py)\n'), {
    warm: false,
    code: 'stale',
    reason: 'installed packages changed (/x/y.py)',
  });
  assert.equal(parseStartMode('error: something\n'), undefined);
  assert.equal(describeStartMode({ warm: true }), 'warm start');
  assert.equal(describeStartMode({ warm: false, code: 'none', reason: 'no fork server yet' }), 'cold start (no fork server yet)');
  assert.equal(wantsServer({ warm: false, code: 'none', reason: '' }), true);
  assert.equal(wantsServer({ warm: false, code: 'dead', reason: '' }), true);
  assert.equal(wantsServer({ warm: false, code: 'stale', reason: '' }), false, 'it replaces itself');
  assert.equal(wantsServer({ warm: false, code: 'environ', reason: '' }), false);
  assert.equal(wantsServer({ warm: true }), false);
  const run = { script: 'train.py', args: [], cwd: '/workspace/p', env: {} };
  for (const python of ['python', 'python3', '/opt/conda/bin/python', '.venv/bin/python', 'python3.11'])
    assert.equal(warmUnsupported({ ...run, python }), undefined, python);
  for (const python of ['uv run python', 'env python3', 'python -O', '$(evil)', '-python'])
    assert.match(warmUnsupported({ ...run, python }) ?? '', /not a plain interpreter/, python);
  assert.match(warmUnsupported({ ...run, python: 'python', script: '-c.py' }) ?? '', /starts with "-"/);
  assert.equal(preloadList(['torch', ' numpy ', 'torch', 'bad name', 'a.b', '1x', '$(x)']), 'torch,numpy,a.b');
});

test("the client's key for an interpreter is the start command's: forkserver.py's interpreter_key() = the shell's kgpu_key", () => {
  const paths = ['/usr/bin/python3', '/opt/my envs/bin/python', '/workspace/projé/.venv/bin/python3.11'];
  const shell = paths.map((p) => execFileSync('sh', ['-c', `${RESOLVE_SHELL}\nkgpu_key "$1"`, 'kgpu-key', p], { encoding: 'utf8' }).trim());
  const code = ['import json, sys', `sys.path.insert(0, ${JSON.stringify(POD_DIR)})`, 'import forkserver as fs'].join('\n');
  const python = JSON.parse(
    execFileSync('python3', ['-I', '-c', `${code}\nprint(json.dumps([fs.interpreter_key(p) for p in sys.argv[1:]]))`, ...paths], {
      encoding: 'utf8',
    }),
  ) as string[];
  assert.deepEqual(python, shell);
  for (const k of shell) assert.match(k, /^[0-9a-f]{16}$/);
  assert.equal(new Set(shell).size, paths.length);
});

test('kgpu_py finds the interpreter sh would run: a PATH search in the shell, command -v from the folder when PATH has a relative entry (an absolute answer only), a path from the folder; nothing else', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-resolve-'));
  try {
    const exe = (p: string, mode: number): void => {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, '#!/bin/sh\n');
      fs.chmodSync(p, mode);
    };
    exe(path.join(root, 'a b/python'), 0o644); // not executable: sh skips it
    exe(path.join(root, 'c/python'), 0o755);
    exe(path.join(root, 'proj/rel/python'), 0o755);
    exe(path.join(root, 'proj/.venv/bin/python'), 0o755);
    for (const g of ['g1', 'g2']) fs.mkdirSync(path.join(root, g));
    // Prints kgpu_i and the status; `after` checks the caller's IFS and globbing are as before.
    const resolve = (word: string, PATH: string): string =>
      execFileSync(
        'sh',
        [
          '-c',
          `${RESOLVE_SHELL}\nif kgpu_py "$1" "$2"; then echo "ok $kgpu_i"; else echo "fail [$kgpu_i]"; fi; set -- "$2"/../g?; echo "after [$IFS] $#"`,
          'r',
          word,
          path.join(root, 'proj'),
        ],
        { encoding: 'utf8', env: { PATH } },
      );
    const after = 'after [ \t\n] 2\n'; // g1 g2: globbing is on again
    assert.equal(resolve('python', `${root}/a b:${root}/c:/usr/bin:/bin`), `ok ${root}/c/python\n${after}`);
    // A relative PATH entry: command -v from the folder, whose answer must be absolute (rel/python is refused).
    assert.equal(resolve('python', `nothere:${root}/c:/usr/bin`), `ok ${root}/c/python\n${after}`);
    assert.equal(resolve('python', `rel:/usr/bin:/bin`), `fail []\n${after}`);
    assert.equal(resolve('.venv/bin/python', '/usr/bin:/bin'), `ok ${root}/proj/.venv/bin/python\n${after}`);
    assert.equal(resolve('nopython', `${root}/c:/usr/bin:/bin`), `fail []\n${after}`);
    assert.equal(resolve('cd', `rel:/usr/bin:/bin`), `fail []\n${after}`, 'a builtin is not an interpreter');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
