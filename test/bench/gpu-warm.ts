/**
 * Warm start on a machine with an NVIDIA GPU (docs/gpu-run.md, "Warm start and CUDA"): proves what
 * the simulator cannot — that the fork server imports CUDA-enabled PyTorch without initialising
 * CUDA, that a forked job then uses the GPU (a matmul, DataLoader workers) exactly as a cold run
 * does, again and again from the same server, and that a preload which DOES initialise CUDA is
 * refused. Never part of `npm test`.
 *
 *   node --import tsx test/bench/gpu-warm.ts [--out gpu-warm-results.json] [--stub]
 *
 * --stub: no CUDA needed (the script uses the CPU) — checks the orchestration only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { JobRunner } from '../../src/kgpu/jobs/job-runner';
import { ensureForkServer, forkServerStatus, loadPodScript, type StartMode } from '../../src/kgpu/warm';
import { startBenchEnv } from './env';
import { now } from './measure';

const JOB = (dev: string): string => String.raw`import torch
from torch.utils.data import DataLoader, TensorDataset
if __name__ == "__main__":
    print("cuda initialised at the start:", torch.cuda.is_initialized(), flush=True)
    x = torch.ones(2048, 2048, device="${dev}")
    print("matmul", (x @ x).sum().item(), torch.cuda.get_device_name(0) if "${dev}" == "cuda" else "cpu", flush=True)
    loader = DataLoader(TensorDataset(torch.arange(64.0)), batch_size=8, num_workers=2)
    print("loader", sum(b[0].sum().item() for b in loader), flush=True)
    print("cuda initialised at the end:", torch.cuda.is_initialized(), flush=True)
`;

/** A package whose import initialises CUDA: the fork server must refuse to preload it. */
const INIT_CUDA = 'import torch\ntorch.cuda.init()\n';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const stub = argv.includes('--stub');
  const outFile = path.resolve(argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : 'gpu-warm-results.json');
  const env = await startBenchEnv();
  try {
    const dev = stub ? 'cpu' : 'cuda';
    const probe = (await env.pod.exec(['python', '-c', 'import torch; print(torch.__version__, torch.cuda.is_available())'])).stdout
      .toString('utf8')
      .trim();
    console.log(`pod python: torch ${probe}`);
    if (!stub && !probe.endsWith('True')) throw new Error('gpu-warm: no CUDA-enabled PyTorch in the pod (or use --stub)');
    const project = path.join(env.tmp, 'gpu-warm');
    fs.mkdirSync(project, { recursive: true });
    fs.writeFileSync(path.join(project, 'job.py'), JOB(dev));
    const file = path.join(project, 'job.py');
    const remote = { python: 'python', cwd: '/workspace/gpu-warm', script: 'job.py', args: [], env: {} };
    const script = loadPodScript('forkserver.py');
    const stateDir = path.join(env.tmp, 'state');
    const runOnce = async (warm: boolean): Promise<{ log: string; ms: number; mode: StartMode | undefined }> => {
      const runner = new JobRunner({
        commands: async () => env.pod,
        syncStateDir: stateDir,
        pollMs: 0,
        warmStart: { mode: warm ? 'auto' : 'off' },
      });
      let log = '';
      const t0 = now();
      const h = runner.runFile({
        podId: env.podId,
        target: { kind: 'local', folder: project, file },
        python: 'python',
        args: [],
        env: {},
        onData: (c) => void (log += c.toString('utf8')),
      });
      const end = await h.done.finally(() => runner.dispose());
      if (end.job.status.state !== 'exited' || end.job.status.exitCode !== 0)
        throw new Error(`gpu-warm: the job ended ${JSON.stringify(end.job.status)}:\n${log}`);
      return { log, ms: now() - t0, mode: await h.startMode };
    };
    /** The server holds no CUDA device open and has no CUDA context (nvidia-smi does not list it). */
    const serverClean = async (): Promise<{ pid: number; nvidiaFds: number; inNvidiaSmi: boolean; preloaded: string[] }> => {
      const s = await forkServerStatus(env.pod, script, remote);
      if (!s) throw new Error('gpu-warm: no fork server answers');
      const fds = Number((await env.sh(`ls -l /proc/${s.pid}/fd 2>/dev/null | grep -c /dev/nvidia || true`)).trim());
      const apps = stub ? '' : await env.sh('nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null || true');
      return { pid: s.pid, nvidiaFds: fds, inNvidiaSmi: apps.split('\n').some((l) => l.trim() === String(s.pid)), preloaded: s.preloaded };
    };

    const cold = await runOnce(false);
    const ready = await ensureForkServer(env.pod, script, remote, { waitS: 600 });
    if (ready.state !== 'ready') throw new Error(`gpu-warm: the fork server did not start: ${JSON.stringify(ready)}`);
    const before = await serverClean();
    const warm: { ms: number; same_output: boolean; mode: StartMode | undefined }[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await runOnce(true);
      warm.push({ ms: Math.round(r.ms), same_output: r.log === cold.log, mode: r.mode });
    }
    const afterRuns = await serverClean();

    // A preload that initialises CUDA: refused, the server exits.
    await env.sh(
      `python -m venv --without-pip --system-site-packages /workspace/cudavenv && mkdir -p /workspace/cudavenv/lib/$(python -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')/site-packages/initcuda`,
    );
    const site = (await env.sh(`/workspace/cudavenv/bin/python -c 'import site; print(site.getsitepackages()[0])'`)).trim();
    await env.sh(`cat > ${site}/initcuda/__init__.py`, Buffer.from(INIT_CUDA));
    const refused = await ensureForkServer(
      env.pod,
      script,
      { ...remote, python: '/workspace/cudavenv/bin/python', preload: ['initcuda'] },
      { waitS: 600 },
    );

    const result = {
      when: new Date().toISOString(),
      stub,
      torch: probe,
      cold_ms: Math.round(cold.ms),
      cold_log: cold.log,
      warm,
      server_before_runs: before,
      server_after_runs: afterRuns,
      refusal: refused,
      ok:
        warm.every((w) => w.mode?.warm && w.same_output) &&
        before.preloaded.includes('torch') &&
        before.nvidiaFds === 0 &&
        afterRuns.nvidiaFds === 0 &&
        !before.inNvidiaSmi &&
        !afterRuns.inNvidiaSmi &&
        cold.log.includes('cuda initialised at the start: False') &&
        (stub || (refused.state === 'stopped' && /initialised CUDA/.test(refused.reason ?? ''))),
    };
    fs.writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
    console.log(`wrote ${outFile}: ${result.ok ? 'OK' : 'FAILED'}`);
    if (!result.ok) process.exitCode = 1;
  } finally {
    await env.close();
  }
}

main().catch((e: unknown) => {
  console.error(`gpu-warm: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
