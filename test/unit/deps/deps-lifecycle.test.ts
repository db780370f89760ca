/**
 * The project environments' life in the pod (issue 22, second part), against a simulator pod and
 * its package index: a new environment removes the project's older ones that nothing uses (one a
 * running job uses stays; an idle fork server of a removed one is stopped); files pulled in with
 * `-r` / `-c` are part of the hash (editing one reinstalls); the install gets kgpu.env (a private
 * index's token reaches pip) without the value on any command line or in the output shown; with
 * installs off the run uses kgpu.python as it is and a missing module installs with its own pip.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { depsPlan, ensurePodDeps, installWithPython, missingModule } from '../../../src/kgpu/deps';
import { ensureForkServer, loadPodScript } from '../../../src/kgpu/warm';
import type { RunHandle } from '../../../src/kgpu/jobs/job-runner';
import { startDepsPod, type DepsPod } from './deps-fixture';

const PROBE = 'import sys, kgpu_demo_utils\nprint("prefix", sys.prefix)\nprint("utils", kgpu_demo_utils.__version__)\n';

describe("a project's environments in the pod: removed when old, hashed with their includes, installed with kgpu.env", () => {
  let d: DepsPod;
  before(async () => {
    d = await startDepsPod();
  });
  after(async () => {
    await d?.stop();
  });

  function project(name: string, files: Record<string, string>): { folder: string; file: (f: string) => string } {
    const folder = path.join(d.tmp, name);
    for (const [f, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(folder, f)), { recursive: true });
      fs.writeFileSync(path.join(folder, f), text);
    }
    return { folder, file: (f) => path.join(folder, f) };
  }

  const exists = async (p: string): Promise<boolean> => (await d.sh(`test -e '${p}' && echo yes || echo no`)).trim() === 'yes';

  it("a new environment removes the project's older ones nothing uses: one a running job uses stays (until it ends), an idle fork server's is stopped", async (t) => {
    const p = project('gc', {
      'requirements.txt': 'kgpu-demo-utils==1.0.0\n',
      // Waits for the test's go (a file) when given one: a job that keeps its environment in use.
      'main.py': `${PROBE}import os, time\nif len(sys.argv) > 1:\n    print("waiting", flush=True)\n    while not os.path.exists(sys.argv[1]):\n        time.sleep(0.02)\nprint("done")\n`,
    });
    const r = d.runner();
    const out: string[] = [];
    const run = (args: string[] = [], onData?: (s: string) => void): RunHandle =>
      r.runFile({
        podId: d.fx.podId,
        target: { kind: 'local', folder: p.folder, file: p.file('main.py') },
        python: 'python',
        args,
        env: {},
        onDepsOutput: (l) => out.push(l),
        onData: onData && ((c) => onData(c.toString('utf8'))),
      });

    // V1, used by a job that runs on.
    let seen = '';
    let waiting!: () => void;
    const isWaiting = new Promise<void>((resolve) => (waiting = resolve));
    const go = path.join(d.fx.hostDir, 'gc-go');
    t.after(() => fs.writeFileSync(go, '')); // the job ends even if an assertion fails
    const busy = run(['/workspace/gc-go'], (s) => {
      seen += s;
      if (seen.includes('waiting\n')) waiting();
    });
    await isWaiting;
    const v1 = (await busy.deps)!.plan.venvDir;

    // V2, with a warm fork server (idle).
    fs.writeFileSync(p.file('requirements.txt'), 'kgpu-demo-utils==1.1.0\n');
    const second = run();
    assert.equal((await d.finish(second)).exitCode, 0);
    const plan2 = (await second.deps)!.plan;
    const v2 = plan2.venvDir;
    assert.ok(await exists(v1), 'V1 is kept: in use (and just used)');
    const remote = { python: plan2.python, cwd: plan2.projectDir, script: 'main.py', args: [], env: {} };
    assert.equal((await ensureForkServer(d.pod, loadPodScript('forkserver.py'), remote, { waitS: 180 })).state, 'ready');
    const fsPid = (await d.sh(`head -c 300 /tmp/kgpu-$(id -u)/fs-$(printf %s '${plan2.python}' | sha256sum | cut -c1-16).pid`)).split(
      /\s+/,
    )[0];
    assert.match(fsPid, /^\d+$/);
    assert.equal((await d.sh(`kill -0 ${fsPid} && echo alive`)).trim(), 'alive');

    // Both last used long ago; V3 is made.
    await d.sh(`touch -d '2000-01-01' '${v1}/.kgpu-deps.json' '${v2}/.kgpu-deps.json'`);
    out.length = 0;
    fs.writeFileSync(p.file('requirements.txt'), 'kgpu-demo-utils==1.0.0\ntinyplot\n');
    const third = run();
    assert.equal((await d.finish(third)).exitCode, 0);
    const v3 = (await third.deps)!.plan.venvDir;
    assert.equal((await third.deps)?.state, 'installed');
    assert.ok(!(await exists(v2)), `V2 is removed: ${out.join('\n')}`);
    assert.ok(await exists(v1), 'V1 stays: the running job uses it');
    assert.ok(await exists(v3));
    assert.ok(out.includes(`[kgpu] removed the old environment ${path.posix.basename(v2)}`), out.join('\n'));
    assert.ok(out.includes(`[kgpu] stopped the fork server of ${path.posix.basename(v2)}`), out.join('\n'));
    assert.ok(
      out.some((l) => l.startsWith(`[kgpu] keeping ${path.posix.basename(v1)}: in use (job ${busy.jobId}`)),
      out.join('\n'),
    );
    // The fork server ends (SIGTERM): wait for its state, bounded.
    assert.equal(
      (
        await d.sh(
          `i=0; while [ $i -lt 600 ]; do s=$(sed -n 's/^.*) \\(.\\) .*/\\1/p' /proc/${fsPid}/stat 2>/dev/null); case $s in ''|Z) echo gone; exit 0;; esac; i=$((i+1)); sleep 0.05; done; echo alive`,
        )
      ).trim(),
      'gone',
    );

    // The job on V1 finishes with its environment intact; then V1 is old and unused: the next new one removes it.
    fs.writeFileSync(go, '');
    const res = await d.finish(busy);
    assert.deepEqual([res.exitCode, res.log], [0, `prefix ${v1}\nutils 1.0.0\nwaiting\ndone\n`]);
    await d.sh(`touch -d '2000-01-01' '${v1}/.kgpu-deps.json'`);
    out.length = 0;
    fs.writeFileSync(p.file('requirements.txt'), 'kgpu-demo-utils==1.1.0\ntinyplot\n');
    const fourth = run();
    assert.equal((await d.finish(fourth)).exitCode, 0);
    assert.ok(!(await exists(v1)), out.join('\n'));
    assert.ok(await exists(v3), 'V3 stays: used in the last minutes');
    assert.ok(
      out.some((l) => l.startsWith(`[kgpu] keeping ${path.posix.basename(v3)}: used in the last `)),
      out.join('\n'),
    );
  });

  it('files pulled in with -r / -c (nested) are part of the hash: editing the constraints file reinstalls', async () => {
    const p = project('inc', {
      'requirements.txt': '# the pins live in reqs/\n-r reqs/base.txt\n',
      'reqs/base.txt': '-c constraints.txt\nkgpu-demo-utils\n',
      'reqs/constraints.txt': 'kgpu-demo-utils==1.0.0\n',
      'main.py': PROBE,
    });
    const r = d.runner();
    const run = (): RunHandle =>
      r.runFile({
        podId: d.fx.podId,
        target: { kind: 'local', folder: p.folder, file: p.file('main.py') },
        python: 'python',
        args: [],
        env: {},
      });
    const first = run();
    const res1 = await d.finish(first);
    const deps1 = (await first.deps)!;
    assert.equal(res1.log, `prefix ${deps1.plan.venvDir}\nutils 1.0.0\n`);
    fs.writeFileSync(p.file('reqs/constraints.txt'), 'kgpu-demo-utils==1.1.0\n');
    const second = run();
    const res2 = await d.finish(second);
    const deps2 = (await second.deps)!;
    assert.equal(deps2.state, 'installed', 'the edited constraints file makes a new environment');
    assert.equal(res2.log, `prefix ${deps2.plan.venvDir}\nutils 1.1.0\n`);
    assert.deepEqual(deps1.plan.included, ['reqs/base.txt', 'reqs/constraints.txt']);
  });

  it('the install gets kgpu.env (a private index URL with its token reaches pip): the value is on no command line and not in the output shown', async () => {
    const secret = d.credential;
    const indexUrl = `http://__token__:${secret}@${d.index.host}:${d.index.port}/private/simple/`;
    // A watcher in the pod: every command line seen while it runs; the secret comes in a file.
    fs.mkdirSync(path.join(d.fx.hostDir, 'watch'), { recursive: true });
    fs.writeFileSync(path.join(d.fx.hostDir, 'watch/secret'), secret);
    fs.writeFileSync(
      path.join(d.fx.hostDir, 'watch/watch.py'),
      [
        'import os, json',
        'w = "/workspace/watch/"',
        'secret = open(w + "secret", "rb").read()',
        'open(w + "ready", "w").close()',
        'leaks, pips = [], 0',
        'while not os.path.exists(w + "stop"):',
        '    for pid in os.listdir("/proc"):',
        '        try:',
        '            cmd = open("/proc/%s/cmdline" % pid, "rb").read(65536)',
        '        except OSError:',
        '            continue',
        '        if secret in cmd: leaks.append(cmd.replace(secret, b"<the secret>").replace(b"\\0", b" ").decode("utf-8", "replace"))',
        '        if b"\\0-m\\0pip\\0install" in cmd: pips += 1',
        'json.dump({"leaks": leaks[:5], "pips": pips}, open(w + "result.tmp", "w"))',
        'os.rename(w + "result.tmp", w + "result")',
      ].join('\n'),
    );
    await d.sh(`cd /workspace/watch && setsid -f python watch.py </dev/null >/dev/null 2>&1`);
    await d.sh(
      `i=0; while [ ! -e /workspace/watch/ready ] && [ $i -lt 1200 ]; do i=$((i+1)); sleep 0.05; done; test -e /workspace/watch/ready`,
    );

    const p = project('private', { 'requirements.txt': 'kgpu-demo-utils==1.0.0\n', 'main.py': PROBE });
    const r = d.runner();
    const out: string[] = [];
    const before = d.index.privateRequests();
    const h = r.runFile({
      podId: d.fx.podId,
      target: { kind: 'local', folder: p.folder, file: p.file('main.py') },
      python: 'python',
      args: [],
      env: { PIP_INDEX_URL: indexUrl },
      onDepsOutput: (l) => out.push(l),
    });
    let res: Awaited<ReturnType<DepsPod['finish']>>;
    try {
      res = await d.finish(h);
    } finally {
      fs.writeFileSync(path.join(d.fx.hostDir, 'watch/stop'), '');
    }
    await d.sh(
      `i=0; while [ ! -e /workspace/watch/result ] && [ $i -lt 1200 ]; do i=$((i+1)); sleep 0.05; done; test -e /workspace/watch/result`,
    );
    const watched = JSON.parse(fs.readFileSync(path.join(d.fx.hostDir, 'watch/result'), 'utf8')) as { leaks: string[]; pips: number };

    assert.deepEqual([res.exitCode, (await h.deps)?.state], [0, 'installed'], res.log);
    const priv = d.index.privateRequests();
    assert.ok(priv.authorized > before.authorized, `pip used kgpu.env's private index: ${JSON.stringify(priv)}\n${out.join('\n')}`);
    assert.ok(watched.pips > 0, 'the watcher saw the install');
    assert.deepEqual(watched.leaks, [], 'the token is on no command line');
    assert.ok(out.length > 0 && !out.some((l) => l.includes(secret)), out.join('\n'));
  });

  it('installs off: the run uses kgpu.python as it is; a missing module installs with its own pip (kgpu.env too)', async () => {
    await d.sh('python -m venv --system-site-packages --without-pip /workspace/own-env');
    const p = project('off', {
      'requirements.txt': 'tinyplot\n',
      'plot.py': `${PROBE}import tinyplot\nprint(tinyplot.sparkline([1, 2]))\n`,
    });
    const r = d.runner({ projectDeps: false });
    const run = (): RunHandle =>
      r.runFile({
        podId: d.fx.podId,
        target: { kind: 'local', folder: p.folder, file: p.file('plot.py') },
        python: '/workspace/own-env/bin/python',
        args: [],
        env: {},
      });
    const first = run();
    const res1 = await d.finish(first);
    assert.equal(await first.deps, undefined, 'no environment made');
    assert.equal(first.plan.command, '/workspace/own-env/bin/python plot.py');
    assert.equal(res1.exitCode, 1);
    assert.deepEqual(missingModule(res1.log), { module: 'kgpu_demo_utils', package: 'kgpu_demo_utils' });
    const out: string[] = [];
    const before = d.index.privateRequests();
    await installWithPython(d.pod, '/workspace/own-env/bin/python', '/workspace/off', ['tinyplot'], {
      env: { PIP_INDEX_URL: `http://__token__:${d.credential}@${d.index.host}:${d.index.port}/private/simple/` },
      onOutput: (l) => out.push(l),
    });
    assert.ok(d.index.privateRequests().authorized > before.authorized);
    assert.ok(!out.some((l) => l.includes(d.credential)));
    const res2 = await d.finish(run());
    assert.deepEqual([res2.exitCode, res2.log], [0, 'prefix /workspace/own-env\nutils 1.1.0\n▁█\n'], res2.log);
  });

  it("a file living only in the pod (kgpu://): its dependency files are found beside it in the pod, hashed as a synced folder's (the same environment)", async () => {
    const files = {
      'requirements.txt': '-c pins.txt\nkgpu-demo-utils\n',
      'pins.txt': 'kgpu-demo-utils==1.0.0\n',
      'sub/main.py': PROBE,
    };
    // The same bytes here (a synced copy would get this plan) and in the pod only.
    const local = project('podproj', files);
    for (const [f, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(d.fx.hostDir, 'podproj', f)), { recursive: true });
      fs.writeFileSync(path.join(d.fx.hostDir, 'podproj', f), text);
    }
    const plan = depsPlan({ folder: local.folder, remoteDir: '/workspace/podproj', script: 'sub/main.py', python: 'python' });
    const input = {
      file: '/workspace/podproj/sub/main.py',
      root: '/workspace/podproj',
      python: 'python',
      venvsRoot: '/workspace/.kgpu/venvs',
    };
    const out: string[] = [];
    const a = await ensurePodDeps(d.pod, input, { onOutput: (l) => out.push(l) });
    assert.deepEqual(
      a,
      { venvDir: plan?.venvDir, projectDir: '/workspace/podproj', python: plan?.python, state: 'installed' },
      out.join('\n'),
    );
    assert.equal((await d.sh(`cd /workspace/podproj/sub && ${a.python} main.py`)).split('\n')[1], 'utils 1.0.0');
    assert.equal((await ensurePodDeps(d.pod, input))?.state, 'reused');
    fs.writeFileSync(path.join(d.fx.hostDir, 'podproj', 'pins.txt'), 'kgpu-demo-utils==1.1.0\n');
    const b = await ensurePodDeps(d.pod, input);
    assert.equal(b?.state, 'installed', 'the edited -c file in the pod makes a new environment');
    assert.notEqual(b?.venvDir, a.venvDir);
    fs.writeFileSync(path.join(d.fx.hostDir, 'lonely.py'), 'print(1)\n');
    assert.equal(await ensurePodDeps(d.pod, { ...input, file: '/workspace/lonely.py', root: '/workspace' }), undefined);
  });
});
