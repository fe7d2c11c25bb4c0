/** The cache-invalidation API a unit's embedder uses directly (the guest's way is the queue). */
import { describe, expect, it } from 'vitest';
import { GuestBuilder, Vtd, VtdArgumentError } from '../src/index.js';

async function secondStageUnit() {
  const vtd = await Vtd.create({ memory: { size: 16 << 20 } });
  const g = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: 15n << 20n }]);
  const ss = g.secondStage({ aw: 2 });
  ss.map(0x4000n, 0x20_0000n, { size: 4096 });
  g.scalableDevice(8, { pdts: 0 });
  g.pasidEntry(8, 0, { pgtt: 'second-stage', aw: 2, did: 1, ssptptr: ss.root });
  vtd.setRootTable(g.root());
  return { vtd, ss };
}

describe('vtd.caches', () => {
  it('keeps a stale translation until the matching IOTLB invalidation', async () => {
    const { vtd, ss } = await secondStageUnit();
    expect(vtd.translate({ sid: 8, iova: 0x4010n })).toMatchObject({ address: 0x20_0010n });
    ss.map(0x4000n, 0x30_0000n, { size: 4096 });
    expect(vtd.translate({ sid: 8, iova: 0x4010n })).toMatchObject({ address: 0x20_0010n });
    vtd.caches.invalidateIotlb('page', { did: 2, addr: 0x4000n });
    expect(vtd.translate({ sid: 8, iova: 0x4010n })).toMatchObject({ address: 0x20_0010n }); // another domain
    vtd.caches.invalidateIotlb('page', { did: 1, addr: 0x4000n });
    expect(vtd.translate({ sid: 8, iova: 0x4010n })).toMatchObject({ address: 0x30_0010n });
  });

  it.each([18, 51, 52, 63])('a page-selective invalidation with AM %i covers 2^AM pages (the whole space from AM 52 on)', async (am) => {
    const { vtd, ss } = await secondStageUnit();
    vtd.translate({ sid: 8, iova: 0x4010n });
    ss.map(0x4000n, 0x30_0000n, { size: 4096 });
    vtd.caches.invalidateIotlb('page', { did: 1, addr: 0n, am });
    expect(vtd.translate({ sid: 8, iova: 0x4010n })).toMatchObject({ address: 0x30_0010n });
  });

  it('counts IOTLB hits and misses', async () => {
    const { vtd } = await secondStageUnit();
    vtd.caches.resetStats();
    vtd.translate({ sid: 8, iova: 0x4010n });
    vtd.translate({ sid: 8, iova: 0x4020n });
    expect(vtd.caches.stats()).toEqual({ iotlbHits: 1, iotlbMisses: 1 });
  });

  it('a batch through a one-set IOTLB: pages evicted by later fills translate by a walk, stale ones stay until invalidated', async () => {
    // Four ways, one set: a fifth page evicts one, so a page seen before must be looked up again.
    const vtd = await Vtd.create({ memory: { size: 16 << 20 }, caches: { iotlb: 4 } });
    const g = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: 15n << 20n }]);
    const fs = g.firstStage({ levels: 4 });
    for (let p = 0; p < 8; p++) fs.map(BigInt(p) << 12n, 0x100_0000n + (BigInt(p) << 12n), {});
    g.scalableDevice(8, { pdts: 0 });
    g.pasidEntry(8, 0, { pgtt: 'first-stage', did: 1, fsptptr: fs.root, levels: 4 });
    vtd.setRootTable(g.root());
    // Page 0 is used, then seven other pages are filled (every way is replaced at least once).
    const pages = [0, 0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 5, 1, 1, 0, 2, 2, 3];
    const b = vtd.createBatch(pages.length);
    b.sid.fill(8);
    b.pasid.fill(0xffff_ffff);
    pages.forEach((p, k) => (b.iova[k] = (BigInt(p) << 12n) + BigInt(k * 8)));
    const expected = pages.map((p, k) => 0x100_0000n + (BigInt(p) << 12n) + BigInt(k * 8));
    // The second round, with the accessed bits set by the first, runs wholly in the batch's fast loops.
    for (let round = 0; round < 2; round++) {
      vtd.caches.flush();
      expect(vtd.translateBatch(b, pages.length)).toBe(0);
      expect([...b.address]).toEqual(expected);
    }
    // Remap every page without invalidation: what is still cached translates the old way.
    for (let p = 0; p < 8; p++) fs.map(BigInt(p) << 12n, 0x200_0000n + (BigInt(p) << 12n), {});
    const single = pages.map((_, k) => vtd.translate({ sid: 8, iova: b.iova[k]! }));
    vtd.caches.flush();
    expect(vtd.translateBatch(b, pages.length)).toBe(0);
    expect([...b.address]).toEqual(expected.map((a) => a + 0x100_0000n));
    expect(single.some((r) => r.ok && r.address < 0x200_0000n)).toBe(true); // some were stale
  });

  it('rejects sizes that are not powers of two, and odd associativity', async () => {
    await expect(Vtd.create({ caches: { iotlb: 1000 } })).rejects.toThrow(VtdArgumentError);
    await expect(Vtd.create({ caches: { ways: 3 } })).rejects.toThrow(VtdArgumentError);
  });
});
