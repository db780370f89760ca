/**
 * The links the benchmark emulates between this machine (the user's laptop) and the bastion:
 * round-trip time and bandwidth, the same in each direction.
 */
export interface LinkProfile {
  name: string;
  /** Round-trip time added to the link (half each way), ms. */
  rttMs: number;
  /** Bandwidth in each direction, Mbit/s (0 = not limited). */
  rateMbit: number;
  /** One line for the table's header. */
  describe: string;
}

export const PROFILES: readonly LinkProfile[] = [
  { name: 'loopback', rttMs: 0, rateMbit: 0, describe: 'loopback (no emulation: the CPU is the limit)' },
  { name: 'same-region', rttMs: 5, rateMbit: 1000, describe: 'same region: 5 ms RTT, 1 Gbit/s' },
  { name: 'cross-country', rttMs: 40, rateMbit: 200, describe: 'cross-country: 40 ms RTT, 200 Mbit/s' },
  { name: 'intercontinental', rttMs: 150, rateMbit: 50, describe: 'intercontinental: 150 ms RTT, 50 Mbit/s' },
];

/** `all`, or a comma-separated list of profile names → the profiles, in the order given. */
export function parseProfiles(spec: string): LinkProfile[] {
  if (spec === 'all') return [...PROFILES];
  return spec.split(',').map((name) => {
    const p = PROFILES.find((q) => q.name === name.trim());
    if (!p) throw new Error(`unknown link profile ${name} (have ${PROFILES.map((q) => q.name).join(', ')}, or all)`);
    return p;
  });
}

/** Bytes per second of a profile's rate (0 = not limited). */
export const bytesPerSecond = (p: Pick<LinkProfile, 'rateMbit'>): number => (p.rateMbit * 1e6) / 8;
