/**
 * The guest's PASID entries as the bind path reads them: straight from guest memory (never
 * from the WASM PASID cache), with the same checks the translation contract makes
 * (docs/semantics.md §1-§4, implemented once in src/reference): an entry the vIOMMU would
 * fault on (not present, reserved bits, unsupported PGTT/AW/FSPM, PASIDE clear, beyond PDTS,
 * a structure outside RAM) is "absent" here.
 */
import type { GuestMemory } from '../../memory/guest-memory.js';
import { PTR_MASK } from '../../reference/bits.js';
import { lookupContext } from '../../reference/context.js';
import type { RefEnv } from '../../reference/env.js';
import type { RefMemory } from '../../reference/memory.js';
import { lookupPasidEntry } from '../../reference/pasid.js';
import type { Caps } from '../../spec/caps.js';

/** The unit as the bind path sees it (implemented by Vtd). */
export interface BindUnit {
  readonly memory: GuestMemory;
  readonly caps: Readonly<Caps>;
  /** The root table in use while translation is enabled with a valid TTM. */
  readonly root: { address: bigint; scalable: boolean } | undefined;
  /** GSTS.TES. */
  readonly translationEnabled: boolean;
}

/**
 * What host devices get, by the unit's translation state:
 * - `translate`: DMA remapping on in scalable mode — the guest's PASID entries decide;
 * - `default`: remapping off, or the guest uses legacy mode — the RID gets the default
 *   stage 2 (GPA identity), PASIDs nothing;
 * - `blocked`: remapping on with an unsupported TTM (every request faults 0x30) — nothing.
 */
export type BindMode = 'translate' | 'default' | 'blocked';

export function bindMode(unit: BindUnit): BindMode {
  if (!unit.translationEnabled) return 'default';
  const root = unit.root;
  if (root === undefined) return 'blocked';
  return root.scalable ? 'translate' : 'default';
}

/** A valid guest PASID entry. */
export interface GuestPasidEntry {
  /** The 512-bit entry, 8 little-endian qwords. */
  raw: readonly bigint[];
  /** DID (bits 79:64). */
  did: number;
  /** PGTT (bits 8:6). */
  pgtt: number;
}

/** The guest's context and PASID tables, read through one root table. */
export class GuestTables {
  private readonly env: RefEnv;
  private readonly mem: RefMemory;

  constructor(unit: BindUnit, rootAddress: bigint) {
    const gm = unit.memory;
    this.mem = {
      read64: (gpa) => (gpa >= 0n && gm.contains(gpa, 8) ? gm.readU64(gpa) : undefined),
      write64: () => {
        throw new Error('internal: the bind path never writes guest tables');
      },
      spanInside: (gpa, bytes) => gpa >= 0n && gm.contains(gpa, bytes),
    };
    this.env = { mem: this.mem, caps: unit.caps as Caps, te: true, scalable: true, rtaddr: rootAddress };
  }

  /**
   * The entry for (sid, pasid) as the vIOMMU would use it: PASID 0 is what requests without
   * PASID use (no RID_PASID: host devices need caps.rps off); other PASIDs need PASIDE and a
   * directory large enough (PDTS). Undefined when the vIOMMU would fault.
   */
  entry(sid: number, pasid: number): GuestPasidEntry | undefined {
    const ctx = lookupContext(this.env, pasid === 0 ? { sid, iova: 0n } : { sid, pasid, iova: 0n });
    if (!ctx.ok) return undefined;
    const pe = lookupPasidEntry(this.env, ctx.pasidDirPtr, pasid);
    if (!pe.ok) return undefined;
    const de = this.mem.read64(ctx.pasidDirPtr + BigInt(pasid >> 6) * 8n)!;
    const at = (de & PTR_MASK) + BigInt(pasid & 63) * 64n;
    const raw: bigint[] = [];
    for (let i = 0; i < 8; i++) raw.push(this.mem.read64(at + BigInt(8 * i))!);
    return { raw, did: Number(raw[1]! & 0xffffn), pgtt: pe.pgtt };
  }

  /**
   * PASIDs below `limit` whose directory entry and PASID entry have P set (candidates for
   * `entry`, which makes the real checks), bounded by the context entry's PDTS; only PASID 0
   * when PASIDE is clear. Ascending.
   */
  presentPasids(sid: number, limit: number): number[] {
    const ce = this.contextQ0(sid);
    if (ce === undefined) return [];
    const dirPtr = ce & PTR_MASK;
    const paside = (ce & 8n) !== 0n;
    const dirEntries = 2 ** (Number((ce >> 9n) & 7n) + 7);
    const dirs = paside ? Math.min(dirEntries, Math.ceil(limit / 64)) : 1;
    const out: number[] = [];
    for (let d = 0; d < dirs; d++) {
      const de = this.mem.read64(dirPtr + BigInt(d) * 8n);
      if (de === undefined || (de & 1n) === 0n) continue;
      const ptp = de & PTR_MASK;
      for (let i = 0; i < 64; i++) {
        const pasid = d * 64 + i;
        if (pasid >= limit || (pasid !== 0 && !paside)) break;
        const q0 = this.mem.read64(ptp + BigInt(i) * 64n);
        if (q0 !== undefined && (q0 & 1n) !== 0n) out.push(pasid);
      }
    }
    return out;
  }

  /** q0 of sid's scalable-mode context entry when the root and context entries pass their checks. */
  private contextQ0(sid: number): bigint | undefined {
    const ctx = lookupContext(this.env, { sid, iova: 0n });
    if (!ctx.ok) return undefined;
    const bus = (sid >> 8) & 0xff, devfn = sid & 0xff;
    const re = this.mem.read64((this.env.rtaddr & PTR_MASK) + BigInt(bus * 16) + (devfn < 128 ? 0n : 8n))!;
    return this.mem.read64((re & PTR_MASK) + BigInt((devfn & 127) * 32));
  }
}
