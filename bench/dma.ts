/**
 * Device DMA through bound nested HWPTs (issue 6: "once the backend exists, device DMA through
 * bound nested HWPTs"): a passthrough device registered with `vtd.addHostDevice` on a
 * `SimIommufd`, whose guest builds first-stage tables with the guest encoders, writes PASID
 * entries (PGTT first-stage) and binds them the real way — through the unit's registers (root
 * table, queued invalidation, TE) and PASID-cache invalidation descriptors, as
 * test/support/viommu-driver.ts drives a guest. The device's DMA then goes through
 * `sim.dmaBatch` (the guest's stage 1 walked by the vIOMMU's WASM walker, then the IOAS
 * mapping of guest RAM as stage 2).
 *
 * This file sets a scenario up and prepares its requests, groups and expected results;
 * run.ts times them and checks the results.
 */
import { NO_PASID } from '../src/batch.js';
import { SimIommufd, type IoasArea } from '../src/backend/index.js';
import { encodePasidCacheInv } from '../src/spec/descriptors.js';
import { GuestBuilder, PAGE_2M, PAGE_4K, type FirstStageTable } from '../src/guest/index.js';
import type { HostDevice } from '../src/viommu/host/index.js';
import { Vtd, type VtdOptions } from '../src/vtd.js';
import { GuestDriver } from '../test/support/viommu-driver.js';
import { hashName, Rng } from './rng.js';
import {
  badPasids, generateRequests, makeSpace, newRequestSet, outputAddress, put64, UNMAPPED_FRACTION, WRITE_FRACTION,
  type PageSpace, type Pattern, type RequestSet, type SizeConfig,
} from './scenarios.js';

export interface DmaSpec {
  /** Scenario names are `${key}-${pattern}`. */
  key: string;
  pageSize: number;
  /** The PASIDs bound (0 = the RID: requests without PASID). */
  pasids: number[];
  patterns: Pattern[];
}

const BOTH: Pattern[] = ['rand', 'seq'];
const PASIDS_16 = Array.from({ length: 16 }, (_, i) => i + 1);

export const DMA_SPECS: DmaSpec[] = [
  { key: 'dma-fs4-4k', pageSize: PAGE_4K, pasids: [0], patterns: BOTH },
  { key: 'dma-fs4-2m', pageSize: PAGE_2M, pasids: [0], patterns: BOTH },
  { key: 'dma-fs4-4k-16pasid', pageSize: PAGE_4K, pasids: PASIDS_16, patterns: BOTH },
];

/** DMA requests per timed repetition (one pass over the stream). */
export const DMA_REQUESTS: Record<'tiny' | 'quick' | 'full', number> = { tiny: 4096, quick: 1 << 18, full: 1 << 20 };

export const DMA_DEVFN = 3 << 3; // 00:03.0
const LEVELS = 4;

/** One bound PASID: its table and where every mapped page of its IOVA span goes. */
export interface DmaTable {
  pasid: number;
  did: number;
  space: PageSpace;
  /** Per span page: the output GPA of the page (mapped pages only). */
  outputs: Float64Array;
  table: FirstStageTable;
}

export interface DmaSetup {
  spec: DmaSpec;
  vtd: Vtd;
  sim: SimIommufd;
  dev: HostDevice;
  tables: DmaTable[];
  byPasid: Map<number, DmaTable>;
  /** Guest pages of the first-stage tables (PASID structures excluded). */
  tablePages: number;
  /** The nested HWPT the bind path attached for each PASID. */
  hwpts: number[];
  /** The IOAS of the device's stage 2 (guest RAM -> host addresses). */
  areas: IoasArea[];
  /** Invalidation descriptors the guest queued to get there (wait descriptors included). */
  descriptors: number;
}

/** A bind that did not happen (or an error the bind path traced) fails the run: the numbers would mean nothing. */
export class DmaSetupError extends Error {
  override name = 'DmaSetupError';
}

/**
 * The unit, the backend, the host device and the guest's tables, bound through the register
 * interface. Order as Linux's intel-iommu driver: boot (root table, QI, global context- and
 * PASID-cache invalidations, TE), then per PASID the first-stage table and the PASID entry,
 * then PASID-selective PASID-cache invalidations (pasid_flush_caches) in one queue submission.
 */
