/**
 * What a job is and how it stands (its JobInfo and JobStatus), and the words for it: the model the
 * views, the log panels and the sweeps read. Kept apart from jobs.ts (the pod-side scripts that
 * start, list and stop jobs), which the editor loads only once a pod is live (issue 24).
 */
/** How a job stands, for the UI. */
export type JobStatus =
  | { state: 'running' }
  | { state: 'exited'; exitCode: number }
  /** Ended by a signal. `stoppedByUser`: our stopJob sent it. `possiblyOom`: SIGKILL that we did
   *  not send — the kernel OOM killer is the usual sender (no cgroup evidence was readable). */
  | { state: 'killed'; signal: string; stoppedByUser: boolean; possiblyOom: boolean }
  /** Out of memory: the kernel OOM killer hit the job (cgroup oom_kill counter rose during the
   *  job) or the pod was evicted with `evicted_by_kubelet:OOMKilled`. */
  | { state: 'oom'; evidence: 'cgroup-oom-kill' | 'pod-evicted'; signal?: string }
  /** The job stopped being tracked without recording an end: the pod ended (`reason` is its
   *  end_reason) or its wrapper was killed. */
  | { state: 'lost'; reason: string };

export interface JobInfo {
  id: string;
  name: string;
  /** The command line run by `sh -c` (an argv is quoted into one). */
  command: string;
  cwd: string;
  /** Client clock, ms since the epoch, when startJob was called. */
  createdAt: number;
  /** Pod clock, ms since the epoch. */
  startedAt?: number;
  endedAt?: number;
  /** The job's process; it leads its own process group (pgid = pid). */
  pid?: number;
  status: JobStatus;
  /** Bytes in the log now. */
  logSize: number;
}

/**
 * The status of a job whose pod has ended (from GET /pods/{id}.end_reason): a job that was still
 * running is "out of memory" when the pod was evicted for OOM, else lost with that reason.
 */
export function statusAfterPodEnded(status: JobStatus, endReason: string): JobStatus {
  if (status.state !== 'running') return status;
  if (endReason === 'evicted_by_kubelet:OOMKilled') return { state: 'oom', evidence: 'pod-evicted' };
  return { state: 'lost', reason: `the pod ended (${endReason})` };
}

/** A short label: "running", "exited with code 1", "killed by SIGKILL (possibly out of memory)". */
export function describeJobStatus(status: JobStatus): string {
  switch (status.state) {
    case 'running':
      return 'running';
    case 'exited':
      return `exited with code ${status.exitCode}`;
    case 'killed':
      if (status.stoppedByUser) return `stopped (${status.signal})`;
      return status.possiblyOom ? `killed by ${status.signal} (possibly out of memory)` : `killed by ${status.signal}`;
    case 'oom':
      return status.evidence === 'pod-evicted'
        ? 'out of memory (the pod was evicted: OOMKilled)'
        : 'out of memory (killed by the kernel OOM killer)';
    case 'lost':
      return `lost: ${status.reason}`;
  }
}

export function isJobEnded(status: JobStatus): boolean {
  return status.state !== 'running';
}
