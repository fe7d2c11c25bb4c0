/**
 * Caches are invisible to a correct guest: after any random sequence of table edits, each
 * followed by invalidations the specification says suffice (chosen at random among the
 * sufficient ones: page-, domain-, PASID-selective or global), a cached unit
 * (`Vtd.create()`), an uncaching one (`caches: false`) and one with tiny caches (2 entries
 * each, constant evictions) translate every request alike. The guest programs all three only
 * through registers, the invalidation queue and its RAM.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeContextCacheInv, encodeIotlbInv, encodeLegacyContextEntry, encodePasidCacheInv, encodePasidEntry, encodePasidIotlbInv,
  GuestBuilder, Vtd, writeEntry,
  type CacheOptions, type DescriptorQwords, type FirstStageTable, type SecondStageTable, type TranslateRequest,
} from '../src/index.js';
import { GuestDriver } from './support/viommu-driver.js';

type Kind = 'fs' | 'ss' | 'pt';
const RAM = [{ base: 0x10_0000n, size: 6n << 20n }];
const SIDS = [0x08, 0x11, 0x88]; // 00:01.0, 00:02.1, 00:11.0 (upper root-entry half)
const PASIDS = [0, 1, 2]; // PASID 0 serves requests without PASID
const SMALL = 16; // 4 KiB slots at 0x1000 * (slot + 1)
const BIG = 4; // 2 MiB slots at 0x4000_0000 + 2 MiB * slot
const iovaOf = (slot: number, big: boolean) => (big ? 0x4000_0000n + BigInt(slot) * 0x20_0000n : BigInt(slot + 1) * 0x1000n);

interface Leaf { pa: bigint; perm: number }
const key = (slot: number, big: boolean) => `${big ? 'B' : 's'}${slot}`;

/** The guest's own bookkeeping (identical for every unit). */
class Model {
  readonly kinds: Kind[];
  readonly leaves: Map<string, Leaf>[];
  /** binding[dev][pasidIdx] = domain (scalable); legacy uses pasidIdx 0 only. */
  readonly binding: number[][];
  readonly ctxOn: boolean[];
  readonly pasidOn: boolean[][];

  constructor(readonly scalable: boolean) {
    this.kinds = scalable ? ['fs', 'fs', 'ss', 'ss', 'pt'] : ['ss', 'ss', 'ss', 'pt'];
    this.leaves = this.kinds.map(() => new Map());
    this.binding = SIDS.map((_, d) => PASIDS.map((_, p) => (d + p) % this.kinds.length));
    this.ctxOn = SIDS.map(() => true);
    this.pasidOn = SIDS.map(() => PASIDS.map(() => true));
  }

  did(dom: number): number {
    return dom + 1;
  }

  /** Effective PASIDs that may have cached entries of `dom` (every binding to it). */
  pasidsOf(dom: number): number[] {
    const out = new Set<number>();
    this.binding.forEach((row) => row.forEach((d, p) => d === dom && out.add(PASIDS[p]!)));
    return [...out];
  }
}

/** One unit with its guest; every unit of a scenario gets the same operations. */
class World {
  readonly guest: GuestBuilder;
  readonly drv: GuestDriver;
  readonly tables: (FirstStageTable | SecondStageTable | undefined)[];
  readonly ctxAt: bigint[] = [];
  readonly pasidAt: bigint[][] = [];

  constructor(readonly vtd: Vtd, readonly m: Model) {
    this.guest = new GuestBuilder(vtd.memory, RAM);
    this.drv = new GuestDriver(vtd, this.guest.alloc);
    this.tables = m.kinds.map((k) => (k === 'fs' ? this.guest.firstStage() : k === 'ss' ? this.guest.secondStage({ aw: 2 }) : undefined));
    SIDS.forEach((sid, d) => {
      if (m.scalable) {
        this.ctxAt.push(this.guest.scalableDevice(sid, { pdts: 0 }).contextEntry);
        this.pasidAt.push(PASIDS.map((pasid, p) => this.guest.pasidEntry(sid, pasid, this.pasidFields(m.binding[d]![p]!))));
      } else {
        this.ctxAt.push(this.guest.legacyDevice(sid, this.legacyFields(m.binding[d]![0]!)));
      }
    });
    this.drv.setRootTable(this.guest.root(), m.scalable);
    this.drv.enableQueue();
    this.drv.enableTranslation();
  }

