/**
 * In the style of QEMU's iommu-intel-test (tests/qtest/iommu-intel-test.c with
 * libqos/qos-intel-iommu.c; /work/shared/reference/qemu-intel-iommu.md §16): a q35-like
 * guest with 512 MiB of RAM, the driver's structures written qword by qword at QEMU's fixed
 * addresses (root -> context -> PASID directory -> PASID 0 -> 4-level tables), then a 4-byte
 * DMA write of the iommu-testdev through the unit that must land at the expected guest-physical
 * address, and a read back through the unit that must return it. Cases: legacy-pt,
 * legacy-trans, scalable-pt, scalable-slt, scalable-flt. Then, going beyond QEMU's upstream
 * test: rewrite the leaf PTE (as QEMU's posted iommu-intel-inv-test does, followed by an
 * invalidation) and see the DMA land in the new page.
 *
 * The entries are written with raw qwords, independently of the guest encoders in src/guest,
 * the way libqos writes them.
 */
import { describe, expect, it } from 'vitest';
import { Vtd, type Caps, type TranslateRequest } from '../src/index.js';
import { invalidateAll } from './support/directed.js';

// qos-intel-iommu.h
const MEM_BASE = 0x1000_0000n;
const ROOT_TABLE_BASE = MEM_BASE;
const CONTEXT_TABLE_BASE = MEM_BASE + 0x1000n;
const PT_L4_BASE = MEM_BASE + 0x1_0000n;
const PT_L3_BASE = MEM_BASE + 0x1_1000n;
const PT_L2_BASE = MEM_BASE + 0x1_2000n;
const PT_L1_BASE = MEM_BASE + 0x1_3000n;
const PASID_DIR_BASE = MEM_BASE + 0x3_0000n;
const PASID_TABLE_BASE = MEM_BASE + 0x3_1000n;
const DOMAIN_ID = 0n;
const IOVA = 0x1020_0567n;
const PT_VAL = MEM_BASE + 0x10_0000n;
const AW_48BIT = 2n;
// iommu-testdev: 4-byte DMA of a value that is not byte-symmetric (catches endianness bugs).
const DMA_LEN = 4;
const DMA_WRITE_VAL = 0x1234_5678;
/** The test device: bus 0, devfn 0x20 (00:04.0); sid = devfn as in qvtd_run_translation_case. */
const DEVFN = 0x20;
const SID = DEVFN;

// intel_iommu_internal.h bits used by libqos
const ROOT_ENTRY_P = 1n;
const CONTEXT_ENTRY_P = 1n;
const CONTEXT_TT_MULTI_LEVEL = 0n << 2n;
const CONTEXT_TT_PASS_THROUGH = 2n << 2n;
const PASID_ENTRY_P = 1n;
const PGTT_FST = 1n;
const PGTT_SST = 2n;
const PGTT_PT = 4n;
const SS_R = 1n, SS_W = 2n;
const FS_P = 1n, FS_RW = 2n, FS_US = 4n, FS_A = 0x20n, FS_D = 0x40n;

type Mode = 'legacy-pt' | 'legacy-trans' | 'scalable-pt' | 'scalable-slt' | 'scalable-flt';
const scalableMode = (m: Mode) => m.startsWith('scalable');

/** What the machine advertises for each mode (QEMU: one stage at a time; flts gives FSTS, not SSTS). */
const CAPS: Record<Mode, Partial<Caps>> = {
  'legacy-pt': { smts: false },
  'legacy-trans': { smts: false },
  'scalable-pt': { fsts: false },
  'scalable-slt': { fsts: false },
  'scalable-flt': { ssts: false },
};

const index = (iova: bigint, level: number) => (iova >> BigInt(12 + 9 * (level - 1))) & 511n;
const tableAddr = (base: bigint, level: number, iova: bigint) => base + index(iova, level) * 8n;

