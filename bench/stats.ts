/** Timing helpers: whole-call timing with process.hrtime.bigint(), median/min/max over reps. */

export interface NsStats {
  /** Per-translation nanoseconds: the middle rep (sorted[floor(n/2)], as native_walk reports). */
  median: number;
  min: number;
  /** Slowest rep; null where the source does not report it (native_walk prints min and median only). */
  max: number | null;
}

export function summarize(perTranslationNs: readonly number[]): NsStats {
  const s = [...perTranslationNs].sort((a, b) => a - b);
  if (s.length === 0) throw new Error('no repetitions');
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

/** Times `reps` calls of `fn` (each translating `count` requests); ns per translation per rep. */
export function timeReps(reps: number, count: number, fn: () => void): number[] {
  const out: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    const t1 = process.hrtime.bigint();
    out.push(Number(t1 - t0) / count);
  }
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Rounds for display and JSON (ns to 0.01). */
export const round2 = (v: number): number => Math.round(v * 100) / 100;
