/**
 * Successful walks (docs/semantics.md §0, §2, §4-§7): every page size and level count of the
 * first and second stage, nested, pass-through, translation disabled; the accessed/dirty/
 * extended-accessed updates; which PASID a request without PASID uses; and the batch API,
 * which must answer exactly as `vtd.translate`.
 */
import { describe, expect, it } from 'vitest';
import {
  BatchFlag, FsPte, GuestBuilder, NO_PASID, Vtd, VtdArgumentError, type TranslateRequest, type TranslateResult,
} from '../src/index.js';
import {
  expectFault, fsFixture, FS_IOVA4, FS_IOVA5, GIB1, invalidateAll, KIB4, makeUnit, MIB2, nestedFixture, OFF,
  OUT, PASID, PLACEMENTS, ptFixture, SID, ssFixture, success,
} from './support/directed.js';

const SIZES = [KIB4, MIB2, GIB1] as const;
const sizeName = (s: number) => (s === KIB4 ? '4 KiB' : s === MIB2 ? '2 MiB' : '1 GiB');
/** An offset near the end of a page of `size` (exercises every offset bit of the page). */
const tail = (size: number) => BigInt(size) - 0x10n - 0x123n;

const FS_UPPER4: Record<number, bigint> = {
  [KIB4]: 0xffff_8123_4567_8000n,
  [MIB2]: 0xffff_8123_4560_0000n,
  [GIB1]: 0xffff_8123_4000_0000n,
};
const FS_UPPER5: Record<number, bigint> = {
  [KIB4]: 0xff12_3456_789a_b000n,
  [MIB2]: 0xff12_3456_7880_0000n,
  [GIB1]: 0xff12_3456_4000_0000n,
};

describe('first stage: 4 and 5 levels x 4 KiB / 2 MiB / 1 GiB', () => {
  const cases = PLACEMENTS.flatMap((tables) =>
    ([4, 5] as const).flatMap((levels) =>
      SIZES.flatMap((size) =>
        (['lower', 'upper'] as const).map((half) => ({ tables, levels, size, half, name: sizeName(size) })))));

  it.each(cases)('$levels-level, $name page, $half-half canonical IOVA, tables in $tables RAM', async ({ tables, levels, size, half }) => {
    const iova = (half === 'lower' ? (levels === 4 ? FS_IOVA4 : FS_IOVA5) : levels === 4 ? FS_UPPER4 : FS_UPPER5)[size]!;
    const f = await fsFixture({ tables, levels, size, iova });
    const off = tail(size);
    expect(f.tr({ iova: iova + off })).toStrictEqual(success(f.out + off, size, 'rwx'));
    expect(f.tr({ iova: iova + off, write: true })).toStrictEqual(success(f.out + off, size, 'rwx'));
    expect(f.tr({ iova: iova + off, exec: true, priv: true })).toStrictEqual(success(f.out + off, size, 'rwx'));
    // The neighbouring page of the same size is not mapped: its entry at the leaf level is not present.
    const leaf = size === KIB4 ? 1 : size === MIB2 ? 2 : 3;
    expectFault(f.tr({ iova: iova + BigInt(size) }), 'FS_ENTRY_P', leaf);
  });

  it('a read-only, supervisor-only, execute-disabled leaf reports exactly those permissions', async () => {
    const f = await fsFixture({ map: { write: false, user: false, xd: true }, entry: { wpe: true } });
    expect(f.tr({ priv: true })).toStrictEqual(success(f.out + OFF, KIB4, 'r'));
  });
});