/** qvtd_build_translation + qvtd_program_regs, on a fresh 512 MiB q35-like guest. */
async function build(mode: Mode): Promise<Vtd> {
  const vtd = await Vtd.create({ memory: { size: 512 << 20 }, caps: CAPS[mode] });
  const m = vtd.memory;
  const w = (gpa: bigint, v: bigint) => m.writeU64(gpa, v);
  m.fill(ROOT_TABLE_BASE, 0x1000, 0);
  m.fill(PT_L4_BASE, 0x4000, 0);
  m.fill(CONTEXT_TABLE_BASE, scalableMode(mode) ? 0x2000 : 0x1000, 0);
  if (scalableMode(mode)) {
    m.fill(PASID_DIR_BASE, 0x1000, 0);
    m.fill(PASID_TABLE_BASE, 0x1000, 0);
  }
  // Root entry (bus 0): LP only in scalable mode; P + CTP in legacy mode.
  w(ROOT_TABLE_BASE, CONTEXT_TABLE_BASE | ROOT_ENTRY_P);
  w(ROOT_TABLE_BASE + 8n, 0n);

  const trans = mode === 'legacy-trans' || mode === 'scalable-slt' || mode === 'scalable-flt';
  if (trans) {
    const fl = mode === 'scalable-flt';
    const nonLeaf = fl ? FS_P | FS_RW | FS_US | FS_A : SS_R | SS_W;
    const leaf = fl ? nonLeaf | FS_D : nonLeaf;
    w(tableAddr(PT_L4_BASE, 4, IOVA), PT_L3_BASE | nonLeaf);
    w(tableAddr(PT_L3_BASE, 3, IOVA), PT_L2_BASE | nonLeaf);
    w(tableAddr(PT_L2_BASE, 2, IOVA), PT_L1_BASE | nonLeaf);
    w(tableAddr(PT_L1_BASE, 1, IOVA), (PT_VAL & ~0xfffn) | leaf);
  }

  if (scalableMode(mode)) {
    // 32-byte context entry: PASIDDIRPTR | P; PASIDE, PDTS, RID_PASID all 0.
    const ce = CONTEXT_TABLE_BASE + BigInt(DEVFN) * 32n;
    w(ce, PASID_DIR_BASE | CONTEXT_ENTRY_P);
    w(ce + 8n, 0n);
    w(ce + 16n, 0n);
    w(ce + 24n, 0n);
    // PASID directory entry 0, then the PASID-0 entry.
    w(PASID_DIR_BASE, PASID_TABLE_BASE | PASID_ENTRY_P);
    const pe = PASID_TABLE_BASE; // PASID 0
    const [val0, val2] =
      mode === 'scalable-pt' ? [PASID_ENTRY_P | (PGTT_PT << 6n), 0n]
        : mode === 'scalable-slt' ? [PASID_ENTRY_P | (PGTT_SST << 6n) | (AW_48BIT << 2n) | PT_L4_BASE, 0n]
          : [PASID_ENTRY_P | (PGTT_FST << 6n), PT_L4_BASE]; // FSPM 0 (4-level), SRE 0, WPE 0, EAFE 0
    w(pe, val0);
    w(pe + 8n, DOMAIN_ID);
    w(pe + 16n, val2);
    for (let i = 3; i < 8; i++) w(pe + BigInt(i * 8), 0n);
  } else {
    const ce = CONTEXT_TABLE_BASE + BigInt(DEVFN) * 16n;
    w(ce, mode === 'legacy-pt' ? CONTEXT_ENTRY_P | CONTEXT_TT_PASS_THROUGH : CONTEXT_ENTRY_P | CONTEXT_TT_MULTI_LEVEL | PT_L4_BASE);
    w(ce + 8n, (DOMAIN_ID << 8n) | AW_48BIT);
  }
  // RTADDR (| SMT in scalable mode), SRTP, TE.
  vtd.setRootTable(ROOT_TABLE_BASE, { scalable: scalableMode(mode) });
  return vtd;
}

/**
 * The iommu-testdev DMA: write DMA_WRITE_VAL (little-endian) to `iova` through the unit, then
 * read it back through the unit. Returns the GPA the write landed at.
 */
function dma(vtd: Vtd, iova: bigint): bigint {
  const req: TranslateRequest = { sid: SID, iova };
  const w = vtd.translate({ ...req, write: true });
  if (!w.ok) throw new Error(`DMA write faulted: ${JSON.stringify(w.fault)}`);
  const bytes = new Uint8Array(DMA_LEN);
  new DataView(bytes.buffer).setUint32(0, DMA_WRITE_VAL, true);
  vtd.memory.write(w.address, bytes);
  const r = vtd.translate(req);
  if (!r.ok) throw new Error(`DMA read faulted: ${JSON.stringify(r.fault)}`);
  const back = new DataView(vtd.memory.read(r.address, DMA_LEN).buffer).getUint32(0, true);
  if (back !== DMA_WRITE_VAL) throw new Error(`ITD_DMA_ERR_MISMATCH: read back 0x${back.toString(16)}`);
  return w.address;
}

/** intel_iommu_expected_gpa */
const expectedGpa = (iova: bigint) => (PT_VAL & ~0xfffn) + (iova & 0xfffn);

const CASES: { mode: Mode; dmaGpa: bigint }[] = [
  { mode: 'legacy-pt', dmaGpa: IOVA }, // pass-through: GPA == IOVA
  { mode: 'legacy-trans', dmaGpa: expectedGpa(IOVA) },
  { mode: 'scalable-pt', dmaGpa: IOVA },
  { mode: 'scalable-slt', dmaGpa: expectedGpa(IOVA) },
  { mode: 'scalable-flt', dmaGpa: expectedGpa(IOVA) },
];

