/**
 * Property: random guest sequences — PASID entries written, changed, cleared or made
 * invalid, each followed by an invalidation that covers it (of a random kind: global,
 * domain- or PASID-selective PASID-cache, global or device-selective context-cache), plus
 * PASIDE flips, TE off/on, SRTP and invalidations that cover nothing — and after every step,
 * for every host device and PASID, the backend does what the guest's tables say (same DMA
 * result as the vIOMMU, nothing attached where the vIOMMU faults on the entry), with no
 * leaked object.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HostDevice } from '../src/index.js';
import { bindEnv, expectMatchesGuest, expectNoLeaks, type BindEnv } from './support/bind-env.js';

const PASIDS = [0, 1, 2, 15, 16, 64, 130];
const A = 0x40_0000n, B = 0x7f_f000n;

type Kind =
  | { t: 'fs'; table: number; did: number; sre: boolean; wpe: boolean; eafe: boolean }
  | { t: 'pt'; did: number }
  | { t: 'absent' }
  | { t: 'reserved'; did: number }
  | { t: 'not-present'; table: number; did: number };

type Cover = 'pc-global' | 'pc-domain' | 'pc-pasid' | 'cc-global' | 'cc-device';

type Op =
  | { op: 'edit'; dev: number; pasid: number; kind: Kind; cover: Cover }
  | { op: 'paside'; dev: number; on: boolean; cover: 'cc-global' | 'cc-device' | 'pc-global' }
  | { op: 'te'; on: boolean }
  | { op: 'srtp' }
  | { op: 'noise'; which: 'pc-domain' | 'pc-pasid' | 'piotlb'; did: number; pasid: number };

const did = fc.integer({ min: 1, max: 3 });
const kind: fc.Arbitrary<Kind> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('fs' as const), table: fc.integer({ min: 0, max: 2 }), did, sre: fc.boolean(), wpe: fc.boolean(), eafe: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('pt' as const), did }) },
  { weight: 2, arbitrary: fc.constant({ t: 'absent' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reserved' as const), did }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('not-present' as const), table: fc.integer({ min: 0, max: 2 }), did }) },
);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      op: fc.constant('edit' as const), dev: fc.integer({ min: 0, max: 2 }), pasid: fc.constantFrom(...PASIDS), kind,
      cover: fc.constantFrom<Cover>('pc-global', 'pc-domain', 'pc-pasid', 'cc-global', 'cc-device'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('paside' as const), dev: fc.integer({ min: 0, max: 2 }), on: fc.boolean(), cover: fc.constantFrom('cc-global' as const, 'cc-device' as const, 'pc-global' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('te' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('srtp' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('noise' as const), which: fc.constantFrom('pc-domain' as const, 'pc-pasid' as const, 'piotlb' as const), did, pasid: fc.constantFrom(...PASIDS) }) },
);

async function setup() {
  // 00:03.0 with 20-bit PASIDs, 00:04.0 with 4-bit PASIDs, 00:05.0 without PASIDs.
  const env = await bindEnv({ devices: [{ pasidBits: 20 }, { pasidBits: 4 }, { pasidBits: 0 }] });
  const contexts = env.devs.map((d) => env.context(d, 1).contextEntry);
  const t0 = env.table([A]);
  const t1 = env.table([A, B]);
  const t2 = env.table([A], 5);
  return { env, contexts, roots: [t0.pt.root, t1.pt.root, t2.pt.root] };
}

function write(env: BindEnv, d: HostDevice, pasid: number, k: Kind, roots: bigint[]): void {
  switch (k.t) {
    case 'fs':
      env.pasid(d, pasid, { pgtt: 'first-stage', did: k.did, fsptptr: roots[k.table]!, levels: k.table === 2 ? 5 : 4, sre: k.sre, wpe: k.wpe, eafe: k.eafe });
      return;
    case 'pt':
      env.pasid(d, pasid, { pgtt: 'pass-through', did: k.did });
      return;
    case 'absent':
      env.clear(d, pasid);
      return;
    case 'reserved':
      env.pasid(d, pasid, { pgtt: 'pass-through', did: k.did, raw: [0n, 1n << 16n] }); // q1 bit 16: reserved
      return;
    case 'not-present':
      env.pasid(d, pasid, { pgtt: 'first-stage', did: k.did, fsptptr: roots[k.table]!, present: false });
      return;
  }
}

/** The DID a correct guest invalidates with: the cached (old) one if the PASID is bound, else the new entry's. */
function didOf(env: BindEnv, d: HostDevice, pasid: number, k: Kind): number {
  const cached = d.bindings().find((b) => b.pasid === pasid)?.binding.did;
  return cached ?? ('did' in k ? k.did : 1);
}

function cover(env: BindEnv, c: Cover, d: HostDevice, did: number, pasid: number): void {
  const ok = {
    'pc-global': () => env.drv.pasidCache({ granularity: 'global' }),
    'pc-domain': () => env.drv.pasidCache({ granularity: 'domain', did }),
    'pc-pasid': () => env.drv.pasidCache({ granularity: 'pasid', did, pasid }),
    'cc-global': () => env.drv.contextCache({ granularity: 'global' }),
    'cc-device': () => env.drv.contextCache({ granularity: 'device', sid: d.sid }),
  }[c]();
  expect(ok).toBe(true);
}

describe('property: the host follows the guest tables', () => {
  it('after every covered edit, TE/SRTP change or stray invalidation, every device and PASID matches', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const { env, contexts, roots } = await setup();
        let te = true;
        for (const o of ops) {
          switch (o.op) {
            case 'edit': {
              const d = env.devs[o.dev]!;
              const did = didOf(env, d, o.pasid, o.kind);
              write(env, d, o.pasid, o.kind, roots);
              cover(env, o.cover, d, did, o.pasid);
              break;
            }
            case 'paside': {
              const at = contexts[o.dev]!;
              const q0 = env.vtd.memory.readU64(at);
              env.vtd.memory.writeU64(at, o.on ? q0 | 8n : q0 & ~8n);
              cover(env, o.cover, env.devs[o.dev]!, 0, 0);
              break;
            }
            case 'te':
              if (o.on !== te) env.drv.enableTranslation(o.on);
              te = o.on;
              break;
            case 'srtp':
              env.drv.setRootTable(env.guest.root(), true);
              break;
            case 'noise':
              if (o.which === 'piotlb') expect(env.drv.pasidIotlb({ granularity: 'pasid', did: o.did, pasid: o.pasid })).toBe(true);
              else cover(env, o.which, env.devs[0]!, o.did, o.pasid);
              break;
          }
          expect(env.iqe()).toBe(false);
          expectMatchesGuest(env, PASIDS, [A, B, 0x100_0000n]);
          expectNoLeaks(env);
        }
      }),
      { numRuns: 40 },
    );
  });
});