describe('second stage: 3, 4 and 5 levels x 4 KiB / 2 MiB / 1 GiB', () => {
  const IOVA_BY_AW: Record<number, bigint> = { 1: 0x52_7654_3000n, 2: 0x7f12_3456_7000n, 3: 0x1_2345_6789_a000n };
  const cases = PLACEMENTS.flatMap((tables) =>
    ([1, 2, 3] as const).flatMap((aw) => SIZES.map((size) => ({ tables, aw, levels: aw + 2, size, name: sizeName(size) }))));

  it.each(cases)('$levels-level (AW $aw), $name page, tables in $tables RAM', async ({ tables, aw, size }) => {
    const iova = IOVA_BY_AW[aw]! & ~(BigInt(size) - 1n);
    const f = await ssFixture({ tables, aw, size, iova, caps: { sagaw: 0b1110, mgaw: 57 }, map: { exec: true } });
    const off = tail(size);
    expect(f.tr({ iova: iova + off })).toStrictEqual(success(f.out + off, size, 'rwx'));
    expect(f.tr({ iova: iova + off, write: true, exec: true })).toStrictEqual(success(f.out + off, size, 'rwx'));
    const leaf = size === KIB4 ? 1 : size === MIB2 ? 2 : 3;
    expectFault(f.tr({ iova: iova + BigInt(size) }), 'SM_READ', leaf);
  });

  it('permissions are the AND of R, W and X over the levels', async () => {
    const f = await ssFixture({ nonLeaf: { exec: false }, map: { exec: true, write: false } });
    expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'r'));
  });

  it('a request without PASID walks PASID 0\'s second stage', async () => {
    const f = await ssFixture({ withPasid: false });
    expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rw'));
  });
});

describe('nested: page size is the smaller of the two stages, permissions are intersected', () => {
  const cases = SIZES.flatMap((fs) => SIZES.map((ss) => ({ fs, ss, fsName: sizeName(fs), ssName: sizeName(ss) })));

  it.each(cases)('first stage $fsName, second stage $ssName', async ({ fs, ss }) => {
    const gpa = 0x4000_0000n; // 1 GiB aligned: the first stage's page lies in the second stage's
    const f = await nestedFixture({ iova: FS_IOVA4[fs]!, gpa, out: OUT[ss]!, fsMap: { size: fs }, ssMap: { size: ss } });
    const smaller = Math.min(fs, ss);
    const off = tail(smaller);
    expect(f.tr({ iova: f.iova + off })).toStrictEqual(success(OUT[ss]! + off, smaller, 'rwx'));
  });

  it.each([
    { what: 'first stage read-only', fsMap: { write: false }, ssMap: {}, perms: 'rx' },
    { what: 'second stage read-only', fsMap: {}, ssMap: { write: false }, perms: 'rx' },
    { what: 'first stage XD', fsMap: { xd: true }, ssMap: {}, perms: 'rw' },
    { what: 'second stage without X', fsMap: {}, ssMap: { exec: false }, perms: 'rw' },
    { what: 'first stage read-only, second stage without X', fsMap: { write: false }, ssMap: { exec: false }, perms: 'r' },
  ])('$what -> $perms', async ({ fsMap, ssMap, perms }) => {
    const f = await nestedFixture({ fsMap, ssMap });
    expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, perms));
  });

  it('5-level first stage under a 5-level second stage', async () => {
    const f = await nestedFixture({ levels: 5, aw: 3, caps: { sagaw: 0b1110 } });
    expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
  });
});

describe('pass-through and translation disabled', () => {
  it('PGTT pass-through: output = input, 4 KiB, RWX (with and without PASID)', async () => {
    const f = await ptFixture();
    expect(f.tr({ iova: 0x7654_3210_fedcn, write: true })).toStrictEqual(success(0x7654_3210_fedcn, KIB4, 'rwx'));
    const g = await ptFixture({ withPasid: false });
    expect(g.tr({ iova: 0x10n })).toStrictEqual(success(0x10n, KIB4, 'rwx'));
  });

  it('before setRootTable the output is the input (identity, 4 KiB, RWX) for any request, and no table is touched', async () => {
    const { vtd, guest } = await makeUnit();
    const pt = guest.firstStage();
    const leaf = pt.map(FS_IOVA4[KIB4]!, OUT[KIB4]!);
    guest.scalableDevice(SID);
    guest.pasidEntry(SID, PASID, { pgtt: 'first-stage', fsptptr: pt.root });
    const entries = [1, 2, 3, 4].map((l) => pt.entryAddress(FS_IOVA4[KIB4]!, l));
    expect(entries[0]).toBe(leaf);
    const before = entries.map((e) => vtd.memory.readU64(e));
    const reqs: TranslateRequest[] = [
      { sid: SID, pasid: PASID, iova: FS_IOVA4[KIB4]! + OFF, write: true },
      { sid: 0xffff, iova: 0n },
      { sid: 0, pasid: 0xfffff, iova: (1n << 64n) - 1n, exec: true, priv: true },
      { sid: 0x1234, iova: 1n << 47n },
    ];
    for (const r of reqs) expect(vtd.translate(r)).toStrictEqual(success(r.iova, KIB4, 'rwx'));
    expect(entries.map((e) => vtd.memory.readU64(e))).toEqual(before);
  });

  it('disableTranslation returns to identity; setRootTable translates again', async () => {
    const f = await fsFixture();
    expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
    f.vtd.disableTranslation();
    expect(f.vtd.root).toBeUndefined();
    expect(f.tr()).toStrictEqual(success(f.iova + OFF, KIB4, 'rwx'));
    f.vtd.setRootTable(f.guest.root());
    expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
  });
});

