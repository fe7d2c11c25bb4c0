/**
 * The table setups the page offers: what a guest driver would write for one device (00:03.0)
 * with its requests going through PASID 0 (RID_PASID, since caps.rps is off).
 */
import { GuestBuilder, Vtd, type Caps, type FirstStageTable } from 'vtd-emu';

export const SID = (0 << 8) | (3 << 3); // 00:03.0
export const RAM_SIZE = 64 << 20;
/** Where the guest "driver" allocates its tables. */
export const TABLES = { base: 0x10_0000n, size: 32n << 20n };

const K4 = 4096;
const M2 = 2 << 20;

/** The demo device (PDTS 0) with a first-stage PASID 0 entry for `pt` (SRE and ERE on). */
function firstStageDevice(guest: GuestBuilder, pt: FirstStageTable): void {
  guest.scalableDevice(SID, { pdts: 0 });
  guest.pasidEntry(SID, 0, { pgtt: 'first-stage', did: 1, fsptptr: pt.root, levels: pt.levels, sre: true, ere: true });
}

export interface Scenario {
  id: string;
  label: string;
  description: string;
  caps?: Partial<Caps>;
  /** The request the page starts with (a mapped address). */
  request: { iova: bigint; write?: boolean; exec?: boolean; priv?: boolean };
  /** What the tables map, for the page to say. */
  mappings: string[];
  build(guest: GuestBuilder): void;
}

export const SCENARIOS: Scenario[] = [
  {
    id: 'fs4k',
    label: 'First stage, 4-level, 4 KiB pages',
    description: 'PGTT first-stage: an x86-64 4-level page table (PML4 → PDPT → PD → PT).',
    request: { iova: 0x7f00_0000_0123n },
    mappings: ['0x7f0000000000 → 0x1234000 (4 KiB, RW)', '0x7f0000001000 → 0x1235000 (4 KiB, read-only)'],
    build(guest) {
      const pt = guest.firstStage({ levels: 4 });
      pt.map(0x7f00_0000_0000n, 0x0123_4000n, { size: K4 });
      pt.map(0x7f00_0000_1000n, 0x0123_5000n, { size: K4, write: false });
      firstStageDevice(guest, pt);
    },
  },
  {
    id: 'fs2m',
    label: 'First stage, 4-level, 2 MiB page',
    description: 'PGTT first-stage: the walk stops at level 2, where PS = 1 maps a 2 MiB page.',
    request: { iova: 0x4001_2345n },
    mappings: ['0x40000000 → 0x8000000 (2 MiB, RW)'],
    build(guest) {
      const pt = guest.firstStage({ levels: 4 });
      pt.map(0x4000_0000n, 0x0800_0000n, { size: M2 });
      firstStageDevice(guest, pt);
    },
  },
  {
    id: 'fs5',
    label: 'First stage, 5-level',
    description: 'PGTT first-stage with FSPM = 01b: 5-level paging for a 57-bit input address.',
    request: { iova: 0x00ab_cdef_1234_5678n },
    mappings: ['0xabcdef12345000 → 0x4567000 (4 KiB, RW)'],
    build(guest) {
      const pt = guest.firstStage({ levels: 5 });
      pt.map(0x00ab_cdef_1234_5000n, 0x0456_7000n, { size: K4 });
      firstStageDevice(guest, pt);
    },
  },
  {
    id: 'ss',
    label: 'Second stage, 4-level',
    description: 'PGTT second-stage: a 4-level (AW = 2, 48-bit) second-stage table with R/W/X permissions.',
    request: { iova: 0x1234_5678n },
    mappings: ['0x12345000 → 0x9876000 (4 KiB, R W, no X)'],
    build(guest) {
      const ss = guest.secondStage({ levels: 4 });
      ss.map(0x1234_5000n, 0x0987_6000n, { size: K4 });
      guest.scalableDevice(SID, { pdts: 0 });
      guest.pasidEntry(SID, 0, { pgtt: 'second-stage', did: 2, aw: ss.aw, ssptptr: ss.root });
    },
  },
  {
    id: 'nested',
    label: 'Nested (first stage over second stage)',
    description:
      'PGTT nested (caps.nest): every first-stage table pointer and the output GPA go through the second stage, ' +
      'which identity-maps the guest tables with 2 MiB pages.',
    caps: { nest: true },
    request: { iova: 0x7f00_0000_0abcn },
    mappings: ['first stage: 0x7f0000000000 → GPA 0x80000000 (4 KiB)', 'second stage: GPA 0x80000000 → 0xabcd000; GPA 0..64 MiB identity (2 MiB)'],
    build(guest) {
      const ss = guest.secondStage({ levels: 4 });
      for (let gpa = 0n; gpa < BigInt(RAM_SIZE); gpa += BigInt(M2)) ss.map(gpa, gpa, { size: M2, exec: true });
      ss.map(0x8000_0000n, 0x0abc_d000n, { size: K4, exec: true });
      const fs = guest.firstStage({ levels: 4 });
      fs.map(0x7f00_0000_0000n, 0x8000_0000n, { size: K4 });
      guest.scalableDevice(SID, { pdts: 0 });
      guest.pasidEntry(SID, 0, {
        pgtt: 'nested', did: 4, fsptptr: fs.root, levels: 4, aw: ss.aw, ssptptr: ss.root, sre: true, ere: true,
      });
    },
  },
  {
    id: 'pt',
    label: 'Pass-through',
    description: 'PGTT pass-through: the output address is the input address; no page table is read.',
    request: { iova: 0x1234_5678n },
    mappings: ['every address → itself'],
    build(guest) {
      guest.scalableDevice(SID, { pdts: 0 });
      guest.pasidEntry(SID, 0, { pgtt: 'pass-through', did: 3 });
    },
  },
];

/** A fresh unit with the scenario's tables written and the root table programmed. */
export async function buildScenario(s: Scenario): Promise<Vtd> {
  const vtd = await Vtd.create({ memory: { size: RAM_SIZE }, caps: s.caps });
  const guest = new GuestBuilder(vtd.memory, [TABLES]);
  s.build(guest);
  vtd.setRootTable(guest.root());
  return vtd;
}
