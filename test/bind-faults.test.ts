/**
 * Every backend failure, injected at every step of the bind path: the guest sees an
 * invalidation-queue error on the invalidation that caused it (FSTS.IQE, IQH on that
 * descriptor; register-triggered steps only trace it), the vIOMMU's cached entries and the
 * backend stay consistent with each other, no object leaks, and once the failure is gone the
 * retried invalidation brings the host to what the guest's tables say.
 */
import { describe, expect, it } from 'vitest';
import { BACKEND_OPS, DRIVER_POINTS, Fsts, Reg, type FaultInjectPoint } from '../src/index.js';
import { bindEnv, expectMatchesGuest, expectNoLeaks, type BindEnv } from './support/bind-env.js';
import { GuestDriver } from './support/viommu-driver.js';

const IOVA = 0x40_0000n;
const PASIDS = [0, 5];
const POINTS: FaultInjectPoint[] = [...BACKEND_OPS, ...DRIVER_POINTS];

interface Scenario {
  name: string;
  /** Tables before the step (and whatever the guest invalidated already). */
  setup(env: BindEnv, t: Tables): void;
  /** The step: a queued invalidation ('qi': returns the driver's result) or a register/API action. */
  act(env: BindEnv, t: Tables): boolean | void;
  qi: boolean;
  boot?: boolean;
}

type Tables = { a: bigint; b: bigint };

const fs = (env: BindEnv, pasid: number, root: bigint, did = 1) => env.pasid(env.dev, pasid, { pgtt: 'first-stage', did, fsptptr: root });
const pt = (env: BindEnv, pasid: number, did = 1) => env.pasid(env.dev, pasid, { pgtt: 'pass-through', did });
const global = (env: BindEnv) => env.drv.pasidCache({ granularity: 'global' });

const SCENARIOS: Scenario[] = [
  { name: 'BIND of the RID (first-stage)', qi: true, setup: (e, t) => fs(e, 0, t.a), act: (e) => e.drv.pasidCache({ granularity: 'pasid', did: 1, pasid: 0 }) },
  { name: 'BIND of PASID 5 (first-stage)', qi: true, setup: (e, t) => fs(e, 5, t.a), act: (e) => e.drv.pasidCache({ granularity: 'pasid', did: 1, pasid: 5 }) },
  { name: 'BIND of pass-through', qi: true, setup: (e) => pt(e, 0), act: (e) => e.drv.pasidCache({ granularity: 'domain', did: 1 }) },
  {
    name: 'UPDATE first-stage -> first-stage', qi: true,
    setup: (e, t) => { fs(e, 0, t.a); expect(global(e)).toBe(true); fs(e, 0, t.b); },
    act: (e) => e.drv.pasidCache({ granularity: 'pasid', did: 1, pasid: 0 }),
  },
  {
    name: 'UPDATE first-stage -> pass-through', qi: true,
    setup: (e, t) => { fs(e, 5, t.a); expect(global(e)).toBe(true); pt(e, 5); },
    act: (e) => e.drv.pasidCache({ granularity: 'domain', did: 1 }),
  },
  {
    name: 'UPDATE pass-through -> first-stage', qi: true,
    setup: (e, t) => { pt(e, 0); expect(global(e)).toBe(true); fs(e, 0, t.b); },
    act: (e) => global(e),
  },
  {
    name: 'UNBIND of cleared entries', qi: true,
    setup: (e, t) => { fs(e, 0, t.a); fs(e, 5, t.b); expect(global(e)).toBe(true); e.clear(e.dev, 0); e.clear(e.dev, 5); },
    act: (e) => global(e),
  },
  {
    name: 'a global invalidation that binds, updates and unbinds', qi: true,
    setup: (e, t) => { fs(e, 0, t.a); pt(e, 1); expect(global(e)).toBe(true); fs(e, 0, t.b); e.clear(e.dev, 1); fs(e, 5, t.a); },
    act: (e) => global(e),
  },
  {
    name: 'a global context-cache invalidation', qi: true,
    setup: (e, t) => { fs(e, 0, t.a); expect(global(e)).toBe(true); fs(e, 0, t.b); fs(e, 5, t.a); },
    act: (e) => e.drv.contextCache({ granularity: 'global' }),
  },
  {
    name: 'a device-selective context-cache invalidation', qi: true,
    setup: (e, t) => { fs(e, 5, t.a); expect(global(e)).toBe(true); e.clear(e.dev, 5); fs(e, 0, t.a); },
    act: (e) => e.drv.contextCache({ granularity: 'device', sid: e.dev.sid }),
  },
  {
    name: 'a forwarded PASID-based IOTLB invalidation', qi: true,
    setup: (e, t) => { fs(e, 5, t.a); expect(global(e)).toBe(true); },
    act: (e) => e.drv.pasidIotlb({ granularity: 'page', did: 1, pasid: 5, addr: IOVA, am: 1, ih: true }),
  },
  {
    name: 'TE off', qi: false,
    setup: (e, t) => { fs(e, 0, t.a); fs(e, 5, t.b); expect(global(e)).toBe(true); },
    act: (e) => e.drv.enableTranslation(false),
  },
  {
    name: 'TE on', qi: false, boot: false,
    setup: (e, t) => {
      e.drv.setRootTable(e.guest.root(), true);
      e.drv.enableQueue();
      fs(e, 0, t.a);
      pt(e, 5);
    },
    act: (e) => e.drv.enableTranslation(true),
  },
  {
    name: 'a reset', qi: false,
    setup: (e, t) => { fs(e, 0, t.a); pt(e, 5); expect(global(e)).toBe(true); },
    act: (e) => e.vtd.reset(),
  },
];