describe('accessed, dirty and extended-accessed updates (§5.2.5, §5.4)', () => {
  const { A, D, EA } = FsPte;

  it.each([4, 5] as const)('%i-level read: A set on every level, D and EA nowhere', async (levels) => {
    const f = await fsFixture({ levels });
    const before = Array.from({ length: levels }, (_, i) => f.read(f.entry(i + 1)));
    expect(f.tr()).toMatchObject({ ok: true });
    for (let l = 1; l <= levels; l++) expect(f.read(f.entry(l))).toBe(before[l - 1]! | A);
  });

  it('write: A on every level, D on the leaf only', async () => {
    const f = await fsFixture();
    const before = [1, 2, 3, 4].map((l) => f.read(f.entry(l)));
    expect(f.tr({ write: true })).toMatchObject({ ok: true });
    expect(f.read(f.entry(1))).toBe(before[0]! | A | D);
    for (const l of [2, 3, 4]) expect(f.read(f.entry(l))).toBe(before[l - 1]! | A);
  });

  it('write: D on a 2 MiB and a 1 GiB leaf', async () => {
    for (const [size, level] of [[MIB2, 2], [GIB1, 3]] as const) {
      const f = await fsFixture({ size });
      const before = f.read(f.entry(level));
      expect(f.tr({ write: true })).toMatchObject({ ok: true, pageSize: size });
      expect(f.read(f.entry(level))).toBe(before | A | D);
    }
  });

  it('write with A already set on the leaf: D is still set (QEMU sets D only together with A)', async () => {
    const f = await fsFixture({ map: { accessed: true }, nonLeaf: { accessed: true } });
    const before = f.read(f.entry(1));
    expect(f.tr({ write: true })).toMatchObject({ ok: true });
    expect(f.read(f.entry(1))).toBe(before | D);
  });

  it('a read, then a write to the same page: the read sets A only, the write then sets D', async () => {
    const f = await fsFixture();
    const before = f.read(f.entry(1));
    expect(f.tr()).toMatchObject({ ok: true });
    expect(f.read(f.entry(1))).toBe(before | A);
    expect(f.tr({ write: true })).toMatchObject({ ok: true });
    expect(f.read(f.entry(1))).toBe(before | A | D);
  });

  it('EA is set with EAFE, on every level, also where A was already set', async () => {
    const f = await fsFixture({ entry: { eafe: true }, nonLeaf: { accessed: true }, map: { accessed: true } });
    const before = [1, 2, 3, 4].map((l) => f.read(f.entry(l)));
    expect(f.tr()).toMatchObject({ ok: true });
    for (const l of [1, 2, 3, 4]) expect(f.read(f.entry(l))).toBe(before[l - 1]! | EA);
  });

  it('EA is never set without EAFE', async () => {
    const f = await fsFixture({ entry: { eafe: false } });
    expect(f.tr({ write: true })).toMatchObject({ ok: true });
    for (const l of [1, 2, 3, 4]) expect(f.read(f.entry(l)) & EA).toBe(0n);
  });

  it('a permission fault at the leaf writes nothing to the leaf; the levels above already have A', async () => {
    const f = await fsFixture({ map: { write: false } });
    const before = [1, 2, 3, 4].map((l) => f.read(f.entry(l)));
    expectFault(f.tr({ write: true }), 'SM_WRITE', 1);
    expect(f.read(f.entry(1))).toBe(before[0]!);
    for (const l of [2, 3, 4]) expect(f.read(f.entry(l))).toBe(before[l - 1]! | A);
  });

  it('a fault at an earlier level (P clear at level 2): A already set on levels 4 and 3, level 2 and the leaf untouched', async () => {
    const f = await fsFixture();
    const at = [1, 2, 3, 4].map((l) => f.entry(l));
    f.clear(at[1]!, FsPte.P);
    const before = at.map((e) => f.read(e));
    expectFault(f.tr(), 'FS_ENTRY_P', 2);
    expect(f.read(at[3]!)).toBe(before[3]! | A);
    expect(f.read(at[2]!)).toBe(before[2]! | A);
    expect(f.read(at[1]!)).toBe(before[1]!);
    expect(f.read(at[0]!)).toBe(before[0]!);
  });

  it('the bare firstStageWalk sets A and D like a translation', async () => {
    const f = await fsFixture();
    const before = f.read(f.entry(1));
    expect(f.vtd.firstStageWalk({ root: f.pt.root, levels: 4, iova: f.iova + OFF, write: true }))
      .toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
    expect(f.read(f.entry(1))).toBe(before | A | D);
  });

  it('the second stage is never written (no A/D: SSADE is not emulated)', async () => {
    const f = await ssFixture();
    const before = [1, 2, 3, 4].map((l) => f.read(f.entry(l)));
    expect(f.tr({ write: true })).toMatchObject({ ok: true });
    expect([1, 2, 3, 4].map((l) => f.read(f.entry(l)))).toEqual(before);
  });
});

