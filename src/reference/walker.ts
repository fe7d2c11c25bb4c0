/**
 * The pure-TypeScript reference walker: docs/semantics.md transcribed for clarity, not speed.
 * Compared against the WASM core by property tests, so it follows the contract literally.
 */
import { FaultReason as F } from '../spec/faults.js';
import type { FirstStageWalkRequest, TranslateRequest, TranslateResult } from '../types.js';
import { fault, identity, mask, outputCheck } from './bits.js';
import { lookupContext } from './context.js';
import type { RefEnv } from './env.js';
import { fsWalk, type TableXlate } from './first-stage.js';
import { legacyTranslate } from './legacy.js';
import { lookupPasidEntry, PGTT, requestChecks } from './pasid.js';
import { SS_NESTED_FINAL, SS_SCALABLE, ssNestedTable, ssWalk } from './second-stage.js';

export type { RefEnv } from './env.js';

/** Full DMA translation of one request (§0-§9). */
export function refTranslate(env: RefEnv, req: TranslateRequest): TranslateResult {
  const iova = BigInt.asUintN(64, req.iova);
  // §0: translation disabled is identity; no table is read, no output check.
  if (!env.te) return identity(iova);
  if (!env.scalable) return legacyTranslate(env, req, iova);

  const ctx = lookupContext(env, req);
  if (!ctx.ok) return ctx;
  const pe = lookupPasidEntry(env, ctx.pasidDirPtr, ctx.pasid);
  if (!pe.ok) return pe;
  const { priv, exec } = ctx;
  const write = !!req.write;

  switch (pe.pgtt) {
    case PGTT.PASS_THROUGH: {
      if ((iova & mask(63, env.caps.haw)) !== 0n) return fault(F.SM_ADDR_BEYOND_MAX);
      return outputCheck(identity(iova), F.SM_INTERRUPT_ADDR);
    }
    case PGTT.SECOND: {
      const ss = ssWalk(env, { root: pe.ssptptr, aw: pe.aw, address: iova, write, exec }, SS_SCALABLE);
      if (!ss.ok) return ss;
      const res = { ok: true as const, address: ss.address, pageSize: ss.pageSize, read: ss.r, write: ss.w, exec: ss.x };
      return outputCheck(res, F.SM_INTERRUPT_ADDR);
    }
    case PGTT.FIRST:
    case PGTT.NESTED: {
      const bad = requestChecks(env, { priv, exec, sre: pe.sre, ere: pe.ere });
      if (bad) return bad;
      const fsParams = { root: pe.fsptptr, levels: pe.levels, iova, write, exec, priv, wpe: pe.wpe, eafe: pe.eafe };
      if (pe.pgtt === PGTT.FIRST) return outputCheck(fsWalk(env, fsParams), F.SM_INTERRUPT_ADDR);

      // §7: every first-stage structure address goes through the second stage (as a read).
      const ss = (address: bigint, w: boolean, x: boolean, codes: Parameters<typeof ssWalk>[2]) =>
        ssWalk(env, { root: pe.ssptptr, aw: pe.aw, address, write: w, exec: x }, codes);
      const xlate: TableXlate = (gpa, top) => {
        const t = ss(gpa, false, false, ssNestedTable(top));
        return t.ok ? { ok: true, hpa: t.address, writable: t.w } : t;
      };
      const fs = fsWalk(env, fsParams, xlate);
      if (!fs.ok) return fs;
      // The final output GPA, with the request's access (A/D already written by §5.4).
      const out = ss(fs.address, write, exec, SS_NESTED_FINAL);
      if (!out.ok) return out;
      const res = {
        ok: true as const,
        address: out.address,
        pageSize: Math.min(fs.pageSize, out.pageSize),
        read: fs.read && out.r,
        write: fs.write && out.w,
        exec: fs.exec && out.x,
      };
      return outputCheck(res, F.SM_INTERRUPT_ADDR);
    }
    default:
      throw new Error(`unreachable: PGTT ${pe.pgtt} passed validation`);
  }
}

/** The bare first-stage walk (§5) with the PASID-entry request checks of §4 and §8's output check. */
export function refFirstStageWalk(env: RefEnv, req: FirstStageWalkRequest): TranslateResult {
  const priv = !!req.priv;
  const exec = !!req.exec;
  const bad = requestChecks(env, { priv, exec, sre: !!req.sre, ere: !!req.ere });
  if (bad) return bad;
  const res = fsWalk(env, {
    root: req.root,
    levels: req.levels,
    iova: BigInt.asUintN(64, req.iova),
    write: !!req.write,
    exec,
    priv,
    wpe: !!req.wpe,
    eafe: !!req.eafe,
  });
  return outputCheck(res, F.SM_INTERRUPT_ADDR);
}
