export { Vtd, type VtdOptions } from './vtd.js';
export { TranslationBatch, NO_PASID, BatchFlag } from './batch.js';
export { GuestMemory, MAX_GUEST_RAM, type Region, type RegionSpec } from './memory/guest-memory.js';
export { VtdError, VtdArgumentError, VtdMemoryError, VtdLoadError } from './errors.js';
export { DEFAULT_CAPS, CapsError, resolveCaps, type Caps } from './spec/caps.js';
export { FaultReason, FAULT_DESCRIPTIONS, faultName, type FaultName } from './spec/faults.js';
export type { TranslateRequest, TranslateResult, TranslateOk, TranslateFault, FaultInfo, FirstStageWalkRequest } from './types.js';
export type { WasmSource } from './wasm/core.js';
export * from './guest/index.js';