describe('which PASID a request without PASID uses (§2)', () => {
  /** Two PASID entries on one device: PASID 0 -> OUT0, PASID 7 -> OUT7. */
  async function twoPasids(caps: { rps?: boolean }, device: { ridPasid?: number; ridPriv?: boolean }, entry = {}) {
    const f = await fsFixture({ caps, withPasid: false, device, entry: { ...entry } });
    const pt7 = f.guest.firstStage();
    pt7.map(f.iova, 0x7_0000_0000n, { user: false });
    f.guest.pasidEntry(f.sid, 7, { pgtt: 'first-stage', fsptptr: pt7.root, sre: true, ...entry });
    invalidateAll(f.vtd);
    return f;
  }

  it('without caps.rps: PASID 0 (RID_PASID in the context entry is ignored)', async () => {
    const f = await twoPasids({}, { ridPasid: 7 });
    expect(f.tr()).toStrictEqual(success(f.out + OFF, KIB4, 'rwx'));
  });

  it('with caps.rps: the context entry\'s RID_PASID', async () => {
    const f = await twoPasids({ rps: true }, { ridPasid: 7, ridPriv: true });
    expect(f.tr()).toStrictEqual(success(0x7_0000_0000n + OFF, KIB4, 'rwx'));
    const g = await twoPasids({ rps: true }, { ridPasid: 0 });
    expect(g.tr()).toStrictEqual(success(g.out + OFF, KIB4, 'rwx'));
  });

  it('a request without PASID is unprivileged and non-execute: priv/exec on the request are ignored', async () => {
    const f = await fsFixture({ withPasid: false, map: { user: false } });
    expectFault(f.tr({ priv: true }), 'FS_US', 1);
    const g = await fsFixture({ withPasid: false, map: { xd: true }, entry: { ere: false } });
    expect(g.tr({ exec: true })).toStrictEqual(success(g.out + OFF, KIB4, 'rw'));
  });

  it('with caps.rps, RID_PRIV makes the request privileged (supervisor-only leaf); without RID_PRIV it is a user request', async () => {
    const f = await twoPasids({ rps: true }, { ridPasid: 7, ridPriv: true });
    expect(f.tr({ priv: false })).toStrictEqual(success(0x7_0000_0000n + OFF, KIB4, 'rwx'));
    const g = await twoPasids({ rps: true }, { ridPasid: 7, ridPriv: false });
    expectFault(g.tr({ priv: true }), 'FS_US', 1);
  });

  it('RID_PRIV is ignored without caps.rps', async () => {
    const f = await fsFixture({ withPasid: false, device: { ridPriv: true }, map: { user: false } });
    expectFault(f.tr(), 'FS_US', 1);
  });

  it('RID_PRIV with SRE clear in the selected PASID entry is 0x5D; exec stays off with RPS', async () => {
    const f = await twoPasids({ rps: true }, { ridPasid: 7, ridPriv: true }, { sre: false });
    expectFault(f.tr(), 'SM_PASID_ENTRY_SRE');
    const g = await fsFixture({ caps: { rps: true }, withPasid: false, map: { xd: true }, entry: { ere: false } });
    expect(g.tr({ exec: true })).toStrictEqual(success(g.out + OFF, KIB4, 'rw'));
  });
});