export async function createDmaSetup(spec: DmaSpec, sizes: SizeConfig, seed: bigint, base: VtdOptions): Promise<DmaSetup> {
  const ramBytes = sizes.ramBytes;
  const vtd = await Vtd.create({ ...base, memory: { size: ramBytes }, caps: { cachingMode: true } });
  const errors: string[] = [];
  const onTrace = (name: string, args: Readonly<Record<string, unknown>>) => {
    if (name === 'vtd_host_bind_error' || name === 'vtd_hook_error') errors.push(`${name} ${JSON.stringify(args, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`);
  };
  vtd.on('trace', onTrace);
  try {
    const sim = new SimIommufd({ vtd });
    const dev = vtd.addHostDevice({ bus: 0, devfn: DMA_DEVFN, backend: sim, devId: sim.addDevice({ pasidBits: 20 }) });
    // Tables above the first MiB (as the synthetic scenarios); the queue and status page come from the same allocator.
    const guest = new GuestBuilder(vtd.memory, [{ base: 0x10_0000n, size: BigInt(ramBytes) - 0x10_0000n }]);
    guest.scalableDevice(dev.sid, { pdts: 0 }); // PASIDE, 2^7 directory entries: PASIDs below 8192
    const drv = new GuestDriver(vtd, guest.alloc);
    drv.setRootTable(guest.root(), true);
    drv.enableQueue();
    let descriptors = 0;
    const submit = (what: string, ok: boolean, n = 1) => {
      descriptors += n + 1; // + the wait descriptor
      if (!ok) throw new DmaSetupError(`${spec.key}: ${what} failed (FSTS.IQE)${errors.length ? `: ${errors.join('; ')}` : ''}`);
    };
    submit('global context-cache invalidation', drv.contextCache({ granularity: 'global' }));
    submit('global PASID-cache invalidation', drv.pasidCache({ granularity: 'global' }));
    drv.enableTranslation();

    // The guest's tables: per PASID, a 4-level first-stage table whose leaves point into guest RAM.
    const pagesPerPasid = Math.floor((sizes.pages[spec.pageSize] ?? 0) / spec.pasids.length);
    if (pagesPerPasid < 1) throw new DmaSetupError(`${spec.key}: no pages to map`);
    const rng = new Rng(seed ^ hashName(`table:${spec.key}`));
    const used0 = guest.alloc.used;
    const tables: DmaTable[] = [];
    for (const pasid of spec.pasids) {
      const table = guest.firstStage({ levels: LEVELS });
      const space = makeSpace(rng, pagesPerPasid, sizes.density, spec.pageSize, 47); // the lower canonical half
      const outputs = new Float64Array(space.spanPages);
      for (const p of space.pages) {
        const out = outputAddress(rng, spec.pageSize, ramBytes); // inside guest RAM: the IOAS maps RAM only
        outputs[p] = Number(out);
        table.map(space.base + (BigInt(p) << BigInt(space.pageShift)), out, { size: spec.pageSize, write: space.map[p] === 1 });
      }
      tables.push({ pasid, did: 1 + pasid, space, outputs, table });
    }
    const tablePages = guest.alloc.used - used0;
    for (const t of tables) guest.pasidEntry(dev.sid, t.pasid, { pgtt: 'first-stage', did: t.did, fsptptr: t.table.root, levels: LEVELS });
    // Nothing is bound yet: the entries were written after TE, only the invalidation makes the host see them.
    for (const t of tables) {
      const h = sim.attachedHwpt(dev.devId, t.pasid);
      if (h !== undefined && sim.objects().find((o) => o.id === h)?.type === 'hwpt_nested') {
        throw new DmaSetupError(`${spec.key}: PASID ${t.pasid} is bound (HWPT ${h}) before the guest invalidated its PASID cache`);
      }
    }
    const descs = tables.map((t) => encodePasidCacheInv({ granularity: 'pasid', did: t.did, pasid: t.pasid }));
    submit('PASID-selective PASID-cache invalidations', drv.submit(...descs), descs.length);

    if (errors.length) throw new DmaSetupError(`${spec.key}: the bind path reported: ${errors.join('; ')}`);
    const hwpts: number[] = [];
    for (const t of tables) {
      const h = sim.attachedHwpt(dev.devId, t.pasid);
      const info = sim.objects().find((o) => o.id === h);
      if (h === undefined || info?.type !== 'hwpt_nested') {
        throw new DmaSetupError(`${spec.key}: PASID ${t.pasid} is not bound to a nested HWPT after the PASID-cache invalidation (attached: ${h ?? 'nothing'})`);
      }
      if (info.parent !== dev.stage2.hwptId) throw new DmaSetupError(`${spec.key}: PASID ${t.pasid}'s nested HWPT ${h} is not on the device's stage 2`);
      hwpts.push(h);
    }
    // The IOAS maps guest RAM where it lives in linear memory (src/viommu/host/README.md, the default RAM map).
    const areas = sim.ioasMappings(dev.stage2.ioasId);
    for (const r of vtd.memory.regions) {
      const a = areas.find((x) => x.iova === r.base);
      if (!a || a.last !== r.base + BigInt(r.size) - 1n || a.hostAddr !== BigInt(r.linear) || !a.read || !a.write) {
        throw new DmaSetupError(`${spec.key}: the device's IOAS does not map guest RAM [0x${r.base.toString(16)}, +0x${r.size.toString(16)}) read/write at its linear address 0x${r.linear.toString(16)}`);
      }
    }
    return {
      spec, vtd, sim, dev, tables, byPasid: new Map(tables.map((t) => [t.pasid, t])), tablePages, hwpts,
      areas, descriptors,
    };
  } finally {
    vtd.off('trace', onTrace);
  }
}

