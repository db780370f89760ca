/**
 * The simulator's stand-in for PyPI (issue 22): pods have no internet, so the simulator serves a
 * PEP 503 index of a few wheels it builds itself, reachable from inside a pod at the same URL as
 * here (the pod's relay), and exported to pods as PIP_INDEX_URL / UV_INDEX_URL. The image has pip
 * and venv (Debian's python3-pip, python3-venv): `python3 -m venv --system-site-packages` + pip
 * install from it, keeping the image's PyTorch; a pinned version installs that version; an unknown
 * or broken package fails with pip's own error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Simulator } from '../../sim/index';
import { rentReady, startSim } from './rest-fixture';

describe("the simulator's package index (PyPI stand-in) and pip in pods", () => {
  let sim: Simulator;
  let podId: string;
  const cleanups: (() => unknown)[] = [];
  const run = async (command: string) => {
    const h = sim.state.pods.get(podId)!.handle!;
    return h.exec(['bash', '-c', command], { timeoutMs: 240_000, maxOutputBytes: 1 << 20 });
  };
  before(async () => {
    const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as Parameters<typeof startSim>[0];
    sim = await startSim(t);
    podId = await rentReady(sim, { gpu_model: 'rtx3080', gpu_count: 1 });
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it('serves a PEP 503 simple index, here and inside a pod at the same URL (its PIP_INDEX_URL and UV_INDEX_URL)', async () => {
    const url = sim.packageIndex.url;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/simple\/$/);
    const root = await (await fetch(url)).text();
    const projects = [...root.matchAll(/<a href="\/simple\/([^/]+)\/">/g)].map((m) => m[1]);
    assert.deepEqual(projects, ['kgpu-broken', 'kgpu-demo-utils', 'tinyplot']);
    // Names are normalized (a redirect, as PyPI does); unknown projects are 404.
    const odd = await fetch(`${url}Kgpu_Demo.Utils/`, { redirect: 'manual' });
    assert.deepEqual([odd.status, odd.headers.get('location')], [301, '/simple/kgpu-demo-utils/']);
    assert.equal((await fetch(`${url}no-such-package/`)).status, 404);

    const r = await run('echo "$PIP_INDEX_URL $UV_INDEX_URL"; curl -fsS "${PIP_INDEX_URL}kgpu-demo-utils/"');
    assert.equal(r.exit_code, 0, r.stderr);
    const [env, ...page] = r.stdout.split('\n');
    assert.equal(env, `${url} ${url}`);
    const links = [...page.join('\n').matchAll(/<a href="(\/files\/[^"#]+)#sha256=([0-9a-f]{64})"/g)];
    assert.deepEqual(
      links.map((m) => m[1]),
      ['/files/kgpu_demo_utils-1.0.0-py3-none-any.whl', '/files/kgpu_demo_utils-1.1.0-py3-none-any.whl'],
    );
    // The hash in the link is the file's.
    const got = await run(`curl -fsS "${url.replace(/\/simple\/$/, '')}${links[1][1]}" | sha256sum`);
    assert.equal(got.stdout.split(' ')[0], links[1][2]);
  });

  it("in a pod: python3 -m venv --system-site-packages, then pip install from the index — the newest version, a dependency, a pinned version — and the image's torch still imports", async () => {
    const r = await run(
      [
        'set -e',
        'python3 -m venv --system-site-packages /tmp/v',
        '/tmp/v/bin/pip install --no-color tinyplot',
        '/tmp/v/bin/python -c "import kgpu_demo_utils, tinyplot; print(kgpu_demo_utils.__version__, tinyplot.sparkline([3, 1, 2]))"',
        '/tmp/v/bin/pip install --no-color kgpu-demo-utils==1.0.0',
        '/tmp/v/bin/python -c "import kgpu_demo_utils, torch; print(kgpu_demo_utils.__version__, kgpu_demo_utils.moving_average([1, 3], 2), torch.tensor([2.0]).sum().item())"',
        'python3 -c "import kgpu_demo_utils" 2>&1 | tail -1',
      ].join('\n'),
    );
    assert.equal(r.exit_code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /Successfully installed kgpu-demo-utils-1\.1\.0 tinyplot-0\.1/);
    const lines = r.stdout.trim().split('\n');
    assert.ok(lines.includes('1.1.0 █▁▄'), `the newest version and the dependent package work: ${r.stdout}`);
    assert.match(r.stdout, /Successfully installed kgpu-demo-utils-1\.0\.0/);
    assert.ok(lines.includes('1.0.0 [1.0, 2.0] 2.0'), `the pinned version, with the image's torch: ${r.stdout}`);
    assert.equal(lines.at(-1), "ModuleNotFoundError: No module named 'kgpu_demo_utils'", 'the venv, not the image, has it');
    assert.ok(sim.packageIndex.downloads('tinyplot-0.1-py3-none-any.whl') >= 1);
  });

  it("an unknown package and a broken wheel fail with pip's own errors", async () => {
    const r = await run(
      'test -x /tmp/v/bin/pip || python3 -m venv /tmp/v; /tmp/v/bin/pip install --no-color no-such-package; echo "exit $?"; /tmp/v/bin/pip install --no-color kgpu-broken; echo "exit $?"',
    );
    const [unknown, broken] = r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('exit '));
    assert.equal(unknown, 'exit 1', r.stdout);
    assert.match(r.stderr, /ERROR: Could not find a version that satisfies the requirement no-such-package \(from versions: none\)/);
    assert.match(r.stderr, /ERROR: No matching distribution found for no-such-package/);
    assert.equal(broken, 'exit 1', r.stdout);
    assert.match(r.stderr, /ERROR: kgpu-broken has an invalid wheel, .*\.dist-info directory not found/, r.stderr);
  });
});
