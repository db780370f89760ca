/**
 * The seams inside the kgpu simulator, so that its parts can be written and tested separately:
 *
 *   state.ts + rest.ts (REST API, billing, clock, objects)  ──uses──▶  PodRuntime  (pods.ts)
 *   bastion.ts (SSH bastion)                                ──uses──▶  BastionDirectory (state.ts)
 *                                                                       PodHandle   (pods.ts)
 *   index.ts composes them: startSimulator(options) → Simulator.
 *
 * Times are the simulator's clock (SimClock): simulated milliseconds since the epoch.
 */
import type { ChildProcess } from 'node:child_process';

export type Phase = 'Pending' | 'Running' | 'Terminating' | 'Ended' | 'Failed';

export type EndReason =
  | 'returned'
  | 'auto_idle'
  | 'out_of_credits'
  | 'evicted_by_kubelet:OutOfephemeral-storage'
  | 'evicted_by_kubelet:OOMKilled'
  | `start_failed:${string}`;

/** The simulated clock. `advance` makes simulated time pass at once (tests); `speed` makes it
 *  pass N× faster than wall time (demos). Timers scheduled on it fire in simulated time. */
export interface SimClock {
  now(): number;
  /** Let `ms` simulated milliseconds pass now, firing due timers in order. */
  advance(ms: number): Promise<void>;
  readonly speed: number;
}

/** What a pod's processes need to know about the rental. */
export interface PodRuntimeSpec {
  podId: string;
  gpuModel: string;
  gpuCount: number;
  /** Environment of every process in the pod (KGPU_API_TOKEN = the in-pod token, KGPU_API_BASE,
   *  KGPU_GPU_ID, KGPU_RENT_ID, NVIDIA_VISIBLE_DEVICES=void, plus the rental's `env`). */
  env: Record<string, string>;
  /** ephemeral_storage_gib in bytes (tests may pass a tiny limit through the fleet/fault knobs). */
  diskLimitBytes: number;
  /** The rental's `memory` in bytes: a hard limit (memory cgroup); none when omitted. */
  memoryBytes?: number;
  /** The rental's `cpu` in cores: a CFS quota; none when omitted. */
  cpu?: number;
  /** What the pod may reach of the simulator from its own network namespace (where nothing else
   *  is reachable): each relay listens on host:port inside the pod and forwards to the Unix socket
   *  `socket` (a file name) in the host folder `dir`. */
  reach?: PodReach;
  /** Called once when the kernel OOM-kills a process of the pod (its memory limit was hit). */
  onOomKilled?: () => void;
}

export interface PodReach {
  dir: string;
  relays: { host: string; port: number; socket: string }[];
}

export interface ExecResult {
  exit_code: number;
  stdout: string;
  stderr: string;
  duration_ms: number;
  truncated: boolean;
}

export interface SpawnOptions {
  /** Allocate a PTY (interactive shell / `ssh -t`). */
  pty?: { cols: number; rows: number; term?: string };
  /** Extra environment (e.g. from SSH `env` requests). */
  env?: Record<string, string>;
  /** Interactive SSH sessions do not see KGPU_API_TOKEN (contract: "Stripped from interactive SSH sessions"). */
  stripToken?: boolean;
}

/** A process inside a pod, as the bastion sees it. For PTY processes stdout carries the terminal
 *  output and stderr is empty. */
export interface PodProcess {
  readonly child: ChildProcess;
  /** Resize the PTY (window-change). No-op without a PTY. */
  resize(cols: number, rows: number): void;
}

/** One live pod's processes and disk. Implemented by pods.ts. */
export interface PodHandle {
  readonly podId: string;
  /** Host path of the directory the pod sees as /workspace. */
  readonly workspaceDir: string;
  /** Run a command line (`sh -c`) or, with no command, a login shell, inside the pod. */
  spawn(command: string | null, options?: SpawnOptions): PodProcess;
  /** POST /pods/{id}/exec semantics: argv, stdin, timeout (kill, partial output), output cap. */
  exec(argv: string[], options: { stdin?: Buffer; timeoutMs: number; maxOutputBytes: number }): Promise<ExecResult>;
  /** Bytes used by the pod's disk (/workspace and /tmp). */
  diskUsageBytes(): Promise<number>;
  /** True when any process in the pod is using CPU (the idle-reaper's load probe). */
  isBusy(): Promise<boolean>;
  /** Kill every process of the pod (detached jobs included) and remove its disk. Idempotent. */
  destroy(): Promise<void>;
}

export interface PodRuntime {
  /** Create the pod's disk and process environment; resolves when it can run commands. */
  create(spec: PodRuntimeSpec): Promise<PodHandle>;
  /** Destroy every pod (simulator shutdown). */
  shutdown(): Promise<void>;
}

/** What the bastion asks the simulator's state. Implemented by state.ts. */
export interface BastionDirectory {
  /** The live, ready pod this key (OpenSSH SHA256 fingerprint, "SHA256:…") is pinned to, if any. */
  podForFingerprint(fingerprint: string): { podId: string; handle: PodHandle } | undefined;
  /** Any SSH activity resets the pod's idle clock. */
  noteSshActivity(podId: string): void;
}

/** The bastion's controls, for tests (fault injection) and for shutdown. */
export interface Bastion {
  readonly host: string;
  readonly port: number;
  /** Counters the tests assert on. */
  readonly counters: {
    connections: number;
    refusedChannels: number;
    refusedSubsystems: number;
    refusedForwards: number;
    authFailures: number;
  };
  /**
   * Drop every open connection to this pod (or all connections) now, or after `afterBytes` more
   * bytes sent to the client (a cut already pending is never postponed), or — `afterRequest` —
   * once the client has sent a request containing that text (e.g. `posix-rename@openssh.com`) and
   * the pod answers: the request takes effect in the pod, its answer (or, with `answersFirst: n`,
   * the answer after the next n) never arrives. Answers are counted as the pod's writes: meant for
   * one request at a time (an SFTP rename).
   */
  dropConnections(filter?: { podId?: string; afterBytes?: number; afterRequest?: string; answersFirst?: number }): void;
  /** A standing fault: every connection to the pod authenticated from now on is cut after
   *  `afterBytes` bytes sent to the client (counted from its authentication), until the returned
   *  function is called. Deterministic, unlike re-arming dropConnections on a timer. */
  cutNewConnections(fault: { podId: string; afterBytes: number }): () => void;
  /** Stop accepting and stall existing connections until resume() (a bastion that is unreachable). */
  pause(): void;
  /** Whether pause() is in effect. */
  readonly paused: boolean;
  resume(): void;
  /** Close every connection to a pod (called when the pod ends). */
  closePod(podId: string): void;
  stop(): Promise<void>;
}

/** pods.ts exports `createPodRuntime: CreatePodRuntime`. */
export type CreatePodRuntime = (options: {
  /** Root folder for pods' disks (under the simulator's --state-dir). */
  stateDir: string;
}) => PodRuntime;

/** bastion.ts exports `startBastion: StartBastion`. */
export type StartBastion = (options: {
  directory: BastionDirectory;
  /** Persistent host key file (created on first start) so known_hosts stays valid across restarts. */
  hostKeyPath: string;
  host?: string; // default 127.0.0.1
  port?: number; // default 0 = a free port
}) => Promise<Bastion>;
