/**
 * Helpers for the jobs/sync tests: a pod behind the simulator's real bastion (pod-fixture.ts),
 * PodCommands over the real SSH layer, and bounded condition polling (no sleeps as sync).
 */
import { podCommands, type PodCommands } from '../../../../src/kgpu/ssh/pod-commands';
import { startPodFixture, type PodFixture } from '../ssh/pod-fixture';

export interface JobsPod {
  fixture: PodFixture;
  /** A fresh connector each call (as a new editor window / reload would have). */
  commands(): PodCommands;
  /** Run a shell command line in the pod; stdout as text; throws on a non-zero exit. */
  sh(line: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startJobsPod(): Promise<JobsPod> {
  const fixture = await startPodFixture();
  const commands = (): PodCommands => podCommands(fixture.connector());
  return {
    fixture,
    commands,
    async sh(line) {
      const r = await commands().exec(line);
      if (r.exitCode !== 0) throw new Error(`pod command failed (${r.exitCode ?? r.signal}): ${line}\n${r.stderr.toString()}`);
      return r.stdout.toString('utf8');
    },
    stop: () => fixture.stop(),
  };
}

export { waitFor } from '../../wait-for';
