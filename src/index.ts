export { Vtd, type VtdOptions } from './vtd.js';
export { TranslationBatch, NO_PASID, BatchFlag } from './batch.js';
export { GuestMemory, MAX_GUEST_RAM, type Region, type RegionSpec } from './memory/guest-memory.js';
export { VtdError, VtdArgumentError, VtdMemoryError, VtdLoadError } from './errors.js';
export { DEFAULT_CAPS, CapsError, resolveCaps, type Caps } from './spec/caps.js';
export { FaultReason, FAULT_DESCRIPTIONS, faultName, type FaultName } from './spec/faults.js';
export type { TranslateRequest, TranslateResult, TranslateOk, TranslateFault, FaultInfo, FirstStageWalkRequest } from './types.js';
export type { WasmSource } from './wasm/core.js';
export * from './guest/index.js';
export { Caches, type CacheOptions, type CacheSizes, type CacheStats } from './caches.js';
export { explainTranslation, formatExplanation, type Explanation, type ExplainedStep, type ExplainedField } from './explain.js';
export {
  Viommu, DEFAULT_FAULT_RECORDS, QUALIFIED_FAULTS,
  type ViommuOptions, type ViommuHooks, type VtdFaultRecord, type TraceFn, type InterruptFn, type ContextInvalidation,
  type IotlbInvalidation, type PasidCacheInvalidation, type PasidIotlbInvalidation, type DeviceTlbInvalidation, type TranslationChange,
} from './viommu/index.js';
export * from './spec/registers.js';
export * from './spec/descriptors.js';
export * from './backend/index.js';
export { Tracer, type TraceListener, type VtdEventMap, type VtdEventName } from './trace.js';
export {
  HostBinding, HostBindError, HostDeviceError, s1DataOf,
  type Binding, type BindFailure, type BindMode, type BindOp, type DeviceTlbInvalidatingBackend, type HostBindingOptions,
  type HostDevice, type HostDeviceErrorCode, type HostDeviceOptions, type RamRegion, type SyncScope,
} from './viommu/host/index.js';