  pasidFields(dom: number) {
    const k = this.m.kinds[dom]!, t = this.tables[dom], did = this.m.did(dom);
    if (k === 'fs') return { pgtt: 'first-stage' as const, did, fsptptr: t!.root, sre: true, ere: true };
    if (k === 'ss') return { pgtt: 'second-stage' as const, did, aw: 2, ssptptr: t!.root };
    return { pgtt: 'pass-through' as const, did };
  }

  legacyFields(dom: number) {
    const k = this.m.kinds[dom]!, did = this.m.did(dom);
    return k === 'pt' ? { tt: 'pass-through' as const, did, aw: 2 } : { tt: 'second-stage' as const, ssptptr: this.tables[dom]!.root, aw: 2, did };
  }

  setLeaf(dom: number, slot: number, big: boolean, leaf: Leaf | undefined): void {
    const t = this.tables[dom]!;
    const iova = iovaOf(slot, big);
    const size = big ? 0x20_0000 : 0x1000;
    if (!leaf) {
      t.unmap(iova);
    } else if (this.m.kinds[dom] === 'fs') {
      (t as FirstStageTable).map(iova, leaf.pa, { size, write: (leaf.perm & 1) !== 0, user: (leaf.perm & 2) !== 0, xd: (leaf.perm & 4) !== 0 });
    } else {
      (t as SecondStageTable).map(iova, leaf.pa, { size, read: (leaf.perm & 1) !== 0 || (leaf.perm & 2) === 0, write: (leaf.perm & 2) !== 0, exec: (leaf.perm & 4) !== 0 });
    }
  }

  rebind(dev: number, p: number, dom: number): void {
    // Written in place: the guest's context entry may be non-present just now.
    if (this.m.scalable) writeEntry(this.vtd.memory, this.pasidAt[dev]![p]!, encodePasidEntry({ ...this.pasidFields(dom), present: this.m.pasidOn[dev]![p]! }));
    else writeEntry(this.vtd.memory, this.ctxAt[dev]!, encodeLegacyContextEntry({ ...this.legacyFields(dom), present: this.m.ctxOn[dev]! }));
  }

  togglePresent(at: bigint, on: boolean): void {
    const q = this.vtd.memory.readU64(at);
    this.vtd.memory.writeU64(at, on ? q | 1n : q & ~1n);
  }
}

type Inv = DescriptorQwords[];

/** Invalidations sufficient after changing a leaf of `dom` at `iova`: one family, chosen by `pick`. */
function leafInvalidations(m: Model, dom: number, iova: bigint, big: boolean, pick: number): Inv {
  const did = m.did(dom);
  const options: (() => Inv)[] = [
    () => [encodeIotlbInv({ granularity: 'global' })],
    () => [encodeIotlbInv({ granularity: 'domain', did })],
    () => [encodeIotlbInv({ granularity: 'page', did, addr: iova, am: big ? 9 : 0, ih: true })],
    () => [encodeIotlbInv({ granularity: 'page', did, addr: iova & ~0x3fff_ffffn, am: 18 })],
  ];
  if (big) options.push(() => [encodeIotlbInv({ granularity: 'page', did, addr: iova })]); // AM 0 inside the 2 MiB page
  if (m.scalable) {
    options.push(() => m.pasidsOf(dom).map((pasid) => encodePasidIotlbInv({ granularity: 'pasid', did, pasid })));
    if (m.kinds[dom] === 'fs') {
      options.push(() => m.pasidsOf(dom).map((pasid) => encodePasidIotlbInv({ granularity: 'page', did, pasid, addr: iova, am: big ? 9 : 0 })));
    }
  }
  return options[pick % options.length]!();
}

