/**
 * The bind path end to end, through the guest interface only (mmio + QI + guest memory): a
 * guest writes PASID entries and invalidates; the backend's HWPTs and attachments, and the
 * DMA of the passthrough device, follow — BIND, UPDATE, UNBIND, TE and SRTP, legacy mode,
 * reset, every PASID, DID and PASID filters, context-cache invalidations, IOTLB forwarding.
 */
import { describe, expect, it } from 'vitest';
import {
  IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_VTD_INV_FLAGS_LEAF, IOMMU_VTD_S1_EAFE, IOMMU_VTD_S1_SRE,
  IOMMU_VTD_S1_WPE, Iqei, Reg,
} from '../src/index.js';
import { bindEnv, expectNoLeaks, expectSameDma } from './support/bind-env.js';

const IOVA = 0x40_0000n;
const U64_MAX = (1n << 64n) - 1n;

describe('BIND: a first-stage PASID entry becomes a nested HWPT', () => {
  it('allocates a nested HWPT with the entry\'s S1 data on the nest parent and attaches it to the RID', async () => {
    const env = await bindEnv();
    const { dev, sim } = env;
    const { pt, pages } = env.table([IOVA]);
    env.context(dev);
    env.pasid(dev, 0, { pgtt: 'first-stage', did: 5, fsptptr: pt.root });
    expect(env.drv.pasidCache({ granularity: 'pasid', did: 5, pasid: 0 })).toBe(true);

    const hwpt = sim.attachedHwpt(dev.devId);
    const info = env.nested(hwpt)!;
    expect(info).toMatchObject({ type: 'hwpt_nested', parent: dev.stage2.hwptId, flags: IOMMU_HWPT_ALLOC_PASID });
    expect(info.data).toEqual({ flags: 0, pgtblAddr: pt.root, addrWidth: 48, reserved: 0 });
    expect(dev.bindings()).toEqual([{ pasid: 0, binding: expect.objectContaining({ kind: 'first-stage', did: 5, s1HwptId: hwpt }) }]);
    expect(sim.dma(dev.devId, undefined, IOVA + 0x123n, 'w')).toEqual({ ok: true, address: env.hpa(pages[0]!) + 0x123n, gpa: pages[0]! + 0x123n, hwptId: hwpt });
    expectSameDma(env, dev, 0, IOVA + 0x123n, true);
    expectNoLeaks(env);
  });

  it('carries SRE, WPE, EAFE and 5-level paging into the S1 data', async () => {
    const env = await bindEnv();
    const { pt } = env.table([IOVA], 5);
    env.context(env.dev);
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 1, fsptptr: pt.root, levels: 5, sre: true, wpe: true, eafe: true });
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(true);
    const info = env.nested(env.sim.attachedHwpt(env.dev.devId))!;
    expect(info.data).toEqual({
      flags: IOMMU_VTD_S1_SRE | IOMMU_VTD_S1_WPE | IOMMU_VTD_S1_EAFE, pgtblAddr: pt.root, addrWidth: 57, reserved: 0,
    });
    expectSameDma(env, env.dev, 0, IOVA);
  });

  it('binds a pass-through entry to the nest parent itself (GPA identity)', async () => {
    const env = await bindEnv();
    env.context(env.dev);
    env.pasid(env.dev, 0, { pgtt: 'pass-through', did: 1 });
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(true);
    expect(env.sim.attachedHwpt(env.dev.devId)).toBe(env.dev.stage2.hwptId);
    const gpa = env.page();
    expect(env.sim.dma(env.dev.devId, undefined, gpa, 'r')).toMatchObject({ ok: true, address: env.hpa(gpa) });
    expectSameDma(env, env.dev, 0, gpa);
    expectNoLeaks(env);
  });

  it('does nothing before the guest invalidates (caching mode: the guest must invalidate non-present -> present)', async () => {
    const env = await bindEnv();
    const { pt } = env.table();
    env.context(env.dev);
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 1, fsptptr: pt.root });
    expect(env.dev.bindings()).toEqual([]);
    expect(env.objects('hwpt_nested')).toEqual([]);
  });
});

