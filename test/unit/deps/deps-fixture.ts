/**
 * A simulator pod that reaches the simulator's package index (its stand-in for PyPI, as
 * PIP_INDEX_URL / UV_INDEX_URL, like every simulated rental), and a JobRunner on it, for the
 * project-dependency tests.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPackageIndex, type PackageIndex } from '../../sim/package-index';
import { listenForPods, type PodReachServer } from '../../sim/pod-reach';
import { realPython } from '../../sim/pods';
import { startPodFixture, type PodFixture } from '../kgpu/ssh/pod-fixture';
import { podCommands, type PodCommands } from '../../../src/kgpu/ssh/pod-commands';
import { JobRunner, type RunHandle } from '../../../src/kgpu/jobs/job-runner';
import type { WarmStartSettings } from '../../../src/kgpu/warm';

export const JOBS_ROOT = '/workspace/.kgpu/jobs';

export interface DepsPod {
  fx: PodFixture;
  index: PackageIndex;
  /** The credential the index's /private/simple/ wants (a private index's token). */
  credential: string;
  pod: PodCommands;
  /** A local folder for a project (removed at the end). */
  tmp: string;
  sh(line: string): Promise<string>;
  runner(o?: { warmStart?: WarmStartSettings; projectDeps?: boolean }): JobRunner;
  /** Wait for a run's end: its log text, exit state, the panel notes of its install. */
  finish(h: RunHandle): Promise<{ log: string; state: string; exitCode?: number }>;
  stop(): Promise<void>;
}

export async function startDepsPod(): Promise<DepsPod> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgpu-deps-'));
  const credential = `kgpu-secret-${randomBytes(12).toString('hex')}`;
  const index = await startPackageIndex({ host: '127.0.0.1', python: realPython().exe, credential });
  let net: PodReachServer | undefined;
  let fx: PodFixture | undefined;
  try {
    net = await listenForPods([{ http: index.server, host: index.host, port: index.port, socket: 'index.sock' }], { stateDir: tmp });
    fx = await startPodFixture({
      env: { PIP_INDEX_URL: index.url, UV_INDEX_URL: index.url, UV_DEFAULT_INDEX: index.url },
      reach: net.reach,
    });
  } catch (e) {
    await net?.close();
    await index.close();
    throw e;
  }
  const f = fx;
  const pod = podCommands(f.connector());
  const runners: JobRunner[] = [];
  const sh = async (line: string): Promise<string> => {
    const r = await pod.exec(line);
    if (r.exitCode !== 0) throw new Error(`pod command failed (${r.exitCode ?? r.signal}): ${line}\n${r.stderr.toString()}`);
    return r.stdout.toString('utf8');
  };
  return {
    fx: f,
    index,
    credential,
    pod,
    tmp,
    sh,
    runner(o = {}) {
      const r = new JobRunner({
        commands: async () => podCommands(f.connector()),
        syncStateDir: path.join(tmp, 'sync'),
        pollMs: 0,
        jobsRoot: JOBS_ROOT,
        projectDeps: o.projectDeps ?? true,
        warmStart: o.warmStart,
      });
      runners.push(r);
      return r;
    },
    async finish(h) {
      const r = await h.done;
      const log = await sh(`cat ${JOBS_ROOT}/${h.jobId}/log`);
      const st = r.job.status;
      return { log, state: st.state, exitCode: st.state === 'exited' ? st.exitCode : undefined };
    },
    async stop() {
      for (const r of runners) r.dispose();
      await f.stop();
      await net?.close();
      await index.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