async function prepare(s: Scenario) {
  const env = await bindEnv({ boot: s.boot ?? true });
  env.context(env.dev);
  const tables: Tables = { a: env.table([IOVA]).pt.root, b: env.table([IOVA]).pt.root };
  s.setup(env, tables);
  expect(env.iqe()).toBe(false);
  return { env, tables };
}

/** Bring a unit left by a register/API step (or a reset) back to a state where QI works, and retry. */
function retry(env: BindEnv, s: Scenario): void {
  if (s.qi) {
    env.clearIqe();
    expect(env.iqe()).toBe(false);
    return;
  }
  if (s.name === 'a reset') {
    // The guest boots again, with a fresh driver (the old one's GCMD copy predates the reset).
    const drv = new GuestDriver(env.vtd, env.guest.alloc);
    drv.setRootTable(env.guest.root(), true);
    drv.enableQueue();
    expect(drv.pasidCache({ granularity: 'global' })).toBe(true);
    drv.enableTranslation();
    return;
  }
  expect(global(env)).toBe(true);
}

describe.each(SCENARIOS)('$name', (s) => {
  it('succeeds and matches the guest without injected failures', async () => {
    const { env } = await prepare(s);
    const r = s.act(env, { a: 0n, b: 0n });
    if (s.qi) expect(r).toBe(true);
    expectMatchesGuest(env, PASIDS, [IOVA, 0x100_0000n]);
    expectNoLeaks(env);
  });

  it.each(POINTS)('a failure at %s is reported, consistent, leak-free and recovers', async (point) => {
    const { env, tables } = await prepare(s);
    const tailBefore = env.drv.queue?.tail ?? 0;
    env.sim.injectFault(point, 'EINVAL');
    const r = s.act(env, tables);
    const fired = env.sim.pendingFaults()[point] === undefined;
    env.sim.injectFault(point, 'EINVAL', 0);
    if (!fired) {
      if (s.qi) expect(r).toBe(true);
      expectMatchesGuest(env, PASIDS, [IOVA, 0x100_0000n]);
      expectNoLeaks(env);
      return;
    }
    if (s.qi) {
      expect(r).toBe(false);
      expect(env.drv.rd32(Reg.FSTS) & Fsts.IQE).toBe(Fsts.IQE);
      expect(env.drv.rd64(Reg.IQERCD) & 0xfn).toBe(0n);
      expect(env.drv.rd64(Reg.IQH)).toBe(BigInt(tailBefore * 32)); // on the invalidation, not the wait after it
      expect(env.traces.some((t) => t.name === 'vtd_host_bind_error')).toBe(true);
    } else {
      expect(env.traces.some((t) => t.name === 'vtd_host_bind_error' || t.name === 'vtd_hook_error')).toBe(true);
    }
    // Consistent while failed: every cached entry is what is attached; the backend is sound.
    expectNoLeaks(env, { allowPending: true });
    retry(env, s);
    expectMatchesGuest(env, PASIDS, [IOVA, 0x100_0000n]);
    expectNoLeaks(env);
  });
});

describe('removal', () => {
  it('a detach the backend refuses aborts removal; the device stays registered and consistent', async () => {
    const env = await bindEnv();
    env.context(env.dev);
    fs(env, 0, env.table([IOVA]).pt.root);
    fs(env, 5, env.table([IOVA]).pt.root);
    expect(global(env)).toBe(true);
    env.sim.injectFault('detach', 'EINVAL');
    expect(() => env.vtd.removeHostDevice(env.dev)).toThrow(expect.objectContaining({ code: 'backend', errno: 'EINVAL' }));
    expect(env.vtd.hostDevices()).toHaveLength(1);
    expectNoLeaks(env);
    env.vtd.removeHostDevice(env.dev);
    expect(env.sim.objects().map((o) => o.type)).toEqual(['device']);
  });

  it('a removal refused at a later PASID leaves the PASIDs it already detached unbound, and a sync binds them again', async () => {
    const env = await bindEnv();
    env.context(env.dev);
    fs(env, 0, env.table([IOVA]).pt.root);
    fs(env, 5, env.table([IOVA]).pt.root);
    expect(global(env)).toBe(true);
    // PASIDs go highest first: PASID 5 detaches, then the RID's detach is refused.
    const detach = env.sim.detach.bind(env.sim);
    let calls = 0;
    env.sim.detach = (...a: Parameters<typeof detach>) => {
      const r = detach(...a);
      if (++calls === 1) env.sim.injectFault('detach', 'EINVAL', 1);
      return r;
    };
    expect(() => env.vtd.removeHostDevice(env.dev)).toThrow(expect.objectContaining({ code: 'backend' }));
    env.sim.detach = detach;
    expect(env.dev.bindings().map((b) => b.pasid)).toEqual([0]);
    expectNoLeaks(env);
    expect(global(env)).toBe(true);
    expectMatchesGuest(env, [0, 5], [IOVA]);
  });

  it('a destroy the backend refuses is retried later', async () => {
    const env = await bindEnv();
    env.context(env.dev);
    fs(env, 0, env.table([IOVA]).pt.root);
    expect(global(env)).toBe(true);
    env.sim.injectFault('destroy', 'EBUSY', 2);
    env.vtd.removeHostDevice(env.dev);
    // The nested HWPT and the nest parent were refused; the IOAS then could not go either (its HWPT holds it).
    expect(env.vtd.host.pendingDestroys()[0]!.ids).toHaveLength(3);
    // The next registration (or sync) collects them.
    const devId = env.sim.addDevice();
    env.vtd.addHostDevice({ bus: 0, devfn: 0x40, backend: env.sim, devId });
    expectNoLeaks(env);
  });
});