describe('UPDATE and UNBIND', () => {
  async function bound() {
    const env = await bindEnv();
    const a = env.table([IOVA]);
    env.context(env.dev);
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 1, fsptptr: a.pt.root });
    expect(env.drv.pasidCache({ granularity: 'pasid', did: 1, pasid: 0 })).toBe(true);
    return { env, a, first: env.sim.attachedHwpt(env.dev.devId)! };
  }

  it('an edited entry replaces the nested HWPT and frees the old one', async () => {
    const { env, first } = await bound();
    const b = env.table([IOVA]);
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 1, fsptptr: b.pt.root });
    expect(env.drv.pasidCache({ granularity: 'pasid', did: 1, pasid: 0 })).toBe(true);
    const second = env.sim.attachedHwpt(env.dev.devId)!;
    expect(env.nested(second)!.data!.pgtblAddr).toBe(b.pt.root);
    expect(env.objects('hwpt_nested').map((o) => o.id)).toEqual([second]);
    expect(env.nested(first) === undefined || first === second).toBe(true);
    expect(env.sim.dma(env.dev.devId, undefined, IOVA, 'r')).toMatchObject({ ok: true, address: env.hpa(b.pages[0]!) });
    expect(env.traceNames().filter((n) => n === 'vtd_device_attach_hwpt')).toHaveLength(2);
    expectNoLeaks(env);
  });

  it('stores the new entry on UPDATE (QEMU keeps the old one): a second edit back is an UPDATE again', async () => {
    const { env, a } = await bound();
    const b = env.table([IOVA]);
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 1, fsptptr: b.pt.root });
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(true);
    expect(env.dev.bindings()[0]!.binding.entry[2]! & ~0xfffn).toBe(b.pt.root);
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 1, fsptptr: a.pt.root });
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(true);
    expect(env.nested(env.sim.attachedHwpt(env.dev.devId))!.data!.pgtblAddr).toBe(a.pt.root);
    expectSameDma(env, env.dev, 0, IOVA);
    expectNoLeaks(env);
  });

  it('an unchanged entry is left alone (no backend call)', async () => {
    const { env, first } = await bound();
    const calls = env.sim.stats().calls;
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(true);
    expect(env.drv.pasidCache({ granularity: 'pasid', did: 1, pasid: 0 })).toBe(true);
    expect(env.sim.stats().calls).toEqual(calls);
    expect(env.sim.attachedHwpt(env.dev.devId)).toBe(first);
  });

  it('first-stage -> pass-through replaces with the nest parent and frees the nested HWPT', async () => {
    const { env } = await bound();
    env.pasid(env.dev, 0, { pgtt: 'pass-through', did: 1 });
    expect(env.drv.pasidCache({ granularity: 'domain', did: 1 })).toBe(true);
    expect(env.sim.attachedHwpt(env.dev.devId)).toBe(env.dev.stage2.hwptId);
    expect(env.objects('hwpt_nested')).toEqual([]);
    expectNoLeaks(env);
  });

  it('a cleared entry is detached (blocked) and its nested HWPT freed', async () => {
    const { env } = await bound();
    env.clear(env.dev, 0);
    expect(env.drv.pasidCache({ granularity: 'pasid', did: 1, pasid: 0 })).toBe(true);
    expect(env.sim.attachedHwpt(env.dev.devId)).toBeUndefined();
    expect(env.objects('hwpt_nested')).toEqual([]);
    expect(env.sim.dma(env.dev.devId, undefined, IOVA, 'r')).toMatchObject({ ok: false, fault: { stage: 0, reason: 'blocked' } });
    expectSameDma(env, env.dev, 0, IOVA);
    expect(env.traces.find((t) => t.name === 'vtd_device_detach_hwpt')!.args).toEqual({ dev_id: env.dev.devId, pasid: 0, ret: 0 });
    expectNoLeaks(env);
  });

  it('an entry made invalid (reserved bit) is unbound like a cleared one', async () => {
    const { env, a } = await bound();
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 1, fsptptr: a.pt.root, raw: [1n << 10n] });
    expect(env.drv.pasidCache({ granularity: 'pasid', did: 1, pasid: 0 })).toBe(true);
    expect(env.sim.attachedHwpt(env.dev.devId)).toBeUndefined();
    expectNoLeaks(env);
  });

  it('a removed context entry unbinds at the next context-cache invalidation', async () => {
    const { env } = await bound();
    env.context(env.dev, 0, { present: false });
    expect(env.drv.contextCache({ granularity: 'device', sid: env.dev.sid })).toBe(true);
    expect(env.sim.attachedHwpt(env.dev.devId)).toBeUndefined();
    expect(env.traces.some((t) => t.name === 'vtd_pasid_cache_devsi')).toBe(true);
    expectNoLeaks(env);
  });

  it('TE off re-attaches the default stage 2; TE on binds again', async () => {
    const { env } = await bound();
    env.drv.enableTranslation(false);
    expect(env.sim.attachedHwpt(env.dev.devId)).toBe(env.dev.stage2.hwptId);
    expect(env.objects('hwpt_nested')).toEqual([]);
    expect(env.traces.find((t) => t.name === 'vtd_device_reattach_def_hwpt')!.args)
      .toEqual({ dev_id: env.dev.devId, pasid: 0, hwpt_id: env.dev.stage2.hwptId, ret: 0 });
    const gpa = env.page();
    expect(env.sim.dma(env.dev.devId, undefined, gpa, 'w')).toMatchObject({ ok: true, address: env.hpa(gpa) });
    expectSameDma(env, env.dev, 0, gpa, true);
    env.drv.enableTranslation(true);
    expect(env.nested(env.sim.attachedHwpt(env.dev.devId))).toBeDefined();
    expectSameDma(env, env.dev, 0, IOVA);
    expectNoLeaks(env);
  });

  it('SRTP to another root table rebinds from its tables; a legacy root table gets the default stage 2', async () => {
    const { env, a } = await bound();
    // A second scalable root table where the device is pass-through.
    const root2 = env.guest.alloc.alloc();
    const ctp = env.guest.alloc.alloc();
    const dir = env.guest.alloc.alloc();
    const ptab = env.guest.alloc.alloc();
    env.vtd.memory.writeU64(root2, ctp | 1n);
    env.vtd.memory.writeU64(ctp + BigInt((env.dev.devfn & 127) * 32), dir | 1n | 8n);
    env.vtd.memory.writeU64(dir, ptab | 1n);
    env.vtd.memory.writeU64(ptab, 1n | (4n << 6n));
    env.vtd.memory.writeU64(ptab + 8n, 1n);
    env.drv.setRootTable(root2, true);
    expect(env.sim.attachedHwpt(env.dev.devId)).toBe(env.dev.stage2.hwptId);
    expect(env.objects('hwpt_nested')).toEqual([]);
    env.drv.setRootTable(env.guest.root(), true);
    expect(env.nested(env.sim.attachedHwpt(env.dev.devId))!.data!.pgtblAddr).toBe(a.pt.root);
    env.drv.setRootTable(env.guest.alloc.alloc(), false);
    expect(env.vtd.host.mode).toBe('default');
    expect(env.sim.attachedHwpt(env.dev.devId)).toBe(env.dev.stage2.hwptId);
    expectNoLeaks(env);
  });

  it('a reset unbinds everything and re-attaches the default stage 2', async () => {
    const { env } = await bound();
    env.vtd.reset();
    expect(env.drv.rd32(Reg.GSTS)).toBe(0);
    expect(env.sim.attachedHwpt(env.dev.devId)).toBe(env.dev.stage2.hwptId);
    expect(env.dev.bindings()).toEqual([]);
    expect(env.traceNames()).toContain('vtd_reset_exit');
    expect(env.traceNames()).toContain('vtd_pasid_cache_reset');
    expectNoLeaks(env);
  });

  it('with remapping on in scalable mode, a device without a PASID entry is blocked, not identity-mapped', async () => {
    const env = await bindEnv({ boot: false });
    expect(env.sim.attachedHwpt(env.dev.devId)).toBe(env.dev.stage2.hwptId);
    env.boot();
    expect(env.sim.attachedHwpt(env.dev.devId)).toBeUndefined();
    expectSameDma(env, env.dev, 0, 0x1000n);
    expectNoLeaks(env);
  });

  it('remapping on with an unsupported TTM blocks the device', async () => {
    const env = await bindEnv({ boot: false });
    env.drv.wr64(Reg.RTADDR, env.guest.root() | (2n << 10n));
    env.drv.wr32(Reg.GCMD, 0x4000_0000);
    env.drv.enableTranslation();
    expect(env.vtd.host.mode).toBe('blocked');
    expect(env.sim.attachedHwpt(env.dev.devId)).toBeUndefined();
  });
});