describe('QEMU iommu-intel-test: /iommu-testdev/intel/*', () => {
  it.each(CASES)('$mode: the 4-byte DMA to IOVA 0x10200567 lands at the expected GPA', async ({ mode, dmaGpa }) => {
    const vtd = await build(mode);
    vtd.memory.fill(dmaGpa, DMA_LEN, 0);
    expect(dma(vtd, IOVA)).toBe(dmaGpa);
    // qvtd_run_translation_case: the bytes at dma_gpa are the value, little-endian.
    expect([...vtd.memory.read(dmaGpa, DMA_LEN)]).toEqual([0x78, 0x56, 0x34, 0x12]);
  });

  it.each(CASES)('$mode: the translation result (address, 4 KiB page, permissions)', async ({ mode, dmaGpa }) => {
    const vtd = await build(mode);
    // Execute: pass-through grants it in scalable mode only; first-stage leaves have no XD;
    // the second-stage leaves here have no X.
    const exec = mode === 'scalable-pt' || mode === 'scalable-flt';
    expect(vtd.translate({ sid: SID, iova: IOVA, write: true })).toStrictEqual({
      ok: true, address: dmaGpa, pageSize: 4096, read: true, write: true, exec,
    });
  });

  it.each(['scalable-pt', 'scalable-slt', 'scalable-flt'] as const)(
    '%s: the context entry leaves PASIDE 0 and PDTS 0, so only requests without PASID (PASID 0) translate',
    async (mode) => {
      const vtd = await build(mode);
      expect(vtd.translate({ sid: SID, iova: IOVA }).ok).toBe(true);
      expect(vtd.translate({ sid: SID, pasid: 0, iova: IOVA })).toStrictEqual({
        ok: false, fault: { reason: 0x45, name: 'SM_CONTEXT_PASIDE' },
      });
    },
  );

  it('scalable-flt: the first-stage tables already carry A (and D on the leaf): nothing is written', async () => {
    const vtd = await build('scalable-flt');
    const entries = [4, 3, 2, 1].map((l) => tableAddr([0n, PT_L1_BASE, PT_L2_BASE, PT_L3_BASE, PT_L4_BASE][l]!, l, IOVA));
    const before = entries.map((e) => vtd.memory.readU64(e));
    dma(vtd, IOVA);
    expect(entries.map((e) => vtd.memory.readU64(e))).toEqual(before);
  });

  it.each(CASES.filter((c) => c.mode !== 'legacy-pt' && c.mode !== 'scalable-pt'))(
    '$mode: an IOVA the tables do not map faults (no DMA lands)',
    async ({ mode }) => {
      const vtd = await build(mode);
      const fault = {
        'legacy-trans': { reason: 0x5, name: 'WRITE', level: 1 },
        'scalable-slt': { reason: 0x85, name: 'SM_WRITE', level: 1 },
        'scalable-flt': { reason: 0x71, name: 'FS_ENTRY_P', level: 1 },
      }[mode as string];
      expect(vtd.translate({ sid: SID, iova: IOVA + 0x1000n, write: true })).toStrictEqual({ ok: false, fault });
    },
  );
});

describe('QEMU iommu-intel-inv-test style: rewrite the PTE, invalidate, the next DMA lands in the new page', () => {
  const trans = CASES.filter((c) => c.mode === 'legacy-trans' || c.mode === 'scalable-slt' || c.mode === 'scalable-flt');
  it.each(trans)('$mode', async ({ mode, dmaGpa }) => {
    const vtd = await build(mode);
    expect(dma(vtd, IOVA)).toBe(dmaGpa);
    const leafAt = tableAddr(PT_L1_BASE, 1, IOVA);
    const newPage = PT_VAL + 0x5000n;
    vtd.memory.writeU64(leafAt, newPage | (vtd.memory.readU64(leafAt) & 0xfffn));
    invalidateAll(vtd); // the driver's IOTLB invalidation after changing a present PTE
    expect(dma(vtd, IOVA)).toBe(newPage + (IOVA & 0xfffn));
    expect(vtd.translate({ sid: SID, iova: IOVA })).toMatchObject({ ok: true, address: newPage + 0x567n });
    // Unmapping the page (and invalidating) makes the DMA fault.
    vtd.memory.writeU64(leafAt, 0n);
    invalidateAll(vtd);
    expect(vtd.translate({ sid: SID, iova: IOVA }).ok).toBe(false);
  });
});
