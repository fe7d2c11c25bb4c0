/** Directed smoke tests of the reference walker on hand-built tables (docs/semantics.md). */
import { describe, expect, it } from 'vitest';
import { resolveCaps, type Caps } from '../src/spec/caps.js';
import { RegionMemory, refFirstStageWalk, refTranslate, type RefEnv } from '../src/reference/index.js';
import type { TranslateRequest } from '../src/types.js';

const P = 1n;
const RW = 2n;
const US = 4n;
const PS = 1n << 7n;
const A = 1n << 5n;
const D = 1n << 6n;
const IOVA = 0x12345678n; // indices: L4 0, L3 0, L2 0x91, L1 0x145

/** 1 MiB of RAM at 0 holding: root 0x1000, context 0x2000, PASID dir 0x3000, PASID table 0x4000. */
function setup(caps: Partial<Caps> = {}) {
  const mem = new RegionMemory([{ base: 0n, bytes: new Uint8Array(1 << 20) }]);
  const w = (gpa: number, v: bigint) => mem.write64(BigInt(gpa), v);
  w(0x1000, 0x2000n | P); // bus 0 root entry, lower half
  w(0x2000 + 8 * 32, 0x3000n | (1n << 3n) | P); // devfn 8: PASIDE, PDTS 0
  w(0x3000, 0x4000n | P); // PASID dir entry 0 (PASIDs 0..63)
  const pasidEntry = (pasid: number, q0: bigint, q2 = 0n) => (w(0x4000 + pasid * 64, q0), w(0x4000 + pasid * 64 + 16, q2));
  pasidEntry(1, P | (1n << 6n), 0x10000n | (1n << 4n) | 1n); // first-stage, FSPTPTR 0x10000, WPE, SRE
  pasidEntry(2, 0x20000n | P | (2n << 6n) | (2n << 2n)); // second-stage, AW 2 (4-level)
  pasidEntry(3, P | (4n << 6n)); // pass-through
  pasidEntry(5, 0x30000n | P | (3n << 6n) | (2n << 2n), 0x10000n); // nested, SS identity below
  // First stage for IOVA: 4 KiB page at 0x80000, user RW.
  w(0x10000, 0x11000n | P | RW | US);
  w(0x11000, 0x12000n | P | RW | US);
  w(0x12000 + 0x91 * 8, 0x13000n | P | RW | US);
  w(0x13000 + 0x145 * 8, 0x80000n | P | RW | US);
  // Second stage for IOVA: 2 MiB page at 0x200000, R+W (no X).
  w(0x20000, 0x21000n | 3n);
  w(0x21000, 0x22000n | 3n);
  w(0x22000 + 0x91 * 8, 0x200000n | PS | 3n);
  // Second stage for nesting: the first GiB identity-mapped, RWX.
  w(0x30000, 0x31000n | 7n);
  w(0x31000, PS | 7n);
  const env: RefEnv = { mem, caps: resolveCaps(caps), te: true, scalable: true, rtaddr: 0x1000n };
  return { env, mem, w };
}

const tr = (env: RefEnv, r: Partial<TranslateRequest>) => refTranslate(env, { sid: 8, iova: IOVA, ...r });
const code = (r: ReturnType<typeof refTranslate>) => (r.ok ? 'ok' : [r.fault.reason, r.fault.level]);

describe('reference walker', () => {
  it('first stage: 4-level walk through root, context, PASID dir and entry; A on the path, A+D on the leaf', () => {
    const { env, mem } = setup();
    expect(tr(env, { pasid: 1, write: true })).toEqual({
      ok: true, address: 0x80678n, pageSize: 4096, read: true, write: true, exec: true,
    });
    expect(mem.read64(0x10000n)).toBe(0x11000n | P | RW | US | A);
    expect(mem.read64(0x13000n + 0x145n * 8n)).toBe(0x80000n | P | RW | US | A | D);
  });

  it('second stage: 2 MiB leaf, no A/D; exec without X faults 0x82 at the leaf level', () => {
    const { env } = setup();
    expect(tr(env, { pasid: 2 })).toEqual({
      ok: true, address: 0x345678n, pageSize: 2 << 20, read: true, write: true, exec: false,
    });
    expect(code(tr(env, { pasid: 2, exec: true }))).toEqual([0x82, 2]);
    expect(code(tr(env, { pasid: 2, iova: 1n << 48n }))).toEqual([0x83, undefined]);
  });

  it('pass-through, translation disabled and the interrupt range', () => {
    const { env } = setup();
    expect(tr(env, { pasid: 3, iova: 0xabcdefn })).toMatchObject({ ok: true, address: 0xabcdefn, pageSize: 4096 });
    expect(code(tr(env, { pasid: 3, iova: 0xfee00000n }))).toEqual([0x87, undefined]);
    expect(tr({ ...env, te: false }, { sid: 0xffff, iova: 0xfee00000n })).toMatchObject({ ok: true, address: 0xfee00000n });
  });

  it('nested: first-stage structures and output through the second stage', () => {
    const { env, w } = setup({ nest: true });
    expect(tr(env, { pasid: 5 })).toMatchObject({ ok: true, address: 0x80678n, pageSize: 4096 });
    w(0x31000, PS | 5n); // second stage now read-only: the next A update cannot be written
    w(0x12000 + 0x91 * 8, 0x13000n | P | RW | US); // clear A again on the level-2 entry
    expect(code(tr(env, { pasid: 5 }))).toEqual([0x77, 2]); // §7: reported at the first-stage level
  });

  it('one fault per structure', () => {
    const { env, w } = setup();
    expect(code(tr(env, { sid: 0x100, pasid: 1 }))).toEqual([0x39, undefined]); // root entry not present
    expect(code(tr(env, { sid: 9, pasid: 1 }))).toEqual([0x41, undefined]); // context entry not present
    expect(code(tr(env, { pasid: 64 }))).toEqual([0x51, undefined]); // PASID dir entry not present
    expect(code(tr(env, { pasid: 4 }))).toEqual([0x59, undefined]); // PASID entry not present
    expect(code(tr(env, { pasid: 1, iova: 0x40000000n }))).toEqual([0x71, 3]); // first-stage entry not present
    expect(code(tr(env, { pasid: 1, iova: 1n << 47n }))).toEqual([0x80, undefined]); // non-canonical
    expect(code(tr(env, { pasid: 2, iova: 0x40000000n }))).toEqual([0x86, 3]); // second-stage entry not present
    expect(code(tr({ ...env, scalable: false }, { pasid: 1 }))).toEqual([0x31, undefined]); // legacy with PASID
    w(0x13000 + 0x145 * 8, 0x80000n | P | US); // read-only leaf
    expect(code(tr(env, { pasid: 1, write: true }))).toEqual([0x85, 1]);
    expect(code(tr(env, { pasid: 1, write: true, priv: true }))).toEqual([0x85, 1]); // WPE set
  });

  it('bare first-stage walk applies the PASID-entry request checks', () => {
    const { env } = setup();
    const req = { root: 0x10000n, levels: 4 as const, iova: IOVA };
    expect(refFirstStageWalk(env, req)).toMatchObject({ ok: true, address: 0x80678n });
    expect(code(refFirstStageWalk(env, { ...req, priv: true }))).toEqual([0x5d, undefined]);
    expect(code(refFirstStageWalk(env, { ...req, exec: true }))).toEqual([0x5c, undefined]);
    expect(code(refFirstStageWalk({ ...env, caps: resolveCaps({ srs: false }) }, { ...req, priv: true, sre: true }))).toEqual([0x5d, undefined]);
  });
});