describe('errors the guest sees as an invalidation-queue error', () => {
  it('a second-stage PASID entry cannot be bound: IQE, nothing bound', async () => {
    const env = await bindEnv();
    const ss = env.guest.secondStage({ aw: 2 });
    env.context(env.dev);
    env.pasid(env.dev, 0, { pgtt: 'second-stage', did: 1, aw: 2, ssptptr: ss.root });
    expect(env.drv.pasidCache({ granularity: 'pasid', did: 1, pasid: 0 })).toBe(false);
    expect(env.iqe()).toBe(true);
    expect(Number(env.drv.rd64(Reg.IQERCD) & 0xfn)).toBe(Iqei.INFO_NOT_AVAILABLE);
    expect(env.traces.find((t) => t.name === 'vtd_host_bind_error')!.args.message).toMatch(/Invalid PGTT type 2/);
    expect(env.dev.bindings()).toEqual([]);
    expectNoLeaks(env);
  });

  it('a first-stage entry with FSPTPTR 0 is an error', async () => {
    const env = await bindEnv();
    env.context(env.dev);
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 1, fsptptr: 0n });
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(false);
    expect(env.traces.find((t) => t.name === 'vtd_host_bind_error')!.args.message).toMatch(/FSPTPTR 0/);
    expectNoLeaks(env);
  });

  it('the failed descriptor runs again once the guest fixed its table and cleared IQE', async () => {
    const env = await bindEnv();
    env.context(env.dev);
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 1, fsptptr: 0n });
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(false);
    const { pt } = env.table();
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 1, fsptptr: pt.root });
    env.clearIqe();
    expect(env.iqe()).toBe(false);
    expect(env.nested(env.sim.attachedHwpt(env.dev.devId))!.data!.pgtblAddr).toBe(pt.root);
    expectNoLeaks(env);
  });
});

