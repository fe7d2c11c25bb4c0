/**
 * A scripted guest driver programs the unit only through its registers and its own RAM, as
 * Linux's intel-iommu driver (or QEMU's qtest driver) does — root table, queued invalidation,
 * context and PASID entries, TE — in legacy mode, scalable mode with second-stage tables and
 * scalable mode with first-stage tables. Then QEMU's posted invalidation matrix (qtest
 * iommu-intel-inv-test): map -> DMA -> rewrite without invalidation -> stale result ->
 * invalidate + wait -> new result, for every descriptor type and granularity, and the cases
 * where an invalidation must leave the stale entry alone.
 */
import { describe, expect, it } from 'vitest';
import {
  CapField, EcapField, encodeContextCacheInv, encodeDeviceTlbInv, encodeIecInv, encodeIotlbInv, encodePasidCacheInv,
  encodePasidDeviceTlbInv, encodePasidIotlbInv, FaultReason as FR, Frcd, Fsts, GuestBuilder, Reg,
  type DescriptorQwords, type FirstStageTable, type SecondStageTable, type TranslateResult,
} from '../src/index.js';
import { createUnit, GuestDriver } from './support/viommu-driver.js';

type Mode = 'legacy' | 'scalable-ss' | 'scalable-fs';
const MODES: Mode[] = ['legacy', 'scalable-ss', 'scalable-fs'];
const RAM = [{ base: 0x10_0000n, size: 16n << 20n }];
const SID = 0x18; // 00:03.0
const DID = 1;
const PASID = 7;
const FE_ADDR = 0xfee0_0000n, FE_DATA = 0x31;
// IOVA -> buffer pages. A and B are used before the rewrite; C and D are fresh probes.
const A = 0x1000n, B = 0x2000n, C = 0x3000n, D = 0x4000n;
const MAP: [bigint, bigint][] = [[A, 0x20_0000n], [B, 0x21_0000n], [C, 0x22_0000n], [D, 0x23_0000n]];
const NEW_A = 0x30_0000n, NEW_B = 0x31_0000n;

/** Boot a unit the way Linux does, attach device 00:03.0 (domain 1; PASIDs 0 and 7 in scalable mode). */
async function boot(mode: Mode, opts: { dt?: boolean } = {}) {
  const caps = mode === 'legacy' ? { smts: false, dt: !!opts.dt } : { dt: !!opts.dt };
  const u = await createUnit({ caps });
  const { vtd } = u;
  const guest = new GuestBuilder(vtd.memory, RAM);
  const drv = new GuestDriver(vtd, guest.alloc);
  const scalable = mode !== 'legacy';

  // init_dmars(): features, root table, queued invalidation, global flushes, fault events, TE.
  expect((drv.ecap >> BigInt(EcapField.QI)) & 1n).toBe(1n);
  expect(drv.scalable).toBe(scalable);
  drv.setRootTable(guest.root(), scalable);
  drv.enableQueue();
  expect(drv.contextCache({ granularity: 'global' })).toBe(true);
  if (scalable) expect(drv.pasidCache({ granularity: 'global' })).toBe(true);
  expect(drv.iotlb({ granularity: 'global' })).toBe(true);
  drv.programFaultEvent(FE_ADDR, FE_DATA);
  drv.enableTranslation();

  // A domain with its page table, then the device's context (and PASID) entries.
  const table: FirstStageTable | SecondStageTable = mode === 'scalable-fs' ? guest.firstStage() : guest.secondStage({ aw: 2 });
  for (const [iova, pa] of MAP) table.map(iova, pa);
  const pasidEntry = (pasid: number, present = true) => guest.pasidEntry(SID, pasid, mode === 'scalable-fs'
    ? { pgtt: 'first-stage', did: DID, fsptptr: table.root, present }
    : { pgtt: 'second-stage', did: DID, aw: 2, ssptptr: table.root, present });
  if (scalable) {
    guest.scalableDevice(SID, { pdts: 0 });
    pasidEntry(0);
    pasidEntry(PASID);
    // A present entry replaced a non-present one: Linux flushes the PASID cache and IOTLB of the PASID.
    expect(drv.pasidCache({ granularity: 'pasid', did: DID, pasid: 0 })).toBe(true);
  } else {
    guest.legacyDevice(SID, { ssptptr: table.root, aw: 2, did: DID });
  }
  expect(drv.contextCache({ granularity: 'device', sid: SID })).toBe(true);
  expect(drv.iotlb({ granularity: 'domain', did: DID })).toBe(true);

  const dma = (iova: bigint, pasid?: number): TranslateResult => vtd.translate({ sid: SID, iova, pasid });
  const addr = (iova: bigint, pasid?: number): bigint | number => {
    const r = dma(iova, pasid);
    return r.ok ? r.address : r.fault.reason;
  };
  return {
    ...u, guest, drv, mode, scalable, table, dma, addr,
    /** Rewrite a leaf PTE without any invalidation. */
    remap: (iova: bigint, pa: bigint) => void table.map(iova, pa),
    /** Clear the device's context entry's present bit without any invalidation. */
    contextOff: () => (scalable ? guest.scalableDevice(SID, { pdts: 0, present: false }) : guest.legacyDevice(SID, { present: false })),
    /** Clear PASID entry `pasid`'s present bit without any invalidation. */
    pasidOff: (pasid = 0) => void pasidEntry(pasid, false),
  };
}

