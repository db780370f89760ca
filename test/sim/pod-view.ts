/**
 * What the REST layer shows of a pod and of its SSH access (the contract's Pod and SshAccess
 * objects), from the state's records.
 */
import type { Bastion } from './contracts';
import { roundCredits as round, type PodRecord, type SshAccessOut } from './state-records';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function podView(pod: PodRecord, now: number, bastion: Bastion | undefined): Record<string, unknown> {
  const running = pod.ended_at === null && pod.phase === 'Running';
  return {
    pod_id: pod.pod_id,
    name: pod.name,
    image: pod.image,
    gpu_model: pod.gpu_model,
    gpu_count: pod.gpu_count,
    cpu: pod.cpu,
    memory: pod.memory,
    ephemeral_storage_gib: pod.ephemeral_storage_gib,
    phase: pod.phase,
    ready: pod.ready,
    pending_reason: pod.pending_reason,
    created_at: iso(pod.created_at),
    ready_at: iso(pod.ready_at),
    ended_at: iso(pod.ended_at),
    end_reason: pod.end_reason,
    last_activity_at: iso(pod.last_activity_at),
    idle_seconds: running ? Math.max(0, Math.floor((now - pod.last_activity_at) / 1000)) : null,
    idle_warning: pod.idle_warning,
    price_per_hour_credits: pod.price_per_hour_credits,
    price_per_gpu_hour_credits: pod.price_per_gpu_hour_credits,
    credits_spent: round(pod.credits_spent),
    refunded_credits: round(pod.refunded_credits),
    ssh_fingerprint: pod.ended_at === null ? pod.fingerprint : null,
    ssh_host: bastion?.host ?? '127.0.0.1',
    ssh_port: bastion?.port ?? 0,
    ssh_user: 'kgpu',
    node: pod.allocation[0]?.hostname ?? null,
  };
}

export function sshAccessView(fingerprint: string, privateKey: string | undefined, bastion: Bastion | undefined): SshAccessOut {
  return {
    ...(privateKey !== undefined ? { private_key: privateKey } : {}),
    fingerprint,
    ssh_host: bastion?.host ?? '127.0.0.1',
    ssh_port: bastion?.port ?? 0,
    ssh_user: 'kgpu',
  };
}