describe('every PASID', () => {
  it('binds PASIDs 0, 1 and 2^k-1 at once; 2^k is beyond the host device', async () => {
    const env = await bindEnv({ devices: [{ pasidBits: 8 }] });
    const { dev, sim } = env;
    expect(dev.pasidCapable).toBe(true);
    expect(dev.pasidLimit).toBe(256);
    env.context(dev, 1);
    const tables = [0, 1, 255, 256].map((pasid) => {
      const t = env.table([IOVA]);
      env.pasid(dev, pasid, { pgtt: 'first-stage', did: 3, fsptptr: t.pt.root });
      return t;
    });
    expect(env.drv.pasidCache({ granularity: 'domain', did: 3 })).toBe(true);
    expect(dev.bindings().map((b) => b.pasid)).toEqual([0, 1, 255]);
    for (const [i, pasid] of [0, 1, 255].entries()) {
      const h = sim.attachedHwpt(dev.devId, pasid);
      expect(env.nested(h)).toMatchObject({ flags: IOMMU_HWPT_ALLOC_PASID, data: { pgtblAddr: tables[i]!.pt.root } });
      expect(sim.dma(dev.devId, pasid === 0 ? undefined : pasid, IOVA, 'r')).toMatchObject({ ok: true, address: env.hpa(tables[i]!.pages[0]!) });
      expectSameDma(env, dev, pasid, IOVA);
    }
    expect(sim.attachedHwpt(dev.devId, 256)).toBeUndefined();
    expect(env.objects().find((o) => o.id === dev.stage2.hwptId)!.flags).toBe(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID);
    expectNoLeaks(env);
  });

  it('PASID-selective invalidation binds only that PASID; a stale other PASID is still retired', async () => {
    const env = await bindEnv();
    const { dev, sim } = env;
    env.context(dev);
    const t = env.table();
    env.pasid(dev, 2, { pgtt: 'first-stage', did: 1, fsptptr: t.pt.root });
    env.pasid(dev, 3, { pgtt: 'first-stage', did: 1, fsptptr: t.pt.root });
    expect(env.drv.pasidCache({ granularity: 'pasid', did: 1, pasid: 2 })).toBe(true);
    expect(dev.bindings().map((b) => b.pasid)).toEqual([2]);
    env.clear(dev, 2);
    expect(env.drv.pasidCache({ granularity: 'pasid', did: 1, pasid: 3 })).toBe(true);
    expect(dev.bindings().map((b) => b.pasid)).toEqual([3]);
    expect(sim.attachedHwpt(dev.devId, 2)).toBeUndefined();
    expectNoLeaks(env);
  });

  it('domain- and PASID-selective invalidations filter on the DID (cached DID for updates)', async () => {
    const env = await bindEnv();
    const { dev } = env;
    env.context(dev);
    const a = env.table(), b = env.table();
    env.pasid(dev, 4, { pgtt: 'first-stage', did: 7, fsptptr: a.pt.root });
    expect(env.drv.pasidCache({ granularity: 'domain', did: 8 })).toBe(true);
    expect(env.drv.pasidCache({ granularity: 'pasid', did: 8, pasid: 4 })).toBe(true);
    expect(dev.bindings()).toEqual([]);
    expect(env.drv.pasidCache({ granularity: 'domain', did: 7 })).toBe(true);
    expect(dev.bindings().map((x) => x.binding.did)).toEqual([7]);
    // The guest moves the PASID to domain 9: invalidating the new domain does not touch the cached entry...
    env.pasid(dev, 4, { pgtt: 'first-stage', did: 9, fsptptr: b.pt.root });
    expect(env.drv.pasidCache({ granularity: 'domain', did: 9 })).toBe(true);
    expect(dev.bindings()[0]!.binding.did).toBe(7);
    // ...invalidating the old one updates it.
    expect(env.drv.pasidCache({ granularity: 'domain', did: 7 })).toBe(true);
    expect(dev.bindings()[0]!.binding).toMatchObject({ did: 9 });
    expect(env.nested(dev.bindings()[0]!.binding.s1HwptId)!.data!.pgtblAddr).toBe(b.pt.root);
    expectNoLeaks(env);
  });

  it('PASIDE clear: only PASID 0 is bound', async () => {
    const env = await bindEnv();
    const { dev } = env;
    env.context(dev, 0, { paside: false });
    const t = env.table();
    env.pasid(dev, 0, { pgtt: 'first-stage', did: 1, fsptptr: t.pt.root });
    env.pasid(dev, 1, { pgtt: 'first-stage', did: 1, fsptptr: t.pt.root });
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(true);
    expect(dev.bindings().map((b) => b.pasid)).toEqual([0]);
    expectSameDma(env, dev, 1, IOVA);
  });

  it('a device without PASIDs gets only its RID bound, on a nest parent without ALLOC_PASID', async () => {
    const env = await bindEnv({ devices: [{ pasidBits: 0 }] });
    const { dev } = env;
    expect(dev.pasidCapable).toBe(false);
    expect(dev.stage2.flags).toBe(IOMMU_HWPT_ALLOC_NEST_PARENT);
    env.context(dev);
    const t = env.table();
    env.pasid(dev, 0, { pgtt: 'first-stage', did: 1, fsptptr: t.pt.root });
    env.pasid(dev, 1, { pgtt: 'first-stage', did: 1, fsptptr: t.pt.root });
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(true);
    expect(dev.bindings().map((b) => b.pasid)).toEqual([0]);
    expect(env.nested(env.sim.attachedHwpt(dev.devId))!.flags).toBe(0);
    expectNoLeaks(env);
  });

  it('context-cache invalidations replay: global, and device-selective with FM masking function bits', async () => {
    const env = await bindEnv({ devices: [{ devfn: 0x18 }, { devfn: 0x1c }] });
    const [d0, d1] = env.devs as [typeof env.dev, typeof env.dev];
    const t = env.table();
    for (const d of [d0, d1]) {
      env.context(d);
      env.pasid(d, 0, { pgtt: 'first-stage', did: 1, fsptptr: t.pt.root });
    }
    // FM = 0 on 00:03.0 covers only it; FM = 3 covers functions 0-7 of device 3 (0x18-0x1f).
    expect(env.drv.contextCache({ granularity: 'device', sid: d0.sid, fm: 0 })).toBe(true);
    expect([d0.bindings().length, d1.bindings().length]).toEqual([1, 0]);
    expect(env.drv.contextCache({ granularity: 'device', sid: d0.sid, fm: 3 })).toBe(true);
    expect([d0.bindings().length, d1.bindings().length]).toEqual([1, 1]);
    for (const d of [d0, d1]) env.clear(d, 0);
    expect(env.drv.contextCache({ granularity: 'global' })).toBe(true);
    expect([d0.bindings().length, d1.bindings().length]).toEqual([0, 0]);
    expect(env.traces.filter((x) => x.name === 'vtd_pasid_cache_devsi').map((x) => x.args))
      .toEqual([{ bus: 0, dev: 3, fn: 0 }, { bus: 0, dev: 3, fn: 0 }, { bus: 0, dev: 3, fn: 4 }]);
    expectNoLeaks(env);
  });
});