/** After changing the entry that binds (effective PASID `pasid`) to `dom`: its PASID-cache and IOTLB entries. */
function bindingInvalidations(m: Model, dom: number, pasid: number, pick: number): Inv {
  const did = m.did(dom);
  const pc = [
    () => encodePasidCacheInv({ granularity: 'pasid', did, pasid }),
    () => encodePasidCacheInv({ granularity: 'domain', did }),
    () => encodePasidCacheInv({ granularity: 'global' }),
  ];
  const tlb = [
    () => encodePasidIotlbInv({ granularity: 'pasid', did, pasid }),
    () => encodeIotlbInv({ granularity: 'domain', did }),
    () => encodeIotlbInv({ granularity: 'global' }),
  ];
  return [pc[pick % 3]!(), tlb[Math.floor(pick / 3) % 3]!()];
}

/** After changing device `dev`'s context entry: context cache, then what hangs off it. */
function contextInvalidations(m: Model, dev: number, pick: number): Inv {
  const sid = SIDS[dev]!;
  const oldDoms = m.scalable ? m.binding[dev]! : [m.binding[dev]![0]!];
  const cc = [
    () => [encodeContextCacheInv({ granularity: 'device', sid })],
    () => [encodeContextCacheInv({ granularity: 'device', sid: sid | 7, fm: 3 })],
    () => oldDoms.map((d) => encodeContextCacheInv({ granularity: 'domain', did: m.did(d) })),
    () => [encodeContextCacheInv({ granularity: 'global' })],
  ][pick % 4]!();
  if (!m.scalable) {
    return [...cc, ...(pick & 4 ? [encodeIotlbInv({ granularity: 'global' })] : oldDoms.map((d) => encodeIotlbInv({ granularity: 'domain', did: m.did(d) })))];
  }
  return [...cc, ...oldDoms.flatMap((d, p) => bindingInvalidations(m, d, PASIDS[p]!, pick >> 3))];
}

type Cmd =
  | { k: 'map'; dom: number; slot: number; big: boolean; pa: number; perm: number; pick: number; skip: boolean }
  | { k: 'unmap'; dom: number; slot: number; big: boolean; pick: number }
  | { k: 'rebind'; dev: number; p: number; dom: number; pick: number }
  | { k: 'pasid'; dev: number; p: number; pick: number }
  | { k: 'ctx'; dev: number; pick: number }
  | { k: 'srtp' }
  | { k: 'req'; reqs: TranslateRequest[]; batch: boolean };

const reqArb = fc.record({
  dev: fc.nat(SIDS.length - 1),
  pasid: fc.constantFrom(undefined, undefined, 0, 1, 2, 3),
  slot: fc.nat(SMALL - 1),
  big: fc.boolean(),
  off: fc.nat(0xfff),
  write: fc.boolean(),
  exec: fc.boolean(),
  priv: fc.boolean(),
}).map((r): TranslateRequest => ({
  sid: SIDS[r.dev]!,
  pasid: r.pasid,
  iova: iovaOf(r.big ? r.slot % BIG : r.slot, r.big) + BigInt(r.off),
  write: r.write,
  exec: r.pasid !== undefined && r.exec,
  priv: r.pasid !== undefined && r.priv,
}));

function cmdArb(scalable: boolean, nDom: number): fc.Arbitrary<Cmd> {
  const tableDom = fc.nat(nDom - 1).filter((d) => d !== nDom - 1); // the last domain is pass-through
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant('map' as const), dom: tableDom, slot: fc.nat(SMALL - 1), big: fc.boolean(), pa: fc.nat(255), perm: fc.nat(7), pick: fc.nat(99), skip: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('unmap' as const), dom: tableDom, slot: fc.nat(SMALL - 1), big: fc.boolean(), pick: fc.nat(99) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('rebind' as const), dev: fc.nat(SIDS.length - 1), p: fc.nat(scalable ? PASIDS.length - 1 : 0), dom: fc.nat(nDom - 1), pick: fc.nat(99) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('pasid' as const), dev: fc.nat(SIDS.length - 1), p: fc.nat(PASIDS.length - 1), pick: fc.nat(99) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('ctx' as const), dev: fc.nat(SIDS.length - 1), pick: fc.nat(99) }) },
    { weight: 1, arbitrary: fc.constant({ k: 'srtp' as const }) },
    { weight: 6, arbitrary: fc.record({ k: fc.constant('req' as const), reqs: fc.array(reqArb, { minLength: 1, maxLength: 12 }), batch: fc.boolean() }) },
  ).filter((c) => scalable || c.k !== 'pasid');
}

