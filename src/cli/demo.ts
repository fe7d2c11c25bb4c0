/**
 * The built-in demo guest (`vtd-emu walk --demo`, `vtd-emu export-demo`): two RAM regions,
 * one scalable-mode device 00:03.0 with a PASID of every translation type, and a seeded
 * request trace over it. Everything is deterministic: same seed, same files.
 */
import { Rng } from '../../bench/rng.js';
import { NO_PASID } from '../batch.js';
import { GuestBuilder, PAGE_1G, PAGE_2M, PAGE_4K } from '../guest/index.js';
import { Vtd } from '../vtd.js';
import type { GuestImage, RequestList } from './formats.js';
import { newRequestList } from './formats.js';
import { imageFromUnit, type UnitOptions } from './image.js';

const MiB = 1n << 20n;
const GiB = 1n << 30n;

/** The device of the demo guest: 00:03.0. */
export const DEMO_SID = (0 << 8) | (3 << 3);
/** A device without a context entry: its requests fault (context entry not present). */
export const DEMO_ABSENT_SID = (0 << 8) | (4 << 3);
/** Low RAM [0, 16 MiB) and high RAM [4 GiB, 4 GiB + 8 MiB), as a small q35 guest has. */
export const DEMO_REGIONS = [{ base: 0n, size: 16n * MiB }, { base: 4n * GiB, size: 8n * MiB }];
const HIGH = 4n * GiB;

/** Mapped ranges of the demo guest, per PASID (what the request trace draws from). */
export interface DemoRange {
  pasid: number | undefined;
  what: string;
  iova: bigint;
  pages: number;
  pageSize: number;
}

export const DEMO_RANGES: DemoRange[] = [
  { pasid: undefined, what: 'no PASID (PASID 0): second stage, 4 levels, 4 KiB pages', iova: 0x8000_0000n, pages: 512, pageSize: PAGE_4K },
  { pasid: undefined, what: 'no PASID (PASID 0): second stage, 2 MiB pages', iova: 0x4000_0000n, pages: 2, pageSize: PAGE_2M },
  { pasid: 1, what: 'PASID 1: first stage, 4 levels, 4 KiB pages (every 16th read-only, the last supervisor-only)', iova: 0x7f12_3400_0000n, pages: 1024, pageSize: PAGE_4K },
  { pasid: 1, what: 'PASID 1: first stage, 2 MiB pages', iova: 0x7f12_4000_0000n, pages: 8, pageSize: PAGE_2M },
  { pasid: 1, what: 'PASID 1: first stage, a 1 GiB page', iova: 0x7f80_0000_0000n, pages: 1, pageSize: PAGE_1G },
  { pasid: 2, what: 'PASID 2: first stage, 5 levels, 4 KiB pages', iova: 0x00ab_cd00_0000_0000n, pages: 256, pageSize: PAGE_4K },
  { pasid: 3, what: 'PASID 3: pass-through (IOVA = GPA)', iova: 0n, pages: 0, pageSize: PAGE_4K },
  { pasid: 4, what: 'PASID 4: nested, 4-level first stage over a second stage identity-mapping RAM (2 MiB pages)', iova: 0x5555_0000_0000n, pages: 256, pageSize: PAGE_4K },
];

/** Requests worth explaining, printed by export-demo as `walk` examples. */
export const DEMO_EXAMPLES: { what: string; pasid?: number; iova: bigint; write?: boolean; priv?: boolean; sid?: number }[] = [
  { what: '4-level first stage, 4 KiB page', pasid: 1, iova: 0x7f12_3400_5678n },
  { what: 'write to a read-only page (fault)', pasid: 1, iova: 0x7f12_3401_0008n, write: true },
  { what: 'nested translation', pasid: 4, iova: 0x5555_0000_3010n, write: true },
  { what: 'request without PASID: second stage', iova: 0x8000_2000n },
  { what: 'unmapped IOVA (fault)', pasid: 1, iova: 0x7f12_3500_0000n },
  { what: 'device without a context entry (fault)', sid: DEMO_ABSENT_SID, pasid: 1, iova: 0x1000n },
];