type Env = Awaited<ReturnType<typeof boot>>;

describe('scripted guest driver (registers and guest RAM only)', () => {
  for (const mode of MODES) {
    it(`${mode}: boots, attaches a device, DMAs through its domain`, async () => {
      const { vtd, drv, addr } = await boot(mode);
      expect(drv.rd32(Reg.GSTS) >>> 0).toBe(0x8000_0000 + 0x4000_0000 + 0x0400_0000); // TES, RTPS, QIES
      expect(addr(A + 0x123n)).toBe(0x20_0123n);
      // The device writes through the translation; the guest sees it in its buffer.
      const r = vtd.translate({ sid: SID, iova: B + 8n, write: true });
      expect(r.ok).toBe(true);
      if (r.ok) vtd.memory.writeU32(r.address, 0xd0d0_cafe);
      expect(vtd.memory.readU32(0x21_0008n)).toBe(0xd0d0_cafe);
    });

    it(`${mode}: an unmapped page faults once unmapped and invalidated, and the driver reads the fault record`, async () => {
      const env = await boot(mode);
      const { drv, irqs, table } = env;
      expect(env.addr(A)).toBe(0x20_0000n);
      table.unmap(A);
      expect(env.scalable && mode === 'scalable-fs'
        ? drv.pasidIotlb({ granularity: 'page', did: DID, pasid: 0, addr: A })
        : drv.iotlb({ granularity: 'page', did: DID, addr: A, ih: true })).toBe(true);
      const expected = mode === 'legacy' ? FR.READ : mode === 'scalable-ss' ? FR.SM_READ : FR.FS_ENTRY_P;
      expect(env.addr(A)).toBe(expected);
      // The fault handler (dmar_fault): FSTS.PPF, FRI, then the record at CAP.FRO + 16 * FRI.
      expect(irqs).toEqual([{ address: FE_ADDR, data: FE_DATA }]);
      const fsts = drv.rd32(Reg.FSTS);
      expect(fsts & Fsts.PPF).not.toBe(0);
      const at = drv.faultRegOffset + 16 * ((fsts >> 8) & 0xff);
      const dw3 = drv.rd32(at + 12);
      expect([dw3 >>> 31, (dw3 >> 30) & 1, dw3 & 0xff]).toEqual([1, 1, expected]); // F, T (read), FR
      expect(drv.rd32(at + 8) & 0xffff).toBe(SID);
      expect(drv.rd64(at)).toBe(A);
      drv.wr32(at + 12, 0x8000_0000); // clear F
      expect(drv.rd32(Reg.FSTS) & Fsts.PPF).toBe(0);
    });

    it(`${mode}: CAP advertises the 4-level second-stage width and 8 fault-recording registers`, async () => {
      const { drv } = await boot(mode);
      expect((drv.cap >> BigInt(CapField.SAGAW)) & 0b100n).toBe(0b100n);
      expect(drv.faultRecords).toBe(8);
    });

    it(`${mode}: turning TE off lets DMA through untranslated`, async () => {
      const { drv, addr } = await boot(mode);
      drv.enableTranslation(false);
      expect(addr(A)).toBe(A);
    });
  }

  it('scalable-fs: a request with PASID 7 translates through its own PASID entry', async () => {
    const { addr } = await boot('scalable-fs');
    expect(addr(A, PASID)).toBe(0x20_0000n);
    expect(addr(A, 8)).toBe(FR.SM_PASID_ENTRY_P);
  });
});