describe('invalidation forwarding', () => {
  async function bound(pasid = 5) {
    const env = await bindEnv();
    const t = env.table();
    env.context(env.dev);
    env.pasid(env.dev, pasid, { pgtt: 'first-stage', did: 2, fsptptr: t.pt.root });
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(true);
    return { env, s1: env.sim.attachedHwpt(env.dev.devId, pasid)! };
  }

  it('page-selective PASID-based IOTLB invalidation -> IOMMU_HWPT_INVALIDATE of 2^AM pages, LEAF from IH', async () => {
    const { env, s1 } = await bound();
    expect(env.drv.pasidIotlb({ granularity: 'page', did: 2, pasid: 5, addr: 0x40_3000n, am: 2, ih: true })).toBe(true);
    expect(env.drv.pasidIotlb({ granularity: 'page', did: 2, pasid: 5, addr: 0x7000n, am: 0 })).toBe(true);
    expect(env.sim.invalidations(s1).entries).toEqual([
      { addr: 0x40_0000n, npages: 4n, flags: IOMMU_VTD_INV_FLAGS_LEAF },
      { addr: 0x7000n, npages: 1n, flags: 0 },
    ]);
  });

  it('all-in-PASID invalidates the whole range; other DIDs or PASIDs are not forwarded', async () => {
    const { env, s1 } = await bound();
    expect(env.drv.pasidIotlb({ granularity: 'pasid', did: 2, pasid: 5 })).toBe(true);
    expect(env.drv.pasidIotlb({ granularity: 'pasid', did: 3, pasid: 5 })).toBe(true);
    expect(env.drv.pasidIotlb({ granularity: 'pasid', did: 2, pasid: 6 })).toBe(true);
    expect(env.sim.invalidations(s1).entries).toEqual([{ addr: 0n, npages: U64_MAX, flags: 0 }]);
  });

  it('a pass-through binding has nothing to invalidate', async () => {
    const env = await bindEnv();
    env.context(env.dev);
    env.pasid(env.dev, 0, { pgtt: 'pass-through', did: 2 });
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(true);
    expect(env.drv.pasidIotlb({ granularity: 'pasid', did: 2, pasid: 0 })).toBe(true);
    expect(env.sim.stats().calls.invalidateHwpt).toBeUndefined();
  });

  it('a failed forward is an invalidation-queue error', async () => {
    const { env } = await bound();
    env.sim.injectFault('invalidateHwpt', 'EINVAL');
    expect(env.drv.pasidIotlb({ granularity: 'pasid', did: 2, pasid: 5 })).toBe(false);
    expect(env.iqe()).toBe(true);
    expect(env.traces.find((t) => t.name === 'vtd_host_piotlb_flush')!.args.ret).toBe(-22);
    env.clearIqe();
    expect(env.iqe()).toBe(false);
  });

  it('device-TLB invalidations go to a backend that has a call for them (ECAP.DT)', async () => {
    const env = await bindEnv({ caps: { dt: true } });
    const t = env.table();
    env.context(env.dev);
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 2, fsptptr: t.pt.root });
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(true);
    // SimIommufd has none (the nested HWPT invalidation flushes the device TLB on the host): nothing forwarded.
    expect(env.drv.deviceTlb({ sid: env.dev.sid, addr: 0x40_0000n })).toBe(true);
    const seen: unknown[] = [];
    (env.sim as unknown as { invalidateDeviceTlb: unknown }).invalidateDeviceTlb = (...a: unknown[]) => void seen.push(a);
    expect(env.drv.deviceTlb({ sid: env.dev.sid, addr: 0x40_0000n })).toBe(true);
    expect(env.drv.deviceTlb({ sid: env.dev.sid + 1, addr: 0x40_0000n })).toBe(true);
    expect(seen).toEqual([[env.dev.devId, undefined, 0x40_0000n, 4096n]]);
  });
});