/** Writes the demo guest's tables into `vtd` (its RAM must cover DEMO_REGIONS) and programs the root table. */
export function buildDemo(vtd: Vtd): void {
  const g = new GuestBuilder(vtd.memory, [{ base: MiB, size: 15n * MiB }, { base: HIGH + 6n * MiB, size: 2n * MiB }]);
  g.scalableDevice(DEMO_SID, { pdts: 0 });

  const ss = g.secondStage({ levels: 4 });
  for (let i = 0; i < 512; i++) ss.map(0x8000_0000n + BigInt(i) * 4096n, HIGH + BigInt(i) * 4096n, { size: PAGE_4K, write: i % 8 !== 7 });
  for (let i = 0; i < 2; i++) ss.map(0x4000_0000n + BigInt(i) * 2n * MiB, HIGH + 2n * MiB + BigInt(i) * 2n * MiB, { size: PAGE_2M });
  g.pasidEntry(DEMO_SID, 0, { pgtt: 'second-stage', aw: ss.aw, ssptptr: ss.root, did: 1 });

  const fs = g.firstStage({ levels: 4 });
  for (let i = 0; i < 1024; i++) {
    fs.map(0x7f12_3400_0000n + BigInt(i) * 4096n, HIGH + BigInt(i % 1536) * 4096n, { write: i % 16 !== 0, user: i !== 1023 });
  }
  for (let i = 0; i < 8; i++) fs.map(0x7f12_4000_0000n + BigInt(i) * 2n * MiB, BigInt(i) * 2n * MiB, { size: PAGE_2M });
  fs.map(0x7f80_0000_0000n, GiB, { size: PAGE_1G });
  g.pasidEntry(DEMO_SID, 1, { pgtt: 'first-stage', did: 2, fsptptr: fs.root, levels: 4, sre: true });

  const fs5 = g.firstStage({ levels: 5 });
  for (let i = 0; i < 256; i++) fs5.map(0x00ab_cd00_0000_0000n + BigInt(i) * 4096n, HIGH + 4n * MiB + BigInt(i) * 4096n);
  g.pasidEntry(DEMO_SID, 2, { pgtt: 'first-stage', did: 3, fsptptr: fs5.root, levels: 5 });

  g.pasidEntry(DEMO_SID, 3, { pgtt: 'pass-through', did: 4 });

  const nss = g.secondStage({ levels: 4 });
  for (const r of DEMO_REGIONS) for (let a = 0n; a < r.size; a += 2n * MiB) nss.map(r.base + a, r.base + a, { size: PAGE_2M, write: true, exec: true });
  const nfs = g.firstStage({ levels: 4 });
  for (let i = 0; i < 256; i++) nfs.map(0x5555_0000_0000n + BigInt(i) * 4096n, HIGH + BigInt(i) * 4096n);
  g.pasidEntry(DEMO_SID, 4, { pgtt: 'nested', aw: nss.aw, ssptptr: nss.root, fsptptr: nfs.root, levels: 4, did: 5 });

  vtd.setRootTable(g.root());
}

/** Capabilities of the demo unit: the defaults plus nested translation. */
export const DEMO_CAPS = { nest: true } as const;

/** A unit holding the demo guest. */
export async function demoUnit(o: UnitOptions = {}): Promise<Vtd> {
  const vtd = await Vtd.create({
    memory: { regions: DEMO_REGIONS }, caps: DEMO_CAPS,
    ...(o.caches !== undefined ? { caches: o.caches } : {}), ...(o.wasm !== undefined ? { wasm: o.wasm } : {}),
  });
  buildDemo(vtd);
  return vtd;
}

/** The demo guest as an image (non-zero pages only). */
export async function demoImage(o: UnitOptions = {}): Promise<GuestImage> {
  return imageFromUnit(await demoUnit(o));
}

/**
 * A seeded request trace over the demo guest: mostly mapped pages of every PASID, 25% writes,
 * and a few faults (unmapped IOVAs, an unknown PASID, a device without a context entry).
 */
export function demoRequests(count: number, seed = 1): RequestList {
  const rng = new Rng(BigInt(seed) ^ 0x64656d6fn);
  const rl = newRequestList(count);
  const byPasid = (p: number | undefined, size?: number) => DEMO_RANGES.filter((r) => r.pasid === p && r.pages > 0 && (size === undefined || r.pageSize === size));
  const pick = (ranges: DemoRange[]): bigint => {
    const r = ranges[rng.below(ranges.length)]!;
    return r.iova + BigInt(rng.below(r.pages)) * BigInt(r.pageSize) + BigInt(rng.below(r.pageSize) & ~7);
  };
  for (let i = 0; i < count; i++) {
    const u = rng.below(1000);
    let sid = DEMO_SID;
    let pasid: number = NO_PASID;
    let iova: bigint;
    if (u < 350) { pasid = 1; iova = pick(byPasid(1, PAGE_4K)); }
    else if (u < 450) { pasid = 1; iova = pick(byPasid(1).filter((r) => r.pageSize !== PAGE_4K)); }
    else if (u < 600) { iova = pick(byPasid(undefined)); }
    else if (u < 700) { pasid = 2; iova = pick(byPasid(2)); }
    else if (u < 800) { pasid = 3; iova = BigInt(rng.below(2 ** 37)) * 8n; } // anywhere below 1 TiB
    else if (u < 950) { pasid = 4; iova = pick(byPasid(4)); }
    else if (u < 980) { pasid = 1; iova = 0x7f12_3500_0000n + BigInt(rng.below(1 << 20) & ~7); } // unmapped
    else if (u < 990) { pasid = 0x77; iova = pick(byPasid(1, PAGE_4K)); } // PASID without an entry
    else { sid = DEMO_ABSENT_SID; pasid = 1; iova = pick(byPasid(1, PAGE_4K)); } // no context entry
    rl.sid[i] = sid;
    rl.pasid[i] = pasid;
    rl.iova[i] = iova;
    rl.flags[i] = rng.chance(0.25) ? 1 : 0;
  }
  return rl;
}