// ---- The posted invalidation matrix ----------------------------------------------------------

type Inv = (env: Env) => DescriptorQwords[];

interface PteCase {
  name: string;
  modes: readonly Mode[];
  inv: Inv;
  /** After the invalidation: the new translation (true) or still the stale one (false). */
  fresh: boolean | ((m: Mode) => boolean);
  dt?: boolean;
}

const ALL = MODES;
const SCALABLE: Mode[] = ['scalable-ss', 'scalable-fs'];

const pteCases: PteCase[] = [
  { name: 'IOTLB global', modes: ALL, inv: () => [encodeIotlbInv({ granularity: 'global' })], fresh: true },
  { name: 'IOTLB domain-selective', modes: ALL, inv: () => [encodeIotlbInv({ granularity: 'domain', did: DID })], fresh: true },
  { name: 'IOTLB domain-selective, another domain', modes: ALL, inv: () => [encodeIotlbInv({ granularity: 'domain', did: 2 })], fresh: false },
  { name: 'IOTLB page-selective (AM 0)', modes: ALL, inv: () => [encodeIotlbInv({ granularity: 'page', did: DID, addr: A })], fresh: true },
  { name: 'IOTLB page-selective with IH', modes: ALL, inv: () => [encodeIotlbInv({ granularity: 'page', did: DID, addr: A, ih: true })], fresh: true },
  { name: 'IOTLB page-selective, AM 2 range covering the page', modes: ALL, inv: () => [encodeIotlbInv({ granularity: 'page', did: DID, addr: 0n, am: 2 })], fresh: true },
  {
    // The IOTLB descriptor invalidates every first-stage entry of the domain, whatever the address.
    name: 'IOTLB page-selective, another page', modes: ALL, inv: () => [encodeIotlbInv({ granularity: 'page', did: DID, addr: 0x10_0000n })],
    fresh: (m) => m === 'scalable-fs',
  },
  { name: 'context-cache global (drops every cached translation)', modes: ALL, inv: () => [encodeContextCacheInv({ granularity: 'global' })], fresh: true },
  { name: 'PASID-based IOTLB all-in-PASID', modes: SCALABLE, inv: () => [encodePasidIotlbInv({ granularity: 'pasid', did: DID, pasid: 0 })], fresh: true },
  { name: 'PASID-based IOTLB all-in-PASID, another PASID', modes: SCALABLE, inv: () => [encodePasidIotlbInv({ granularity: 'pasid', did: DID, pasid: PASID })], fresh: false },
  { name: 'PASID-based IOTLB all-in-PASID, another domain', modes: SCALABLE, inv: () => [encodePasidIotlbInv({ granularity: 'pasid', did: 2, pasid: 0 })], fresh: false },
  {
    // Page-selective-within-PASID invalidates first-stage (and nested) entries only.
    name: 'PASID-based IOTLB page-selective', modes: SCALABLE, inv: () => [encodePasidIotlbInv({ granularity: 'page', did: DID, pasid: 0, addr: A })],
    fresh: (m) => m === 'scalable-fs',
  },
  { name: 'PASID-based IOTLB page-selective, another page', modes: SCALABLE, inv: () => [encodePasidIotlbInv({ granularity: 'page', did: DID, pasid: 0, addr: B })], fresh: false },
  { name: 'PASID-cache global (the IOTLB is another cache)', modes: SCALABLE, inv: () => [encodePasidCacheInv({ granularity: 'global' })], fresh: false },
  { name: 'device-TLB (the device\'s cache, not the IOTLB)', modes: ALL, dt: true, inv: () => [encodeDeviceTlbInv({ sid: SID, addr: A })], fresh: false },
  { name: 'PASID-based device-TLB', modes: SCALABLE, dt: true, inv: () => [encodePasidDeviceTlbInv({ sid: SID, pasid: 0, addr: A })], fresh: false },
  { name: 'interrupt-entry cache', modes: ALL, inv: () => [encodeIecInv({ granularity: 'global' })], fresh: false },
  { name: 'wait only', modes: ALL, inv: () => [], fresh: false },
];