const outcome = (w: World, r: TranslateRequest) => {
  const t = w.vtd.translate(r);
  return t.ok ? t : { ok: false, reason: t.fault.reason };
};

async function scenario(scalable: boolean, cmds: Cmd[]): Promise<void> {
  const caps = scalable ? {} : { smts: false };
  const configs: CacheOptions[] = [{}, false, { context: 2, pasid: 2, iotlb: 2 }];
  const m = new Model(scalable);
  const worlds: World[] = [];
  for (const caches of configs) worlds.push(new World(await Vtd.create({ memory: { size: 8 << 20 }, caps, caches }), m));
  const submit = (inv: Inv) => {
    if (inv.length === 0) return;
    for (const w of worlds) expect(w.drv.submit(...inv)).toBe(true);
  };
  const probe = (reqs: TranslateRequest[], batch: boolean, step: number) => {
    if (batch) {
      const outs = worlds.map((w) => {
        const b = w.vtd.createBatch(reqs.length);
        reqs.forEach((r, i) => {
          b.sid[i] = r.sid;
          b.pasid[i] = r.pasid ?? 0xffff_ffff;
          b.iova[i] = r.iova;
          b.flags[i] = (r.write ? 1 : 0) | (r.exec ? 2 : 0) | (r.priv ? 4 : 0);
        });
        w.vtd.translateBatch(b, reqs.length);
        return { fault: [...b.fault], address: [...b.address] };
      });
      expect([step, outs[1]]).toEqual([step, outs[0]]);
      expect([step, outs[2]]).toEqual([step, outs[0]]);
      return;
    }
    for (const r of reqs) {
      const [a, b, c] = worlds.map((w) => outcome(w, r));
      expect([step, r, b]).toEqual([step, r, a]);
      expect([step, r, c]).toEqual([step, r, a]);
    }
  };

  // Requests around an edit, before it (to fill the caches) and after it (to catch stale entries).
  const leafProbe = (iova: bigint): TranslateRequest[] =>
    SIDS.flatMap((sid) => [undefined, ...PASIDS].flatMap((pasid) => [{ sid, pasid, iova }, { sid, pasid, iova: iova + 8n, write: true }]));
  const deviceProbe = (dev: number): TranslateRequest[] =>
    [undefined, ...PASIDS].flatMap((pasid) => [0, 1, 2, 3, 4, 5].map((s) => ({ sid: SIDS[dev]!, pasid, iova: iovaOf(s, false) }))
      .concat([{ sid: SIDS[dev]!, pasid, iova: iovaOf(0, true) }]));
  const around = (c: Cmd): TranslateRequest[] => {
    if (c.k === 'map' || c.k === 'unmap') return leafProbe(iovaOf(c.big ? c.slot % BIG : c.slot, c.big));
    if (c.k === 'rebind' || c.k === 'pasid' || c.k === 'ctx') return deviceProbe(c.dev);
    return [];
  };

  cmds.forEach((c, step) => {
    const probes = around(c);
    probe(probes, false, step);
    switch (c.k) {
      case 'map': {
        const slot = c.big ? c.slot % BIG : c.slot;
        const k = key(slot, c.big);
        const old = m.leaves[c.dom]!.get(k);
        const leaf = { pa: (c.big ? 0x2_0000_0000n + BigInt(c.pa) * 0x20_0000n : 0x1_0000_0000n + BigInt(c.pa) * 0x1000n), perm: c.perm };
        m.leaves[c.dom]!.set(k, leaf);
        for (const w of worlds) w.setLeaf(c.dom, slot, c.big, leaf);
        // A page that was not mapped cannot be cached (no negative caching without CAP.CM).
        if (old || !c.skip) submit(leafInvalidations(m, c.dom, iovaOf(slot, c.big), c.big, c.pick));
        break;
      }
      case 'unmap': {
        const slot = c.big ? c.slot % BIG : c.slot;
        const k = key(slot, c.big);
        if (!m.leaves[c.dom]!.has(k)) break;
        m.leaves[c.dom]!.delete(k);
        for (const w of worlds) w.setLeaf(c.dom, slot, c.big, undefined);
        submit(leafInvalidations(m, c.dom, iovaOf(slot, c.big), c.big, c.pick));
        break;
      }
      case 'rebind': {
        const old = m.binding[c.dev]![c.p]!;
        for (const w of worlds) w.rebind(c.dev, c.p, c.dom);
        submit(scalable ? bindingInvalidations(m, old, PASIDS[c.p]!, c.pick) : contextInvalidations(m, c.dev, c.pick));
        m.binding[c.dev]![c.p] = c.dom;
        break;
      }
      case 'pasid': {
        const on = !m.pasidOn[c.dev]![c.p]!;
        m.pasidOn[c.dev]![c.p] = on;
        for (const w of worlds) w.togglePresent(w.pasidAt[c.dev]![c.p]!, on);
        // Not-present entries are not cached: only taking one away needs invalidations.
        if (!on) submit(bindingInvalidations(m, m.binding[c.dev]![c.p]!, PASIDS[c.p]!, c.pick));
        break;
      }
      case 'ctx': {
        const on = !m.ctxOn[c.dev]!;
        m.ctxOn[c.dev] = on;
        for (const w of worlds) w.togglePresent(w.ctxAt[c.dev]!, on);
        if (!on) submit(contextInvalidations(m, c.dev, c.pick));
        break;
      }
      case 'srtp':
        for (const w of worlds) w.drv.setRootTable(w.guest.root(), scalable);
        break;
      case 'req':
        probe(c.reqs, c.batch, step);
        break;
    }
    probe(probes, false, step);
  });
  // Finally every mapped page and every device/PASID, on all units.
  const all: TranslateRequest[] = [];
  for (const sid of SIDS) {
    for (const pasid of [undefined, ...PASIDS]) {
      for (let s = 0; s < SMALL; s++) all.push({ sid, pasid, iova: iovaOf(s, false) });
      for (let s = 0; s < BIG; s++) all.push({ sid, pasid, iova: iovaOf(s, true) + 0x1234n, write: true });
    }
  }
  probe(all, false, cmds.length);
}

