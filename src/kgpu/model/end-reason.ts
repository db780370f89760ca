/**
 * Why a rental ended, in plain words, with the next thing to do (contract, "Pod lifecycle").
 */
import type { EndReason } from '../api/api-types';

export type EndReasonKind = 'returned' | 'out_of_credits' | 'auto_idle' | 'disk_full' | 'out_of_memory' | 'start_failed' | 'other';

export interface EndReasonDescription {
  kind: EndReasonKind;
  /** Short label for a tree item or status line, e.g. "Evicted: out of memory". */
  label: string;
  /** What to do next, one sentence. */
  nextAction: string;
  /** True when the ending was not asked for by the user (worth a warning). */
  unexpected: boolean;
}

export function describeEndReason(reason: EndReason | null | undefined): EndReasonDescription {
  switch (reason) {
    case 'returned':
      return { kind: 'returned', label: 'Released by you', nextAction: 'Rent a new GPU when you need one.', unexpected: false };
    case 'out_of_credits':
      return {
        kind: 'out_of_credits',
        label: 'Ended: out of credits',
        nextAction: 'Top up your credits, then rent again; its disk was destroyed, so re-upload your data.',
        unexpected: true,
      };
    case 'auto_idle':
      return {
        kind: 'auto_idle',
        label: 'Ended: idle for 24 h',
        nextAction: 'Rent again; a running job (GPU or CPU busy) or SSH activity keeps a pod from being released as idle.',
        unexpected: true,
      };
    case 'evicted_by_kubelet:OutOfephemeral-storage':
      return {
        kind: 'disk_full',
        label: 'Evicted: disk full — raise ephemeral storage',
        nextAction: 'Rent again with a larger ephemeral storage (ephemeral_storage_gib), or rotate checkpoints and caches.',
        unexpected: true,
      };
    case 'evicted_by_kubelet:OOMKilled':
      return {
        kind: 'out_of_memory',
        label: 'Evicted: out of memory',
        nextAction: 'Rent again with more memory, or reduce batch size / data held in RAM.',
        unexpected: true,
      };
    default:
      break;
  }
  if (reason?.startsWith('start_failed:')) {
    const why = reason.slice('start_failed:'.length).trim() || 'unknown reason';
    return {
      kind: 'start_failed',
      label: `Never started: ${why}`,
      nextAction: 'Check the image name and tag, then rent again; no credits were charged for it.',
      unexpected: true,
    };
  }
  return {
    kind: 'other',
    label: reason ? `Ended: ${reason}` : 'Ended',
    nextAction: 'Rent again when you need a GPU.',
    unexpected: true,
  };
}

/** "Evicted: out of memory. Rent again with more memory, …" */
export function endReasonSentence(reason: EndReason | null | undefined): string {
  const d = describeEndReason(reason);
  return `${d.label}. ${d.nextAction}`;
}
