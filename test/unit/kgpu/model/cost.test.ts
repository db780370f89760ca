import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  burnRatePerHour,
  creditsSpentBetween,
  creditsToDollars,
  dollarsToCredits,
  formatCredits,
  formatCreditsPerHour,
  formatDollars,
  formatDollarsPerHour,
  formatDuration,
  formatTimeLeft,
  podRatePerHour,
  rentalRatePerHour,
  timeLeftMs,
} from '../../../../src/kgpu/model/cost';
import { describeEndReason, endReasonSentence } from '../../../../src/kgpu/model/end-reason';
import { groupDigits } from '../../../../src/kgpu/util/format-number';

test('credits ↔ dollars at 1 500 credits per dollar', () => {
  assert.equal(creditsToDollars(1500), 1);
  assert.equal(creditsToDollars(300), 0.2);
  assert.equal(dollarsToCredits(1), 1500);
  assert.equal(dollarsToCredits(0.4), 600);
  assert.equal(formatDollars(2010), '$1.34');
  assert.equal(formatDollars(-1500), '-$1.00');
  // The contract's price table: ≈ $/hr column.
  assert.deepEqual([300, 600, 1000, 1400].map(formatDollarsPerHour), ['$0.20/h', '$0.40/h', '$0.67/h', '$0.93/h']);
});

test('credit amounts are grouped by thousands', () => {
  assert.equal(groupDigits(1200), '1 200');
  assert.equal(groupDigits(99000), '99 000');
  assert.equal(groupDigits(1234567), '1 234 567');
  assert.equal(groupDigits(999), '999');
  assert.equal(formatCredits(1200), '1 200 credits');
  assert.equal(formatCredits(1), '1 credit');
  assert.equal(formatCreditsPerHour(2000), '2 000 credits/h');
});

test('rental rate: N × per-GPU rate, a 0-GPU pod bills the class rate', () => {
  assert.equal(rentalRatePerHour(1000, 2), 2000);
  assert.equal(rentalRatePerHour(600, 4), 2400);
  assert.equal(rentalRatePerHour(1400, 0), 1400);
});

test('burn rate sums live pods only, with gpu-models prices filling in', () => {
  const pods = [
    { phase: 'Running' as const, gpu_model: 'rtx4090', gpu_count: 2, price_per_hour_credits: 1000 },
    { phase: 'Pending' as const, gpu_model: 'rtx3080', gpu_count: 0 },
    { phase: 'Ended' as const, gpu_model: 'rtx5090', gpu_count: 1, price_per_hour_credits: 1400 },
    { phase: 'Terminating' as const, gpu_model: 'v100', gpu_count: 4, price_per_hour_credits: 600 },
  ];
  assert.equal(burnRatePerHour(pods, { rtx3080: 300 }), 2000 + 300);
  assert.equal(burnRatePerHour(pods, new Map([['rtx3080', 300]])), 2300);
  assert.throws(() => burnRatePerHour(pods), /No price known for GPU model rtx3080/);
  // The simulator's pods carry the rental total in price_per_hour_credits and the per-GPU rate separately.
  assert.equal(
    burnRatePerHour([
      { phase: 'Running', gpu_model: 'rtx4090', gpu_count: 2, price_per_hour_credits: 2000, price_per_gpu_hour_credits: 1000 },
    ]),
    2000,
  );
  assert.equal(podRatePerHour({ phase: 'Running', gpu_model: 'v100', gpu_count: 3 }, { v100: 600 }), 1800);
  assert.equal(podRatePerHour({ phase: 'Running', gpu_model: 'v100', gpu_count: 3 }), undefined);
  assert.equal(burnRatePerHour([]), 0);
});

