/**
 * The project's dependencies, installed once (issue 22), against a simulator pod and its package
 * index: Run Active File on a folder with requirements.txt installs it into a virtual environment
 * in the pod (`--system-site-packages`: the image's torch stays) and the job runs with that
 * environment's python; the next run reuses it (nothing downloaded, no install output); a changed
 * file makes a new one; an install pip refuses stops the run with pip's error and starts nothing;
 * a job that died of ModuleNotFoundError names the package, which installs into the environment.
 * With warm starts, the fork server is the environment's (its key is the interpreter) and an
 * install into the environment makes the next run cold while it restarts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  depsPlan,
  DepsInstallError,
  installPackages,
  installWithPython,
  missingModule,
  missingModuleFix,
  podTargetPython,
  projectPython,
} from '../../../src/kgpu/deps';
import type { JobRunner, RunHandle } from '../../../src/kgpu/jobs/job-runner';
import { ensureForkServer, loadPodScript } from '../../../src/kgpu/warm';
import { startDepsPod, JOBS_ROOT, type DepsPod } from './deps-fixture';

const PROBE = 'import sys, kgpu_demo_utils\nprint("prefix", sys.prefix)\nprint("utils", kgpu_demo_utils.__version__)\n';

describe("a project's dependencies, installed once in the pod", () => {
  let d: DepsPod;
  before(async () => {
    d = await startDepsPod();
  });
  after(async () => {
    await d?.stop();
  });

  /**
   * A local project folder (`inPod`: made right in the pod's /workspace, as after a sync), and
   * `run`: Run Active File on one of its files with `python`, no arguments and no kgpu.env.
   */
  function project(
    name: string,
    files: Record<string, string>,
    inPod = false,
  ): { folder: string; file: (f: string) => string; run: (r: JobRunner, f: string, onDepsOutput?: (line: string) => void) => RunHandle } {
    const folder = path.join(inPod ? d.fx.hostDir : d.tmp, name);
    for (const [f, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(folder, f)), { recursive: true });
      fs.writeFileSync(path.join(folder, f), text);
    }
    const file = (f: string): string => path.join(folder, f);
    const run = (r: JobRunner, f: string, onDepsOutput?: (line: string) => void): RunHandle =>
      r.runFile({
        podId: d.fx.podId,
        target: { kind: 'local', folder, file: file(f) },
        python: 'python',
        args: [],
        env: {},
        ...(onDepsOutput ? { onDepsOutput } : {}),
      });
    return { folder, file, run };
  }

  it("installs requirements.txt once, runs with the environment's python (the image's torch still there), reinstalls when the file changes", async () => {
    const p = project('proj', {
      'requirements.txt': 'kgpu-demo-utils==1.0.0\n',
      'main.py': `${PROBE}import torch\nprint("torch", torch.tensor([2.0]).sum().item())\n`,
    });
    const r = d.runner();
    const out: string[] = [];
    const first = p.run(r, 'main.py', (l) => out.push(l));
    const res1 = await d.finish(first);
    const deps1 = await first.deps;
    assert.ok(deps1, 'the run has an environment');
    assert.equal(deps1.state, 'installed');
    assert.match(deps1.plan.venvDir, /^\/workspace\/\.kgpu\/venvs\/proj-[0-9a-f]{16}$/);
    assert.equal(first.plan.command, `${deps1.plan.venvDir}/bin/python main.py`);
    assert.deepEqual([res1.state, res1.exitCode], ['exited', 0], res1.log);
    assert.equal(
      res1.log,
      `prefix ${deps1.plan.venvDir}\nutils 1.0.0\ntorch 2.0\n`,
      'sys.prefix is the environment: the job ran its python',
    );
    assert.ok(
      out.some((l) => /Successfully installed kgpu-demo-utils-1\.0\.0/.test(l)),
      `pip's output is handed on: ${out.join('\n')}`,
    );
    assert.ok(
      out.some((l) => l.startsWith('[kgpu] installing requirements.txt into ')),
      out.join('\n'),
    );
    assert.equal(d.index.downloads('kgpu_demo_utils-1.0.0-py3-none-any.whl'), 1);

    // Unchanged: reused — no install, nothing downloaded, the start rode on the sync's exec.
    out.length = 0;
    fs.writeFileSync(p.file('main.py'), `${PROBE}print("again")\n`);
    const second = p.run(r, 'main.py', (l) => out.push(l));
    const res2 = await d.finish(second);
    assert.equal(res2.log, `prefix ${deps1.plan.venvDir}\nutils 1.0.0\nagain\n`);
    assert.deepEqual(await second.deps, { plan: deps1.plan, state: 'reused' });
    assert.deepEqual(out, [], 'no install output');
    assert.equal(d.index.downloads('kgpu_demo_utils-1.0.0-py3-none-any.whl'), 1, 'not downloaded again');

    // Changed: a new environment with the new pins.
    fs.writeFileSync(p.file('requirements.txt'), 'kgpu-demo-utils==1.1.0\n');
    const third = p.run(r, 'main.py');
    const res3 = await d.finish(third);
    const deps3 = await third.deps;
    assert.equal(deps3?.state, 'installed');
    assert.notEqual(deps3?.plan.venvDir, deps1.plan.venvDir);
    assert.equal(res3.log, `prefix ${deps3?.plan.venvDir}\nutils 1.1.0\nagain\n`);
    assert.equal(d.index.downloads('kgpu_demo_utils-1.1.0-py3-none-any.whl'), 1);
  });

  it("an install that outlasts the log follower's wait for the job (here: another install holds the environment's lock) still ends in the job's log", async () => {
    const p = project('slow', { 'requirements.txt': 'kgpu-demo-utils==1.0.0\n', 'main.py': PROBE });
    const plan = depsPlan({
      folder: p.folder,
      remoteDir: '/workspace/slow',
      script: 'main.py',
      python: 'python',
      venvsRoot: '/workspace/.kgpu/venvs',
    })!;
    // Another "install" holds the lock until told to let go.
    const lockPy = `import fcntl, os, sys, time\nfd = os.open(sys.argv[1] + ".lock", os.O_CREAT | os.O_RDWR)\nfcntl.flock(fd, fcntl.LOCK_EX)\nopen(sys.argv[1] + ".held", "w").close()\nwhile not os.path.exists(sys.argv[1] + ".go"):\n    time.sleep(0.1)\n`;
    await d.sh(
      `mkdir -p /workspace/.kgpu/venvs && cat > /tmp/holdlock.py <<'EOF'\n${lockPy}EOF\nsetsid -f python /tmp/holdlock.py ${plan.venvDir} >/dev/null 2>&1 </dev/null; i=0; while [ ! -f ${plan.venvDir}.held ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; test -f ${plan.venvDir}.held`,
    );
    const r = d.runner();
    const out: string[] = [];
    const h = p.run(r, 'main.py', (l) => out.push(l));
    // The first follower (started with the run) waits a bounded time for the job, then gives up.
    const followers = `python3 -c 'import os,sys\nn=0\nfor p in os.listdir("/proc"):\n  try: c=open("/proc/%s/cmdline"%p,"rb").read()\n  except Exception: continue\n  if b"kgpu-follow" in c and sys.argv[1].encode() in c and b"python3" not in c: n+=1\nprint(n)' ${h.jobId}`;
    const count = async () => Number((await d.sh(followers)).trim());
    const until = async (what: string, ok: (n: number) => boolean) => {
      for (let i = 0; i < 600 && !ok(await count()); i++) await new Promise((res) => setTimeout(res, 500));
      assert.ok(ok(await count()), what);
    };
    await until('the follower is waiting in the pod', (n) => n > 0);
    await until('the follower gave up waiting for the job (its bound)', (n) => n === 0);
    assert.ok(out.includes('[kgpu] waiting for another install into this environment...'), out.join('\n'));
    await d.sh(`touch ${plan.venvDir}.go`);
    const res = await d.finish(h);
    assert.equal((await h.deps)?.state, 'installed');
    assert.equal(res.log, `prefix ${plan.venvDir}\nutils 1.0.0\n`);
  });

  it("an install pip refuses stops the run with pip's error, and nothing starts", async () => {
    const p = project('broken', { 'requirements.txt': 'kgpu-broken\n', 'main.py': 'print("must not run")\n' });
    const r = d.runner();
    const out: string[] = [];
    const h = p.run(r, 'main.py', (l) => out.push(l));
    await assert.rejects(h.started, (e: unknown) => {
      assert.ok(e instanceof DepsInstallError, String(e));
      assert.match(e.message, /^Could not install requirements\.txt in the pod: ERROR: /);
      assert.match(e.message, /kgpu[-_]broken/i);
      return true;
    });
    await assert.rejects(h.done, DepsInstallError);
    assert.equal(await h.deps, undefined);
    assert.ok(
      out.some((l) => l.startsWith('ERROR: ')),
      `pip's output: ${out.join('\n')}`,
    );
    assert.equal((await d.sh(`test -e ${JOBS_ROOT}/${h.jobId} && echo job || echo none`)).trim(), 'none');
    // The failed environment is not left as if installed: the next run tries again.
    const again = p.run(r, 'main.py');
    await assert.rejects(again.done, DepsInstallError);
  });

  it("pyproject.toml's [project] dependencies and environment.yml (its pip: list; conda names the image has are skipped) through projectPython, the call for Debug and Notebook", async () => {
    const pp = project(
      'pp',
      { 'pyproject.toml': '[project]\nname = "pp"\nversion = "0"\ndependencies = ["kgpu-demo-utils==1.0.0"]\n' },
      true,
    );
    const out: string[] = [];
    const a = await projectPython(
      d.pod,
      { folder: pp.folder, remoteDir: '/workspace/pp', python: 'python' },
      { onOutput: (l) => out.push(l) },
    );
    assert.equal(a.deps?.state, 'installed');
    assert.equal(a.python, `${a.deps?.plan.venvDir}/bin/python`);
    assert.equal((await d.sh(`${a.python} -c 'import kgpu_demo_utils; print(kgpu_demo_utils.__version__)'`)).trim(), '1.0.0');
    assert.equal((await projectPython(d.pod, { folder: pp.folder, remoteDir: '/workspace/pp', python: 'python' })).deps?.state, 'reused');

    const env = project(
      'envyml',
      {
        'environment.yml':
          'name: envyml\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - numpy\n  - pip\n  - pip:\n    - tinyplot==0.1\n',
      },
      true,
    );
    out.length = 0;
    const b = await projectPython(
      d.pod,
      { folder: env.folder, remoteDir: '/workspace/envyml', python: 'python' },
      { onOutput: (l) => out.push(l) },
    );
    assert.equal(b.deps?.state, 'installed');
    assert.ok(out.includes('[kgpu] environment.yml: numpy is in the image already'), out.join('\n'));
    assert.equal((await d.sh(`${b.python} -c 'import tinyplot, numpy; print(tinyplot.sparkline([1, 2]))'`)).trim(), '▁█');

    const none = project('plain', { 'main.py': '' }, true);
    assert.deepEqual(await projectPython(d.pod, { folder: none.folder, remoteDir: '/workspace/plain', python: 'python' }), {
      python: 'python',
    });
  });

  it("ModuleNotFoundError: names the package, which installs into the environment; the fork server is the environment's and restarts after the install", async () => {
    const p = project('missing', {
      'requirements.txt': 'kgpu-demo-utils\n',
      'plot.py': `${PROBE}import tinyplot\nprint(tinyplot.sparkline([3, 1, 2]))\n`,
    });
    const r = d.runner({ warmStart: { mode: 'auto' } });
    const run = () => p.run(r, 'plot.py');
    const first = run();
    const res1 = await d.finish(first);
    const plan = (await first.deps)!.plan;
    assert.deepEqual([res1.state, res1.exitCode], ['exited', 1]);
    assert.deepEqual(missingModule(res1.log), { module: 'tinyplot', package: 'tinyplot' });
    // The warm start's server for this run is the environment's interpreter's.
    assert.deepEqual(await first.startMode, { warm: false, code: 'none', reason: 'no fork server yet' });
    const remote = { python: plan.python, cwd: plan.projectDir, script: 'plot.py', args: [], env: {} };
    assert.equal((await ensureForkServer(d.pod, loadPodScript('forkserver.py'), remote, { waitS: 180 })).state, 'ready');
    const warmRun = run();
    const warm = await d.finish(warmRun);
    assert.deepEqual(await warmRun.startMode, { warm: true });
    assert.match(
      warm.log,
      new RegExp(`^prefix ${plan.venvDir}\\n`),
      "a warm run's sys.prefix is the environment: forked from the environment's own server",
    );

    const out: string[] = [];
    await installPackages(d.pod, plan, ['tinyplot'], { onOutput: (l) => out.push(l) });
    assert.ok(
      out.some((l) => /Successfully installed tinyplot-0\.1/.test(l)),
      out.join('\n'),
    );
    const fixed = run();
    const res2 = await d.finish(fixed);
    assert.deepEqual([res2.state, res2.exitCode], ['exited', 0], res2.log);
    assert.equal(res2.log, `prefix ${plan.venvDir}\nutils 1.1.0\n█▁▄\n`);
    assert.equal((await fixed.deps)?.state, 'reused', 'the environment is kept');
    const mode = await fixed.startMode;
    assert.equal(mode?.warm, false, 'the install changed the environment: cold while the server restarts');
    assert.equal(mode?.warm === false && mode.code, 'stale');
  });

  it("ModuleNotFoundError in a file that lives only in the pod (kgpu://): offered, installed into the interpreter it ran with (its project's environment), and the next run has it", async () => {
    project(
      'podmiss',
      { 'requirements.txt': 'kgpu-demo-utils\n', 'src/plot.py': `${PROBE}import tinyplot\nprint(tinyplot.sparkline([3, 1, 2]))\n` },
      true,
    );
    const file = '/workspace/podmiss/src/plot.py';
    const r = d.runner({ projectDeps: false });
    const { python, deps } = await podTargetPython(d.pod, { file, python: 'python' });
    assert.ok(deps, "the pod project's requirements.txt makes an environment");
    const run = () => r.runFile({ podId: d.fx.podId, target: { kind: 'pod', path: file }, python, args: [], env: {} });
    const first = run();
    const res1 = await d.finish(first);
    assert.deepEqual([res1.state, res1.exitCode], ['exited', 1]);
    assert.deepEqual(missingModule(res1.log), { module: 'tinyplot', package: 'tinyplot' });
    // What the notification offers, from what the runner recorded of the job.
    const job = r.get(d.fx.podId, first.jobId)!;
    const fix = missingModuleFix({
      deps: await first.deps.then((x) => x?.plan),
      target: job.recipe?.target,
      python: job.recipe?.python,
      cwd: job.info.cwd,
      depsOff: false,
    });
    assert.deepEqual(fix, {
      install: { kind: 'python', python: `${deps.venvDir}/bin/python`, cwd: '/workspace/podmiss/src' },
      requirements: { where: 'pod', path: '/workspace/podmiss/requirements.txt' },
    });
    assert.equal(fix.install?.kind, 'python');
    if (fix.install?.kind !== 'python') return;
    await installWithPython(d.pod, fix.install.python, fix.install.cwd, ['tinyplot']);
    const res2 = await d.finish(run());
    assert.deepEqual([res2.state, res2.exitCode], ['exited', 0], res2.log);
    assert.equal(res2.log, `prefix ${deps.venvDir}\nutils 1.1.0\n█▁▄\n`);
  });
});
