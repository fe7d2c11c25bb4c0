/**
 * The reference first-stage walk against x86-64 paging vectors observed on QEMU's TCG MMU
 * (test/fixtures/x86-paging/README.md explains the mapping to VT-d requests).
 */
import { describe, expect, it } from 'vitest';
import { resolveCaps } from '../src/spec/caps.js';
import { RegionMemory, refFirstStageWalk, type RefEnv, type RefMemory } from '../src/reference/index.js';
import { hex, image, key, mismatch, vectors, walkRequest } from './support/x86-vectors.js';

/** Logs writes (to restore the image and to read back the A/D bits set, in order). */
class LoggingMemory implements RefMemory {
  log: { gpa: bigint; old: bigint; value: bigint }[] = [];
  constructor(private readonly inner: RegionMemory) {}
  read64(gpa: bigint) {
    return this.inner.read64(gpa);
  }
  spanInside(gpa: bigint, bytes: number) {
    return this.inner.spanInside(gpa, bytes);
  }
  write64(gpa: bigint, value: bigint) {
    this.log.push({ gpa, old: this.inner.read64(gpa)!, value });
    this.inner.write64(gpa, value);
  }
  restore() {
    for (const w of this.log.reverse()) this.inner.write64(w.gpa, w.old);
    this.log = [];
  }
}

describe('reference first-stage walk vs x86-64 paging vectors', () => {
  const mem = new LoggingMemory(new RegionMemory([{ base: 0n, bytes: image }]));
  const env: RefEnv = { mem, caps: resolveCaps({ haw: 40 }), te: true, scalable: true, rtaddr: 0n };

  it(`agrees on all ${vectors.length} vectors (ok, address, page size, fault class); A/D secondary`, () => {
    const mismatches: string[] = [];
    const adMismatches: string[] = [];
    let adAgree = 0;
    let adAbsent = 0;
    for (const v of vectors) {
      const r = refFirstStageWalk(env, walkRequest(v));
      const ad = mem.log.map((w): [string, string] => {
        const set = w.value & ~w.old;
        return [hex(w.gpa), ((set >> 5n) & 1n ? 'A' : '') + ((set >> 6n) & 1n ? 'D' : '')];
      });
      mem.restore();

      const bad = mismatch(v, r);
      if (bad) mismatches.push(bad);
      const got = r.ok ? 'ok' : `fault 0x${r.fault.reason.toString(16)}`;

      // Vectors without `ad` are the 1 GiB-leaf faults where QEMU's A/D order is its own.
      if (!v.ad) adAbsent++;
      else if (JSON.stringify(ad) === JSON.stringify(v.ad)) adAgree++;
      else adMismatches.push(`${key(v)} [${v.tags.join(',')}] ${got}: want ${JSON.stringify(v.ad)}, got ${JSON.stringify(ad)}`);
    }

    console.log(`x86 vectors: ${vectors.length - mismatches.length}/${vectors.length} agree`);
    console.log(`A/D secondary check: ${adAgree}/${vectors.length - adAbsent} agree (${adAbsent} vectors carry no ad list)`);
    if (adMismatches.length) console.log(`A/D differences:\n  ${adMismatches.slice(0, 40).join('\n  ')}`);
    expect(mismatches, mismatches.slice(0, 40).join('\n')).toEqual([]);
    // Secondary: asserted because every vector that has an `ad` list agrees today.
    expect(adMismatches, adMismatches.slice(0, 40).join('\n')).toEqual([]);
  });
});
