/**
 * The WASM first-stage walk (vtd.firstStageWalk) against x86-64 paging vectors observed on
 * QEMU's TCG MMU: 100% agreement on address, page size and fault class, and the A/D bits it
 * sets are exactly the ones the x86 MMU set.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Vtd } from '../src/index.js';
import { image, key, mismatch, vectors, walkRequest } from './support/x86-vectors.js';

// Tables live in [1 MiB, 8 MiB) of the image; A/D updates can only land there.
const TABLES = { start: 1 << 20, end: 8 << 20 };

describe('WASM first-stage walk vs x86-64 paging vectors', () => {
  let vtd: Vtd;
  beforeAll(async () => {
    // MAXPHYADDR was 40 where the vectors were recorded: address bits 51:40 are reserved.
    vtd = await Vtd.create({ memory: { size: image.length }, caps: { haw: 40 } });
  });

  it(`agrees on all ${vectors.length} vectors, and on the A/D bits set`, () => {
    const pristine = image.subarray(TABLES.start, TABLES.end);
    const expected = new Uint8Array(pristine);
    vtd.memory.write(0n, image);
    const live = () => vtd.memory.view(TABLES.start, TABLES.end - TABLES.start);
    const mismatches: string[] = [];
    const adMismatches: string[] = [];
    let adChecked = 0;
    for (const v of vectors) {
      const r = vtd.firstStageWalk(walkRequest(v));
      const bad = mismatch(v, r);
      if (bad) mismatches.push(bad);
      if (v.ad) {
        // Expected memory: the pristine tables plus exactly the vector's A/D bits.
        const dv = new DataView(expected.buffer);
        for (const [gpa, bits] of v.ad) {
          const off = Number(BigInt(gpa)) - TABLES.start;
          const q = dv.getBigUint64(off, true) | (bits.includes('A') ? 0x20n : 0n) | (bits.includes('D') ? 0x40n : 0n);
          dv.setBigUint64(off, q, true);
        }
        if (Buffer.compare(live(), expected) !== 0) adMismatches.push(`${key(v)}: A/D bits differ from ${JSON.stringify(v.ad)}`);
        adChecked++;
        expected.set(pristine);
      }
      live().set(pristine);
    }
    console.log(`WASM: ${vectors.length - mismatches.length}/${vectors.length} vectors agree; A/D exact on ${adChecked - adMismatches.length}/${adChecked}`);
    expect(mismatches, mismatches.slice(0, 40).join('\n')).toEqual([]);
    expect(adMismatches, adMismatches.slice(0, 40).join('\n')).toEqual([]);
  });
});