interface StructCase {
  name: string;
  modes: readonly Mode[];
  /** Which structure is rewritten (its present bit cleared) without invalidation. */
  edit: 'context' | 'pasid';
  inv: Inv;
  fresh: boolean | ((m: Mode) => boolean);
}

const structCases: StructCase[] = [
  { name: 'context-cache global', modes: ALL, edit: 'context', inv: () => [encodeContextCacheInv({ granularity: 'global' })], fresh: true },
  { name: 'context-cache device-selective', modes: ALL, edit: 'context', inv: () => [encodeContextCacheInv({ granularity: 'device', sid: SID })], fresh: true },
  { name: 'context-cache device-selective, another function', modes: ALL, edit: 'context', inv: () => [encodeContextCacheInv({ granularity: 'device', sid: SID + 1 })], fresh: false },
  { name: 'context-cache device-selective, function mask covering it', modes: ALL, edit: 'context', inv: () => [encodeContextCacheInv({ granularity: 'device', sid: SID + 5, fm: 3 })], fresh: true },
  { name: 'context-cache device-selective, function mask not covering it', modes: ALL, edit: 'context', inv: () => [encodeContextCacheInv({ granularity: 'device', sid: SID + 5, fm: 1 })], fresh: false },
  { name: 'context-cache device-selective, another device', modes: ALL, edit: 'context', inv: () => [encodeContextCacheInv({ granularity: 'device', sid: SID + 8 })], fresh: false },
  { name: 'context-cache domain-selective', modes: ALL, edit: 'context', inv: () => [encodeContextCacheInv({ granularity: 'domain', did: DID })], fresh: true },
  {
    // Scalable-mode context entries carry no domain: a domain-selective invalidation drops them all.
    name: 'context-cache domain-selective, another domain', modes: ALL, edit: 'context',
    inv: () => [encodeContextCacheInv({ granularity: 'domain', did: 2 })], fresh: (m) => m !== 'legacy',
  },
  { name: 'IOTLB global (the context cache is another cache)', modes: ALL, edit: 'context', inv: () => [encodeIotlbInv({ granularity: 'global' })], fresh: false },
  { name: 'PASID-cache PASID-selective', modes: SCALABLE, edit: 'pasid', inv: () => [encodePasidCacheInv({ granularity: 'pasid', did: DID, pasid: 0 })], fresh: true },
  { name: 'PASID-cache PASID-selective, another PASID', modes: SCALABLE, edit: 'pasid', inv: () => [encodePasidCacheInv({ granularity: 'pasid', did: DID, pasid: PASID })], fresh: false },
  { name: 'PASID-cache PASID-selective, another domain', modes: SCALABLE, edit: 'pasid', inv: () => [encodePasidCacheInv({ granularity: 'pasid', did: 2, pasid: 0 })], fresh: false },
  { name: 'PASID-cache domain-selective', modes: SCALABLE, edit: 'pasid', inv: () => [encodePasidCacheInv({ granularity: 'domain', did: DID })], fresh: true },
  { name: 'PASID-cache domain-selective, another domain', modes: SCALABLE, edit: 'pasid', inv: () => [encodePasidCacheInv({ granularity: 'domain', did: 2 })], fresh: false },
  { name: 'PASID-cache global', modes: SCALABLE, edit: 'pasid', inv: () => [encodePasidCacheInv({ granularity: 'global' })], fresh: true },
  { name: 'PASID-based IOTLB all-in-PASID (the PASID cache is another cache)', modes: SCALABLE, edit: 'pasid', inv: () => [encodePasidIotlbInv({ granularity: 'pasid', did: DID, pasid: 0 })], fresh: false },
];

const isFresh = (f: boolean | ((m: Mode) => boolean), m: Mode) => (typeof f === 'function' ? f(m) : f);

