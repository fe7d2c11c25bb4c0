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

  it('a batch leaves the IOTLB holding what the same requests one by one leave (the same stale translations after a remap)', async () => {
    // Two units, one fed a batch and one fed the same requests one by one, through a 16-entry
    // IOTLB over 40 pages (4 KiB and 2 MiB, read and write, two PASIDs): then every page is
    // remapped without invalidation, and what each unit still translates the old way must agree.
    const units = await Promise.all([0, 1].map(async () => {
      const vtd = await Vtd.create({ memory: { size: 32 << 20 }, caches: { iotlb: 16 } });
      const g = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: 31n << 20n }]);
      const fs = [g.firstStage({ levels: 4 }), g.firstStage({ levels: 4 })];
      g.scalableDevice(8, { pdts: 0 });
      fs.forEach((t, p) => g.pasidEntry(8, p + 1, { pgtt: 'first-stage', did: 1, fsptptr: t.root, levels: 4 }));
      vtd.setRootTable(g.root());
      return { vtd, fs };
    }));
    const page = (p: number) => (p < 32 ? BigInt(p) << 12n : 0x4000_0000n + (BigInt(p - 32) << 21n));
    const map = (base: bigint) => units.forEach(({ fs }) => fs.forEach((t, k) => {
      for (let p = 0; p < 40; p++) t.map(page(p), base + (BigInt(k) << 24n) + (p < 32 ? BigInt(p) << 12n : BigInt(p - 32) << 21n), { size: p < 32 ? 4096 : 2 << 20 });
    }));
    map(0x4000_0000n);
    let x = 7;
    const rnd = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % n;
    const reqs = Array.from({ length: 400 }, () => ({ sid: 8, pasid: 1 + rnd(2), iova: page(rnd(40)) + BigInt(rnd(512) * 8), write: rnd(4) === 0 }));
    const [a, b] = units;
    for (const warm of [true, false]) {
      // The first round sets the accessed and dirty bits (the batch's fast loops need them set).
      const batch = a!.vtd.createBatch(reqs.length);
      reqs.forEach((r, k) => {
        batch.sid[k] = r.sid;
        batch.pasid[k] = r.pasid;
        batch.iova[k] = r.iova;
        batch.flags[k] = r.write ? 1 : 0;
      });
      a!.vtd.caches.flush();
      b!.vtd.caches.flush();
      expect(a!.vtd.translateBatch(batch, reqs.length)).toBe(0);
      const one = reqs.map((r) => b!.vtd.translate(r));
      expect([...batch.address]).toEqual(one.map((r) => (r.ok ? r.address : -1n)));
      if (warm) continue;
      expect(a!.vtd.caches.stats()).toEqual(b!.vtd.caches.stats());
      map(0x8000_0000n);
      const after = (u: typeof a) => Array.from({ length: 80 }, (_, k) => u!.vtd.translate({ sid: 8, pasid: 1 + (k % 2), iova: page(k >> 1) }));
      const stale = after(a);
      expect(stale).toEqual(after(b));
      expect(stale.some((r) => r.ok && r.address < 0x8000_0000n)).toBe(true);
    }
  });

  it.each([{ pasid: 2, iotlb: 0 }, { pasid: 2, iotlb: 2 }, { pasid: 2 }])(
    'a batch over three PASIDs through a two-entry PASID cache (%o) translates each by its own tables',
    async (caches) => {
      // Each PASID maps the same page elsewhere; the third PASID's requests evict the others'
      // records between the batch's runs, so no run may keep using a record it found earlier.
      const vtd = await Vtd.create({ memory: { size: 16 << 20 }, caches });
      const g = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: 15n << 20n }]);
      g.scalableDevice(8, { pdts: 0 });
      for (let p = 1; p <= 3; p++) {
        const fs = g.firstStage({ levels: 4 });
        fs.map(0x5000n, BigInt(p) << 20n, {});
        g.pasidEntry(8, p, { pgtt: 'first-stage', did: 1, fsptptr: fs.root, levels: 4 });
      }
      vtd.setRootTable(g.root());
      // A and B cached, C evicts one of them (the full path), C again (decoded by then), then
      // the evicted one: its old record now holds C's. Over both orders and both victims.
      const pasids = [1, 2, 1, 3, 3, 1, 2, 1, 2, 3, 3, 2, 1, 2, 1, 3, 3, 2, 1, 2, 1, 3, 3, 1, 2, 1, 3, 3, 2, 1, 2, 3, 3, 1, 2];
      const b = vtd.createBatch(pasids.length);
      b.sid.fill(8);
      pasids.forEach((p, k) => {
        b.pasid[k] = p;
        b.iova[k] = 0x5000n + BigInt(k * 8);
      });
      for (const p of [1, 2, 3]) vtd.translate({ sid: 8, pasid: p, iova: 0x5000n }); // accessed bits set
      for (let round = 0; round < 3; round++) {
        expect(vtd.translateBatch(b, pasids.length)).toBe(0);
        expect([...b.address]).toEqual(pasids.map((p, k) => (BigInt(p) << 20n) + BigInt(k * 8)));
      }
    },
  );

  it('rejects sizes that are not powers of two, and odd associativity', async () => {
    await expect(Vtd.create({ caches: { iotlb: 1000 } })).rejects.toThrow(VtdArgumentError);
    await expect(Vtd.create({ caches: { ways: 3 } })).rejects.toThrow(VtdArgumentError);
  });
});
