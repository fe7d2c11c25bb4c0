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

  it('rejects sizes that are not powers of two, and odd associativity', async () => {
    await expect(Vtd.create({ caches: { iotlb: 1000 } })).rejects.toThrow(VtdArgumentError);
    await expect(Vtd.create({ caches: { ways: 3 } })).rejects.toThrow(VtdArgumentError);
  });
});
