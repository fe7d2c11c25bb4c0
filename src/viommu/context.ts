/** What the register model's parts share: the unit they drive, the registers, hooks and tracing. */
import type { Caches } from '../caches.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { Caps } from '../spec/caps.js';
import type { RegisterFile } from './register-file.js';

/** The translation unit as the register model drives it (implemented by Vtd). */
export interface VtdLink {
  readonly memory: GuestMemory;
  readonly caps: Readonly<Caps>;
  readonly caches: Caches;
  /** The root table in use while translation is enabled with a valid TTM. */
  readonly root: { address: bigint; scalable: boolean } | undefined;
  /** SRTP: latch the root-table address and TTM (drops every cached entry). */
  latchRootTable(address: bigint, ttm: number): void;
  /** GCMD.TE (drops every cached entry). */
  setTranslationEnabled(on: boolean): void;
}

/** A trace event: `name` after QEMU's intel_iommu trace events where one exists. */
export type TraceFn = (name: string, args: Readonly<Record<string, unknown>>) => void;

/** An interrupt message the unit sends (fault event or invalidation completion event). */
export type InterruptFn = (address: bigint, data: number) => void;

export interface ContextInvalidation {
  granularity: 'global' | 'domain' | 'device';
  did: number;
  sid: number;
  fm: number;
  /** Queued invalidation or the CCMD register. */
  source: 'queue' | 'register';
}

export interface IotlbInvalidation {
  granularity: 'global' | 'domain' | 'page';
  did: number;
  addr: bigint;
  am: number;
  ih: boolean;
  source: 'queue' | 'register';
}

export interface PasidCacheInvalidation {
  granularity: 'domain' | 'pasid' | 'global';
  did: number;
  pasid: number;
}

export interface PasidIotlbInvalidation {
  granularity: 'pasid' | 'page';
  did: number;
  pasid: number;
  addr: bigint;
  am: number;
  ih: boolean;
}

export interface DeviceTlbInvalidation {
  sid: number;
  /** Set for the PASID-based device-TLB descriptor (unless `global`). */
  pasid?: number;
  /** Every PASID of the device (PASID-based descriptor with G = 1). */
  global: boolean;
  addr: bigint;
  bytes: bigint;
}

export interface TranslationChange {
  cause: 'srtp' | 'te';
  enabled: boolean;
  /** The latched root table: RTA and TTM (0 legacy, 1 scalable). */
  rootTable: { address: bigint; ttm: number };
}

/**
 * Extension points, called after the unit did its own work. A hook of an invalidation
 * descriptor may throw or return an Error: the descriptor then fails like an invalid one
 * (FSTS.IQE, IQH left on it). Errors of register-triggered hooks are only traced.
 */
export interface ViommuHooks {
  contextCacheInvalidated?(info: ContextInvalidation): void | Error;
  pasidCacheInvalidated?(info: PasidCacheInvalidation): void | Error;
  iotlbInvalidated?(info: IotlbInvalidation): void | Error;
  pasidIotlbInvalidated?(info: PasidIotlbInvalidation): void | Error;
  deviceTlbInvalidated?(info: DeviceTlbInvalidation): void | Error;
  translationChanged?(info: TranslationChange): void | Error;
}

export interface UnitContext {
  readonly vtd: VtdLink;
  readonly regs: RegisterFile;
  readonly hooks: ViommuHooks;
  /**
   * The unit's own extensions (the host bind path), run before `hooks`: they are part of the
   * unit's work, so an embedder replacing `vtd.mmio.hooks` does not remove them.
   */
  readonly internalHooks: ViommuHooks;
  /** An onTrace hook is installed (hot paths skip building trace arguments otherwise). */
  readonly tracing: boolean;
  trace: TraceFn;
  interrupt: InterruptFn;
}

/**
 * Run a hook: the unit's internal one, then the embedder's (both run). Returns the first
 * thrown or returned error, if any.
 */
export function callHook<K extends keyof ViommuHooks>(
  ctx: UnitContext, name: K, info: Parameters<NonNullable<ViommuHooks[K]>>[0],
): Error | undefined {
  const a = runHook(ctx.internalHooks, name, info);
  const b = runHook(ctx.hooks, name, info);
  return a ?? b;
}

/** Run one hook object's `name`; its thrown or returned error, if any. */
export function runHook<K extends keyof ViommuHooks>(
  hooks: ViommuHooks, name: K, info: Parameters<NonNullable<ViommuHooks[K]>>[0],
): Error | undefined {
  const fn = hooks[name] as ((i: typeof info) => void | Error) | undefined;
  if (fn === undefined) return undefined;
  try {
    const r = fn.call(hooks, info);
    if (r instanceof Error) return r;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
  return undefined;
}