describe('trace events', () => {
  it('bind-path events carry QEMU\'s names and argument order; vtd.on/off deliver the same events as onTrace', async () => {
    const env = await bindEnv();
    const seen: [string, Record<string, unknown>][] = [];
    const fn = (n: string, a: Readonly<Record<string, unknown>>) => void seen.push([n, { ...a }]);
    env.vtd.on('trace', fn);
    const t = env.table();
    env.context(env.dev);
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 4, fsptptr: t.pt.root });
    expect(env.drv.pasidCache({ granularity: 'pasid', did: 4, pasid: 0 })).toBe(true);
    const psi = seen.find(([n]) => n === 'vtd_inv_desc_pasid_cache_psi')!;
    expect(Object.keys(psi[1])).toEqual(['domain', 'pasid']);
    const attach = seen.find(([n]) => n === 'vtd_device_attach_hwpt')!;
    expect(Object.entries(attach[1])).toEqual([['dev_id', env.dev.devId], ['pasid', 0], ['hwpt_id', env.sim.attachedHwpt(env.dev.devId)], ['ret', 0]]);
    // onTrace (createUnit's) saw exactly the same events.
    expect(env.traces.slice(-seen.length).map((x) => x.name)).toEqual(seen.map(([n]) => n));
    env.vtd.off('trace', fn);
    const n = seen.length;
    env.clear(env.dev, 0);
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(true);
    expect(seen.length).toBe(n);
    expect(env.traces.find((x) => x.name === 'vtd_inv_desc_pasid_cache_gsi')).toBeDefined();
    expect(Object.keys(env.traces.find((x) => x.name === 'vtd_device_detach_hwpt')!.args)).toEqual(['dev_id', 'pasid', 'ret']);
  });

  it('a throwing listener sees the bind path\'s events only once its state is complete', async () => {
    const env = await bindEnv();
    const t = env.table();
    env.context(env.dev);
    env.pasid(env.dev, 0, { pgtt: 'first-stage', did: 4, fsptptr: t.pt.root });
    const boom = (n: string) => {
      if (n === 'vtd_device_attach_hwpt') throw new Error('listener bug');
    };
    env.vtd.on('trace', boom);
    // The hook's exception fails the descriptor, but the binding is complete and consistent.
    expect(env.drv.pasidCache({ granularity: 'global' })).toBe(false);
    expect(env.dev.bindings()).toHaveLength(1);
    expectNoLeaks(env);
    env.vtd.off('trace', boom);
    env.clearIqe();
    expect(env.iqe()).toBe(false);
    expectSameDma(env, env.dev, 0, IOVA);
  });

  it('an injected tracer receives the unit\'s events', async () => {
    const { Tracer, Vtd } = await import('../src/index.js');
    const tracer = new Tracer();
    const names: string[] = [];
    tracer.on('trace', (n) => void names.push(n));
    const vtd = await Vtd.create({ memory: { size: 1 << 20 }, tracer });
    vtd.mmio.write(0x200, 4, 1);
    expect(names).toContain('vtd_reg_write_unimplemented');
    expect(() => vtd.on('nope' as 'trace', () => {})).toThrow(TypeError);
  });
});
