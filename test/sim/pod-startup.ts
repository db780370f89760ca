/**
 * Bringing a rented pod up (SimState.rent): a known image gets its runtime created (with the env
 * kgpu injects: the pod token, the API base, the package index) and turns Running and ready when
 * both the runtime exists and the cold start has elapsed; an unknown image stays Pending in
 * ImagePullBackOff and is released (refunded) after START_FAILED_RELEASE_MS. A runtime that cannot
 * be created ends the rental Failed; one over its memory limit is OOMKilled.
 */
import type { EndReason, PodHandle } from './contracts';
import { parseCpu, parseMemory } from './pod-spec';
import { START_FAILED_RELEASE_MS, type PodRecord, type StateOptions } from './state-records';

export type EndPod = (pod: PodRecord, reason: EndReason, finalPhase?: 'Ended' | 'Failed') => Promise<void>;

/** Start `pod` (just recorded, its first minute paid); `goodImage` says whether its image exists. */
export function startPod(pod: PodRecord, goodImage: boolean, o: StateOptions, end: EndPod): void {
  const now = pod.created_at;
  if (!goodImage) {
    pod.timers.push(o.clock.at(now + START_FAILED_RELEASE_MS, () => end(pod, 'start_failed:ImagePullBackOff')));
    return;
  }
  pod.creating = createRuntime(pod, o, end);
  if (o.coldStartMs > 0) {
    pod.timers.push(o.clock.at(now + o.coldStartMs, () => coldStartElapsed(pod, o)));
  } else {
    pod.coldStartDone = true;
  }
}

async function createRuntime(pod: PodRecord, o: StateOptions, end: EndPod): Promise<void> {
  const index = o.packageIndexUrl?.();
  const env: Record<string, string> = {
    // The simulator's stand-in for PyPI (a rental's own env may point elsewhere).
    ...(index ? { PIP_INDEX_URL: index, UV_INDEX_URL: index, UV_DEFAULT_INDEX: index } : {}),
    ...(pod.env ?? {}),
    KGPU_API_TOKEN: pod.podToken,
    KGPU_API_BASE: o.apiBase(),
    KGPU_GPU_ID: pod.pod_id,
    KGPU_RENT_ID: pod.pod_id,
    NVIDIA_VISIBLE_DEVICES: 'void',
  };
  let handle: PodHandle;
  try {
    handle = await o.runtime.create({
      podId: pod.pod_id,
      gpuModel: pod.gpu_model,
      gpuCount: pod.gpu_count,
      env,
      diskLimitBytes: pod.diskLimitBytes,
      memoryBytes: parseMemory(pod.memory),
      cpu: parseCpu(pod.cpu),
      reach: o.podReach?.(),
      // The kubelet: a container over its memory limit is OOMKilled, and kgpu ends the rental.
      onOomKilled: () => {
        if (pod.ended_at === null) void end(pod, 'evicted_by_kubelet:OOMKilled');
      },
    });
  } catch (e) {
    console.error(`kgpu-sim: creating ${pod.pod_id} failed: ${(e as Error).message}`);
    if (pod.ended_at === null) void end(pod, 'start_failed:CreateContainerError', 'Failed');
    return;
  }
  pod.handle = handle;
  if (pod.ended_at !== null) return; // end() awaits `creating`, then destroys the handle
  if (pod.coldStartDone) markReady(pod, o);
}

function coldStartElapsed(pod: PodRecord, o: StateOptions): void {
  pod.coldStartDone = true;
  if (pod.handle && pod.ended_at === null) markReady(pod, o);
}

function markReady(pod: PodRecord, o: StateOptions): void {
  if (pod.ready || pod.ended_at !== null) return;
  const now = o.clock.now();
  pod.phase = 'Running';
  pod.ready = true;
  pod.pending_reason = null;
  pod.ready_at = now;
  pod.last_activity_at = now;
}