/**
 * The request stream of one scenario. One PASID: generateRequests (the synthetic scenarios'
 * generator: 25% writes, rand = random mapped page and offset with 1% unmapped IOVAs and 0.2%
 * unknown PASIDs, seq = the mapped pages in address order). Several PASIDs: the same, each
 * request on a random bound PASID (rand) or the PASIDs in turn, each walking its own pages in
 * order (seq). PASID 0 is the RID: NO_PASID in the stream.
 */
export function generateDmaRequests(s: DmaSetup, pattern: Pattern, n: number, seed: bigint): RequestSet {
  const sid = s.dev.sid;
  let rs: RequestSet;
  if (s.tables.length === 1) {
    const t = s.tables[0]!;
    rs = generateRequests(
      { vtd: s.vtd, guest: undefined as never, sid, nextPasid: 0 },
      { spec: { key: s.spec.key, kind: 'first-stage', levels: LEVELS, pageSize: s.spec.pageSize, patterns: s.spec.patterns }, pasid: t.pasid, space: t.space, tablePages: 0 },
      pattern, n, seed,
    );
  } else {
    const rng = new Rng(seed ^ hashName(`requests:${s.spec.key}:${pattern}`));
    rs = newRequestSet(n);
    const v32 = new Uint32Array(rs.iova.buffer);
    rs.sid.fill(sid);
    for (let i = 0; i < n; i++) if (rng.chance(WRITE_FRACTION)) rs.flags[i] = 1;
    const cursors = new Uint32Array(s.tables.length);
    for (let i = 0; i < n; i++) {
      const k = pattern === 'rand' ? rng.below(s.tables.length) : i % s.tables.length;
      const t = s.tables[k]!;
      const sp = t.space;
      let p: number;
      if (pattern === 'seq') {
        p = sp.sorted[cursors[k]!]!;
        cursors[k] = cursors[k]! + 1 === sp.sorted.length ? 0 : cursors[k]! + 1;
      } else {
        p = sp.pages[rng.below(sp.pages.length)]!;
        if (rng.chance(UNMAPPED_FRACTION)) {
          if (sp.dense) p = sp.spanPages + rng.below(sp.spanPages);
          else do p = rng.below(sp.spanPages); while (sp.map[p]);
        }
      }
      const psz = 2 ** sp.pageShift;
      rs.pasid[i] = t.pasid;
      put64(v32, i, Number(sp.base & 0xffff_ffffn), Number(sp.base >> 32n), p * psz + (rng.below(psz) & ~7));
    }
    if (pattern === 'rand') badPasids(rs, rng);
  }
  for (let i = 0; i < n; i++) if (rs.pasid[i] === 0) rs.pasid[i] = NO_PASID;
  return rs;
}