test('time left at the current burn', () => {
  assert.equal(timeLeftMs(1000, 1000), 3_600_000);
  assert.equal(timeLeftMs(0, 1000), 0);
  assert.equal(timeLeftMs(500, 0), Infinity);
  // 5 200 credits at 1 000/h = 5.2 h = 5h12m
  assert.equal(formatTimeLeft(5200, 1000), '5h12m');
  assert.equal(formatTimeLeft(100, 1200), '5m');
  assert.equal(formatTimeLeft(10, 1_000_000), '<1m');
  assert.equal(formatTimeLeft(99000, 1000), '4d3h');
  assert.equal(formatTimeLeft(99000, 0), '∞');
  assert.equal(formatDuration(3_600_000 + 5 * 60_000), '1h05m');
  assert.equal(formatDuration(59_999), '<1m');
});

test('credits spent in an interval, per whole minute, refunds excluded', () => {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const iso = (ms: number): string => new Date(t0 + ms).toISOString();
  const pods = [
    // 2× rtx4090 = 2000/h, ran 0:00–1:00
    {
      phase: 'Ended' as const,
      gpu_model: 'rtx4090',
      gpu_count: 2,
      price_per_hour_credits: 1000,
      created_at: iso(0),
      ended_at: iso(3_600_000),
      end_reason: 'returned',
    },
    // rtx3080 300/h, still running since 0:30
    {
      phase: 'Running' as const,
      gpu_model: 'rtx3080',
      gpu_count: 1,
      price_per_hour_credits: 300,
      created_at: iso(1_800_000),
      ended_at: null,
    },
    // failed start: refunded
    {
      phase: 'Ended' as const,
      gpu_model: 'rtx5090',
      gpu_count: 1,
      price_per_hour_credits: 1400,
      created_at: iso(0),
      ended_at: iso(300_000),
      end_reason: 'start_failed:ImagePullBackOff',
    },
  ];
  // [0:30, 1:30): rtx4090 charged at 0:30…1:00 (its end) = 31 × 2000/60; rtx3080 at 0:30…1:29 = 60 × 5 = 300.
  const near = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-9, `${a} ≈ ${b}`);
  near(creditsSpentBetween(pods, t0 + 1_800_000, t0 + 5_400_000), 31 * (2000 / 60) + 300);
  // Consecutive intervals add up to the whole.
  const whole = creditsSpentBetween(pods, t0, t0 + 5_400_000);
  near(creditsSpentBetween(pods, t0, t0 + 1_800_000) + creditsSpentBetween(pods, t0 + 1_800_000, t0 + 5_400_000), whole);
  near(whole, 61 * (2000 / 60) + 60 * 5);
  // 0:00–0:00:59 — the first minute is charged in advance at creation (2 000/h → 33.33).
  assert.equal(Math.round(creditsSpentBetween(pods, t0, t0 + 59_000) * 100) / 100, 33.33);
  // [0:00:30, 0:00:59) — no charge instant inside.
  assert.equal(creditsSpentBetween(pods.slice(0, 1), t0 + 30_000, t0 + 59_000), 0);
  // Before anything existed.
  assert.equal(creditsSpentBetween(pods, t0 - 10_000_000, t0), 0);
});

test('end reasons in plain words, each with a next action', () => {
  const cases: [string, string][] = [
    ['returned', 'Released by you'],
    ['out_of_credits', 'Ended: out of credits'],
    ['auto_idle', 'Ended: idle for 24 h'],
    ['evicted_by_kubelet:OutOfephemeral-storage', 'Evicted: disk full — raise ephemeral storage'],
    ['evicted_by_kubelet:OOMKilled', 'Evicted: out of memory'],
    ['start_failed:ImagePullBackOff: no such image', 'Never started: ImagePullBackOff: no such image'],
    ['something_new', 'Ended: something_new'],
  ];
  for (const [reason, label] of cases) {
    const d = describeEndReason(reason);
    assert.equal(d.label, label);
    assert.ok(d.nextAction.length > 10, reason);
    assert.equal(d.unexpected, reason !== 'returned');
  }
  assert.equal(describeEndReason(null).label, 'Ended');
  assert.match(endReasonSentence('evicted_by_kubelet:OOMKilled'), /^Evicted: out of memory\. Rent again with more memory/);
});