describe('posted invalidation matrix: a rewritten PTE', () => {
  for (const c of pteCases) {
    for (const mode of c.modes) {
      const fresh = isFresh(c.fresh, mode);
      it(`${mode}, ${c.name}: ${fresh ? 'new translation' : 'stays stale'}`, async () => {
        const env = await boot(mode, { dt: c.dt });
        const hooked: unknown[] = [];
        env.vtd.mmio.hooks.deviceTlbInvalidated = (i) => void hooked.push(i);
        expect(env.addr(A)).toBe(0x20_0000n); // DMA fills the IOTLB
        env.remap(A, NEW_A); // rewrite the PTE, no invalidation
        expect(env.addr(A)).toBe(0x20_0000n); // stale, as on hardware
        expect(env.drv.submit(...c.inv(env))).toBe(true); // invalidate + wait (status polled)
        expect(env.addr(A)).toBe(fresh ? NEW_A : 0x20_0000n);
        if (c.dt) expect(hooked).toHaveLength(1);
      });
    }
  }

  for (const mode of MODES) {
    it(`${mode}: after a page-selective IOTLB flush of one page, a second cached page ${mode === 'scalable-fs' ? 'is flushed too (first stage)' : 'survives (second stage)'}`, async () => {
      const env = await boot(mode);
      expect([env.addr(A), env.addr(B)]).toEqual([0x20_0000n, 0x21_0000n]);
      env.remap(A, NEW_A);
      env.remap(B, NEW_B);
      expect(env.drv.iotlb({ granularity: 'page', did: DID, addr: A })).toBe(true);
      expect(env.addr(A)).toBe(NEW_A);
      expect(env.addr(B)).toBe(mode === 'scalable-fs' ? NEW_B : 0x21_0000n);
    });
  }

  it('scalable-fs: the PASID-based page flush is selective within the PASID', async () => {
    const env = await boot('scalable-fs');
    expect([env.addr(A), env.addr(B)]).toEqual([0x20_0000n, 0x21_0000n]);
    env.remap(A, NEW_A);
    env.remap(B, NEW_B);
    expect(env.drv.pasidIotlb({ granularity: 'page', did: DID, pasid: 0, addr: A })).toBe(true);
    expect([env.addr(A), env.addr(B)]).toEqual([NEW_A, 0x21_0000n]);
  });

  it('scalable-fs: requests with PASID 7 are cached apart from those without', async () => {
    const env = await boot('scalable-fs');
    expect([env.addr(A), env.addr(A, PASID)]).toEqual([0x20_0000n, 0x20_0000n]);
    env.remap(A, NEW_A);
    expect(env.drv.pasidIotlb({ granularity: 'pasid', did: DID, pasid: PASID })).toBe(true);
    expect([env.addr(A), env.addr(A, PASID)]).toEqual([0x20_0000n, NEW_A]);
  });
});

describe('posted invalidation matrix: a rewritten context or PASID entry', () => {
  for (const c of structCases) {
    for (const mode of c.modes) {
      const fresh = isFresh(c.fresh, mode);
      it(`${mode}, ${c.edit} entry, ${c.name}: ${fresh ? 'new result' : 'stays stale'}`, async () => {
        const env = await boot(mode);
        expect(env.addr(A)).toBe(0x20_0000n); // caches the context (and PASID) entry
        if (c.edit === 'context') env.contextOff();
        else env.pasidOff(0);
        expect(env.addr(C)).toBe(0x22_0000n); // a fresh page: the cached entry still translates
        expect(env.drv.submit(...c.inv(env))).toBe(true);
        const gone = c.edit === 'pasid' ? FR.SM_PASID_ENTRY_P : mode === 'legacy' ? FR.CONTEXT_ENTRY_P : FR.SM_CONTEXT_ENTRY_P;
        expect(env.addr(D)).toBe(fresh ? gone : 0x23_0000n);
      });
    }
  }
});

describe('fault-recording through the driver', () => {
  it('the driver sees FRCD F set and clears it with a 32-bit write of the upper dword', async () => {
    const env = await boot('scalable-ss');
    env.vtd.translate({ sid: 0x700, iova: 0n });
    const at = env.drv.faultRegOffset;
    expect(env.drv.rd64(at + 8) & Frcd.F).not.toBe(0n);
    env.drv.wr32(at + 12, 0x8000_0000);
    expect(env.drv.rd64(at + 8) & Frcd.F).toBe(0n);
  });
});