/** One dmaBatch call: the requests of one PASID and one access, in stream order. */
export interface DmaGroup {
  pasid: number | undefined;
  access: 'r' | 'w';
  iovas: BigUint64Array;
  out: { address: BigUint64Array; ok: Uint8Array };
}

export interface DmaCalls {
  groups: DmaGroup[];
  /** Results in grouped order; order[j] = the stream index of grouped position j. */
  address: BigUint64Array;
  ok: Uint8Array;
  order: Uint32Array;
  reads: number;
  writes: number;
}

/**
 * The stream as dmaBatch calls: dmaBatch takes one device, one PASID and one access, so the
 * requests are split (stably) by PASID and access: two calls per bound PASID, plus one per
 * (unknown PASID, access) of the rand stream's stray requests.
 */
export function groupDmaCalls(rs: RequestSet): DmaCalls {
  const n = rs.n;
  const keyOf = (i: number) => rs.pasid[i]! * 2 + (rs.flags[i]! & 1);
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) counts.set(keyOf(i), (counts.get(keyOf(i)) ?? 0) + 1);
  const starts = new Map<number, number>();
  let at = 0;
  for (const [k, c] of counts) {
    starts.set(k, at);
    at += c;
  }
  const order = new Uint32Array(n);
  const iovas = new BigUint64Array(n);
  const fill = new Map(starts);
  for (let i = 0; i < n; i++) {
    const k = keyOf(i);
    const j = fill.get(k)!;
    fill.set(k, j + 1);
    order[j] = i;
    iovas[j] = rs.iova[i]!;
  }
  const address = new BigUint64Array(n);
  const ok = new Uint8Array(n);
  const groups: DmaGroup[] = [];
  let writes = 0;
  for (const [k, c] of counts) {
    const s = starts.get(k)!;
    const pasid = Math.floor(k / 2);
    const access = k % 2 ? 'w' : 'r';
    if (access === 'w') writes += c;
    groups.push({
      pasid: pasid === NO_PASID ? undefined : pasid, access,
      iovas: iovas.subarray(s, s + c), out: { address: address.subarray(s, s + c), ok: ok.subarray(s, s + c) },
    });
  }
  return { groups, address, ok, order, reads: n - writes, writes };
}

/** Host address of a guest-physical address through the IOAS (stage 2), or undefined (a stage-2 fault). */
export function stage2(areas: readonly IoasArea[], gpa: bigint, write: boolean): bigint | undefined {
  for (const a of areas) {
    if (gpa >= a.iova && gpa <= a.last) return (write ? a.write : a.read) ? a.hostAddr + (gpa - a.iova) : undefined;
  }
  return undefined;
}

/**
 * What the guest's mapping says for each request of the stream: the host address (the output
 * GPA of the page the guest mapped, through the IOAS), or undefined for a fault (unmapped page,
 * write to a read-only page, a PASID nobody bound).
 */
export function expectedDma(s: DmaSetup, rs: RequestSet): (bigint | undefined)[] {
  const out: (bigint | undefined)[] = new Array(rs.n);
  for (let i = 0; i < rs.n; i++) {
    const p = rs.pasid[i]!;
    const t = s.byPasid.get(p === NO_PASID ? 0 : p);
    out[i] = undefined;
    if (!t) continue;
    const sp = t.space;
    const iova = rs.iova[i]!;
    if (iova < sp.base) continue;
    const rel = iova - sp.base;
    const idx = Number(rel >> BigInt(sp.pageShift));
    if (idx >= sp.spanPages) continue;
    const m = sp.map[idx]!;
    const write = (rs.flags[i]! & 1) !== 0;
    if (m === 0 || (write && m !== 1)) continue;
    const gpa = BigInt(t.outputs[idx]!) + (rel & ((1n << BigInt(sp.pageShift)) - 1n));
    out[i] = stage2(s.areas, gpa, write);
  }
  return out;
}