describe('cached and uncached translation agree after correct invalidations', () => {
  it('scalable mode: first-stage, second-stage and pass-through domains, PASIDs 0-2', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb(true, 5), { minLength: 5, maxLength: 40 }), (cmds) => scenario(true, cmds)),
      { numRuns: 100 },
    );
  });

  it('legacy mode: second-stage and pass-through contexts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb(false, 4), { minLength: 5, maxLength: 40 }), (cmds) => scenario(false, cmds)),
      { numRuns: 80 },
    );
  });

  it('a missing invalidation is caught: the property is not vacuous', async () => {
    const m = new Model(true);
    const [cached, uncached] = [await Vtd.create({ memory: { size: 8 << 20 } }), await Vtd.create({ memory: { size: 8 << 20 }, caches: false })];
    const worlds = [new World(cached, m), new World(uncached, m)];
    for (const w of worlds) w.setLeaf(0, 0, false, { pa: 0x1_0000_0000n, perm: 7 });
    const req = { sid: SIDS[0]!, iova: iovaOf(0, false) };
    expect(outcome(worlds[0]!, req)).toEqual(outcome(worlds[1]!, req));
    for (const w of worlds) w.setLeaf(0, 0, false, { pa: 0x1_0000_1000n, perm: 7 });
    expect(outcome(worlds[0]!, req)).not.toEqual(outcome(worlds[1]!, req));
  });
});
