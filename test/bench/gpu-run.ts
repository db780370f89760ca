/**
 * The whole path on a machine with an NVIDIA GPU (docs/gpu-run.md): a simulator whose pods run on
 * this machine (so `nvidia-smi` and CUDA in the pod are the real ones), rent through our REST
 * client, sync a small PyTorch training script, run it as a detached job, follow its log, pull the
 * checkpoint, release. Records: time from "run" to the first loss line, steps/s in the pod vs the
 * same script run directly here (ratio), the checkpoint's size and sha256 in the pod and after the
 * pull. Never part of `npm test`.
 *
 *   node --import tsx test/bench/gpu-run.ts [--steps 300] [--out gpu-run-results.json] [--stub]
 *
 * --stub: a pure-Python stand-in for the training script (no torch, no GPU) — only to check the
 * orchestration on a machine without either; its numbers say nothing about GPUs.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pull } from '../../src/kgpu/transfer/sync';
import { JobRunner } from '../../src/kgpu/jobs/job-runner';
import { startBenchEnv } from './env';
import { now } from './measure';

const TORCH_TRAIN = String.raw`"""A small MLP on synthetic data: loss per step, steps/s, a checkpoint."""
import argparse, time, torch, torch.nn as nn
p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=300)
p.add_argument("--out", default="checkpoint.pt")
a = p.parse_args()
dev = "cuda" if torch.cuda.is_available() else "cpu"
print(f"device {dev} {torch.cuda.get_device_name(0) if dev == 'cuda' else ''} torch {torch.__version__}", flush=True)
torch.manual_seed(0)
x = torch.randn(8192, 512, device=dev)
w = torch.randn(512, 10, device=dev)
y = (x @ w).argmax(dim=1)
model = nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)).to(dev)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
lossf = nn.CrossEntropyLoss()
t0 = None
for step in range(a.steps):
    if step == 10:
        if dev == "cuda": torch.cuda.synchronize()
        t0 = time.perf_counter()
    idx = torch.randint(0, x.shape[0], (1024,), device=dev)
    loss = lossf(model(x[idx]), y[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    print(f"step {step} loss {loss.item():.4f}", flush=True)
if dev == "cuda": torch.cuda.synchronize()
print(f"KGPU-STEPS-PER-S {(a.steps - 10) / (time.perf_counter() - t0):.2f}", flush=True)
torch.save(model.state_dict(), a.out)
print(f"saved {a.out}", flush=True)
`;

const STUB_TRAIN = String.raw`"""Stand-in (no torch): same output shape as the real script."""
import argparse, pickle, random, time
p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=300)
p.add_argument("--out", default="checkpoint.pt")
a = p.parse_args()
print("device stub (no torch)", flush=True)
random.seed(0)
w = [random.random() for _ in range(4096)]
t0 = None
for step in range(a.steps):
    if step == 10: t0 = time.perf_counter()
    s = sum(v * v for v in w) / len(w)
    w = [v * 0.999 for v in w]
    print(f"step {step} loss {s:.4f}", flush=True)
print(f"KGPU-STEPS-PER-S {(a.steps - 10) / (time.perf_counter() - t0):.2f}", flush=True)
with open(a.out, "wb") as f: pickle.dump(w, f)
print(f"saved {a.out}", flush=True)
`;

function stepsPerS(text: string): number {
  const m = /KGPU-STEPS-PER-S ([\d.]+)/.exec(text);
  if (!m) throw new Error(`gpu-run: no steps/s line in:\n${text.slice(-2000)}`);
  return Number(m[1]);
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const steps = Number(arg('--steps') ?? 300);
  const stub = argv.includes('--stub');
  const outFile = path.resolve(arg('--out') ?? 'gpu-run-results.json');
  const env = await startBenchEnv();
  try {
    const project = path.join(env.tmp, 'gpu-project');
    fs.mkdirSync(project, { recursive: true });
    fs.writeFileSync(path.join(project, 'train.py'), stub ? STUB_TRAIN : TORCH_TRAIN);
    const remote = '/workspace/gpu-project'; // runFile syncs the folder to /workspace/<its name>
    const smi = (await env.pod.exec('nvidia-smi -L')).stdout.toString('utf8').trim();
    console.log(`pod ${env.podId}: nvidia-smi -L → ${smi || '(nothing)'}`);
    if (!stub) {
      const probe = await env.pod.exec(['python', '-c', 'import torch; print(torch.__version__, torch.cuda.is_available())']);
      const text = probe.stdout.toString('utf8').trim();
      console.log(`pod python: torch ${text || probe.stderr.toString('utf8').trim()}`);
      if (probe.exitCode !== 0 || !text.endsWith('True'))
        throw new Error(
          "gpu-run: no CUDA-enabled PyTorch in the pod (install torch for this machine's python3, or use --stub to check the orchestration only)",
        );
    }

    // Run it in the pod the way "Run Active File on GPU" does: JobRunner.runFile (follow, sync, start).
    const runner = new JobRunner({ commands: async () => env.pod, syncStateDir: path.join(env.tmp, 'gpu-state'), pollMs: 0 });
    let log = '';
    let firstLossMs = 0;
    const t0 = now();
    const run = runner.runFile({
      podId: env.podId,
      target: { kind: 'local', folder: project, file: path.join(project, 'train.py') },
      python: 'python',
      args: ['--steps', String(steps), '--out', 'checkpoint.pt'],
      env: {},
      onData(chunk) {
        log += chunk.toString('utf8');
        if (firstLossMs === 0 && /^step \d+ loss /m.test(log)) firstLossMs = now() - t0;
      },
    });
    const sync = await run.synced;
    const followed = await run.done.finally(() => runner.dispose());
    const podMs = now() - t0;
    if (followed.job.status.state !== 'exited' || followed.job.status.exitCode !== 0)
      throw new Error(`gpu-run: the job ended ${JSON.stringify(followed.job.status)}:\n${log.slice(-2000)}`);
    const podSteps = stepsPerS(log);

    // The same script directly on this machine.
    const direct = await new Promise<string>((resolve, reject) => {
      const c = spawn('python3', ['train.py', '--steps', String(steps), '--out', path.join(env.tmp, 'direct.pt')], {
        cwd: project,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      c.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
      c.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
      c.on('close', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`gpu-run: direct run failed (${code}):\n${out.slice(-2000)}`)),
      );
    });
    const directSteps = stepsPerS(direct);

    // Pull the checkpoint, compare with the pod's copy.
    const [podHash, podSize] = (await env.sh(`sha256sum ${remote}/checkpoint.pt | cut -d' ' -f1; stat -c %s ${remote}/checkpoint.pt`))
      .trim()
      .split('\n');
    const local = path.join(env.tmp, 'pulled.pt');
    await pull(env.pod, `${remote}/checkpoint.pt`, local);
    const localHash = sha256(local);
    const result = {
      when: new Date().toISOString(),
      stub,
      nvidia_smi: smi,
      device_line: log.split('\n')[0],
      steps,
      sync_ms: sync?.durationMs,
      first_loss_line_ms: firstLossMs,
      job_total_ms: podMs,
      pod_steps_per_s: podSteps,
      direct_steps_per_s: directSteps,
      ratio_pod_over_direct: podSteps / directSteps,
      checkpoint_bytes_pod: Number(podSize),
      checkpoint_bytes_pulled: fs.statSync(local).size,
      checkpoint_sha256_pod: podHash,
      checkpoint_sha256_pulled: localHash,
      checkpoint_identical: podHash === localHash && Number(podSize) === fs.statSync(local).size,
    };
    fs.writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
    if (!result.checkpoint_identical) throw new Error("gpu-run: the pulled checkpoint differs from the pod's");
    console.log(`wrote ${outFile}; releasing the pod…`);
  } finally {
    await env.close();
  }
}

main().catch((e: unknown) => {
  console.error(`gpu-run: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