describe('batch API (createBatch / translateBatch)', () => {
  async function mixed() {
    const f = await fsFixture({ map: { write: false } });
    const ss = f.guest.secondStage();
    ss.map(0x40_0000n, 0x9_0000_0000n, { size: MIB2 });
    f.guest.pasidEntry(f.sid, 0, { pgtt: 'second-stage', aw: 2, ssptptr: ss.root });
    f.guest.pasidEntry(f.sid, 9, { pgtt: 'pass-through' });
    invalidateAll(f.vtd);
    const reqs: TranslateRequest[] = [
      { sid: f.sid, pasid: PASID, iova: f.iova + OFF }, // ok
      { sid: f.sid, pasid: PASID, iova: f.iova + OFF, write: true }, // 0x85
      { sid: f.sid, pasid: PASID, iova: 1n << 47n }, // 0x80
      { sid: f.sid, pasid: PASID, iova: 0x1000n }, // 0x71
      { sid: f.sid, pasid: PASID, iova: f.iova, priv: true }, // ok (SRE)
      { sid: f.sid, pasid: PASID, iova: f.iova, exec: true }, // ok (ERE)
      { sid: f.sid, iova: 0x41_2345n, write: true }, // no PASID: PASID 0, second stage, ok
      { sid: f.sid, iova: 0x80_0000n }, // no PASID: 0x86
      { sid: f.sid, pasid: 9, iova: 0xfee0_0000n }, // 0x87
      { sid: f.sid, pasid: 9, iova: 0xdead_b000n, write: true, exec: true }, // ok
      { sid: f.sid + 1, pasid: 1, iova: 0n }, // 0x41
      { sid: 0xffff, iova: 0n }, // 0x39
      { sid: f.sid, pasid: 64 * 5, iova: 0n }, // 0x51
    ];
    return { f, reqs };
  }

  const fill = (batch: ReturnType<Vtd['createBatch']>, reqs: TranslateRequest[]) => reqs.forEach((r, i) => {
    batch.sid[i] = r.sid;
    batch.pasid[i] = r.pasid ?? NO_PASID;
    batch.iova[i] = r.iova;
    batch.flags[i] = (r.write ? BatchFlag.WRITE : 0) | (r.exec ? BatchFlag.EXEC : 0) | (r.priv ? BatchFlag.PRIV : 0);
  });
  const expected = (r: TranslateResult) => (r.ok ? [r.address, 0] : [0n, r.fault.reason]);

  // The IOTLB off: every request walks, through the batch's walk-only loops. A supervisor read
  // first sets every accessed bit (a faulting walk leaves the leaf's clear), so the request
  // asked next takes the loops' shortest path, which must refuse it as the full walk does.
  it.each([
    { name: 'execute through a non-leaf entry with XD', nonLeaf: { xd: true }, req: { exec: true }, fault: 0x82 },
    { name: 'user access through a supervisor-only non-leaf entry', nonLeaf: { user: false }, req: {}, fault: 0x81 },
    { name: 'user write through a read-only non-leaf entry', nonLeaf: { write: false }, req: { write: true }, fault: 0x85 },
    { name: 'write to a page whose D is clear (set by the first)', nonLeaf: {}, req: { write: true }, fault: 0 },
  ])('with the IOTLB off, a batch answers as vtd.translate: $name', async ({ nonLeaf, req, fault }) => {
    const vtd = await Vtd.create({ memory: { size: 16 << 20 }, caches: { iotlb: 0 } });
    const g = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: 15n << 20n }]);
    const fs = g.firstStage({ levels: 4, nonLeaf });
    fs.map(0x4000_0000n, 0x20_0000n, {});
    g.scalableDevice(8, { pdts: 0 });
    g.pasidEntry(8, 1, { pgtt: 'first-stage', did: 1, fsptptr: fs.root, levels: 4, sre: true, ere: true });
    vtd.setRootTable(g.root());
    const r: TranslateRequest = { sid: 8, pasid: 1, iova: 0x4000_0123n, ...req };
    const batch = vtd.createBatch(4);
    fill(batch, [{ sid: 8, pasid: 1, iova: 0x4000_0000n, priv: true }, r, r, r]);
    for (let round = 0; round < 2; round++) {
      expect(vtd.translateBatch(batch, 4)).toBe(fault ? 3 : 0);
      expect([...batch.fault]).toEqual([0, fault, fault, fault]);
      expect(expected(vtd.translate(r))).toEqual([batch.address[3], fault]);
    }
    if (!fault) expect(vtd.memory.readU64(fs.entryAddress(r.iova, 1)) & 0x60n).toBe(0x60n); // A and D
  });

  it.each([true, false])('with the IOTLB off, a batch answers as vtd.translate for a PS=1 PDPTE (FS1GP %s)', async (fs1gp) => {
    // A 1 GiB leaf is a leaf only with CAP.FS1GP; without it PS is reserved there (0x72).
    const vtd = await Vtd.create({ memory: { size: 16 << 20 }, caps: { fs1gp }, caches: { iotlb: 0 } });
    const g = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: 15n << 20n }]);
    const fs = g.firstStage({ levels: 4 });
    fs.map(0x4000_0000n, 0x20_0000n, {});
    vtd.memory.writeU64(fs.entryAddress(0x4000_0000n, 3), 0x8000_0000n | 0xa7n); // P, R/W, U/S, A, PS
    g.scalableDevice(8, { pdts: 0 });
    g.pasidEntry(8, 1, { pgtt: 'first-stage', did: 1, fsptptr: fs.root, levels: 4 });
    vtd.setRootTable(g.root());
    const r: TranslateRequest = { sid: 8, pasid: 1, iova: 0x4123_4567n };
    const batch = vtd.createBatch(3);
    fill(batch, [r, r, r]);
    for (let round = 0; round < 2; round++) {
      vtd.translateBatch(batch, 3);
      const one = vtd.translate(r);
      expect([...batch.fault]).toEqual([0, 0, 0].map(() => (one.ok ? 0 : one.fault.reason)));
      expect(batch.address[2]).toBe(one.ok ? one.address : 0n);
    }
    expect(vtd.translate(r)).toMatchObject(fs1gp ? { ok: true, address: 0x8123_4567n } : { ok: false, fault: { reason: 0x72 } });
  });

  it('consecutive requests of different PASIDs for the same page each get their own translation (IOTLB on)', async () => {
    const f = await fsFixture();
    const other = f.guest.firstStage({ levels: 4 });
    other.map(f.iova, 0x7654_3000n, {});
    f.guest.pasidEntry(f.sid, PASID + 1, { pgtt: 'first-stage', did: 1, fsptptr: other.root, levels: 4 });
    invalidateAll(f.vtd);
    const reqs: TranslateRequest[] = [0, 1, 0, 1, 1, 0, 0, 1].map((p, k) => ({ sid: f.sid, pasid: PASID + p, iova: f.iova + BigInt(8 * k) }));
    const batch = f.vtd.createBatch(reqs.length);
    fill(batch, reqs);
    for (let round = 0; round < 2; round++) {
      expect(f.vtd.translateBatch(batch, reqs.length)).toBe(0);
      expect([...batch.address]).toEqual(reqs.map((r, k) => (r.pasid === PASID ? f.out : 0x7654_3000n) + BigInt(8 * k)));
    }
  });

  for (const size of [MIB2, GIB1]) {
    it(`an IOTLB hit on a ${sizeName(size)} page holding the interrupt range still faults inside it (0x87)`, async () => {
      // The page maps 0xFEE00000 (a 2 MiB page at it, a 1 GiB page at 0xC0000000): its entry
      // is cached by a request outside the range, then requests inside hit it.
      const out = size === MIB2 ? 0xfee0_0000n : 0xc000_0000n;
      const f = await fsFixture({ size, out, caps: { fs1gp: true } });
      const inside = f.iova + (0xfee0_1000n - out), outside = f.iova + (0xfef0_0000n - out);
      const reqs: TranslateRequest[] = [outside, inside, outside + 8n, inside + 0x8_0000n].map((iova) => ({ sid: f.sid, pasid: PASID, iova }));
      const batch = f.vtd.createBatch(reqs.length);
      fill(batch, reqs);
      for (let round = 0; round < 2; round++) {
        expect(f.vtd.translateBatch(batch, reqs.length)).toBe(2);
        expect([...batch.fault]).toEqual([0, 0x87, 0, 0x87]);
        expect(batch.address[0]).toBe(0xfef0_0000n);
      }
      expect(f.vtd.caches.stats().iotlbHits).toBeGreaterThan(0);
    });
  }

  it('results equal vtd.translate for a mix of translations and faults; returns the fault count', async () => {
    const { f, reqs } = await mixed();
    const batch = f.vtd.createBatch(reqs.length);
    fill(batch, reqs);
    const faults = f.vtd.translateBatch(batch, reqs.length);
    const single = reqs.map((r) => f.vtd.translate(r));
    expect(faults).toBe(single.filter((r) => !r.ok).length);
    expect(faults).toBe(8);
    reqs.forEach((_, i) => expect([batch.address[i], batch.fault[i]]).toEqual(expected(single[i]!)));
  });

  it('NO_PASID in batch.pasid is a request without PASID; the default count is the capacity', async () => {
    const { f } = await mixed();
    const batch = f.vtd.createBatch(2);
    fill(batch, [{ sid: f.sid, iova: 0x41_2345n }, { sid: f.sid, pasid: 0, iova: 0x41_2345n }]);
    expect(f.vtd.translateBatch(batch)).toBe(0);
    expect([...batch.address]).toEqual([0x9_0001_2345n, 0x9_0001_2345n]);
    expect(NO_PASID).toBe(0xffff_ffff);
  });

  it('only the first `count` requests are translated', async () => {
    const { f, reqs } = await mixed();
    const batch = f.vtd.createBatch(reqs.length);
    fill(batch, reqs);
    batch.fault.fill(0xee);
    batch.address.fill(0x5555n);
    expect(f.vtd.translateBatch(batch, 4)).toBe(3);
    expect([...batch.fault.subarray(4)]).toEqual(Array(reqs.length - 4).fill(0xee));
    expect([...batch.address.subarray(4)]).toEqual(Array(reqs.length - 4).fill(0x5555n));
    expect(f.vtd.translateBatch(batch, 0)).toBe(0);
  });

  it('a PASID wider than 20 bits in a batch faults 0x46, even when the PASID with the same low bits is cached', async () => {
    const vtd = await Vtd.create({ memory: { size: 16 << 20 } });
    const g = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: 15n << 20n }]);
    const pt = g.firstStage({ levels: 4 });
    pt.map(0x1000n, 0x20_0000n, { size: 4096 });
    g.scalableDevice(8, { pdts: 7 });
    g.pasidEntry(8, 5, { pgtt: 'first-stage', did: 1, fsptptr: pt.root, levels: 4 });
    vtd.setRootTable(g.root());
    expect(vtd.translate({ sid: 8, pasid: 5, iova: 0x1000n })).toMatchObject({ ok: true });
    const b = vtd.createBatch(2);
    b.sid.fill(8);
    b.pasid.fill(0x10_0005);
    b.iova.fill(0x1234n);
    expect(vtd.translateBatch(b, 2)).toBe(2);
    expect([...b.fault]).toEqual([0x46, 0x46]);
  });

  it('a batch of another unit, or a count above the capacity, is a VtdArgumentError', async () => {
    const { f } = await mixed();
    const other = await Vtd.create({ memory: { size: 1 << 20 } });
    const foreign = other.createBatch(4);
    expect(() => f.vtd.translateBatch(foreign, 1)).toThrow(VtdArgumentError);
    const batch = f.vtd.createBatch(4);
    expect(() => f.vtd.translateBatch(batch, 5)).toThrow(VtdArgumentError);
    expect(() => f.vtd.translateBatch(batch, -1)).toThrow(VtdArgumentError);
    expect(() => f.vtd.translateBatch(batch, 1.5)).toThrow(VtdArgumentError);
    expect(() => f.vtd.translateBatch({ capacity: 4 } as never, 1)).toThrow(VtdArgumentError);
  });

  it('a batch stays usable after the unit\'s memory grew (views are re-created)', async () => {
    const { f, reqs } = await mixed();
    const batch = f.vtd.createBatch(reqs.length);
    fill(batch, reqs);
    f.vtd.createBatch(1 << 16); // grows linear memory
    const faults = f.vtd.translateBatch(batch, reqs.length);
    expect(faults).toBe(8);
    expect(batch.address[0]).toBe(f.out + OFF);
  });
});
