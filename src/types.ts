/** The request and result shapes shared by the WASM core's wrapper and the reference walker. */

/** A DMA request as the IOMMU sees it. */
export interface TranslateRequest {
  /** Source-id: bus << 8 | devfn. */
  sid: number;
  /** PASID (20 bits) of a request-with-PASID; omit for a request without PASID. */
  pasid?: number;
  /** Input address (IOVA). */
  iova: bigint;
  write?: boolean;
  exec?: boolean;
  /** Supervisor (privileged) request. */
  priv?: boolean;
}

export interface FaultInfo {
  /** VT-d fault reason (FR), e.g. 0x71. */
  reason: number;
  /** Symbolic name, e.g. 'FS_ENTRY_P'. */
  name: string;
  /** Paging level where a page-walk fault arose (5..1); absent for root/context/PASID faults. */
  level?: number;
}

export interface TranslateOk {
  ok: true;
  address: bigint;
  pageSize: number;
  read: boolean;
  write: boolean;
  exec: boolean;
}

export interface TranslateFault {
  ok: false;
  fault: FaultInfo;
}

export type TranslateResult = TranslateOk | TranslateFault;

/** The bare first-stage walk: a table root and the PASID-entry bits that govern it. */
export interface FirstStageWalkRequest {
  root: bigint;
  levels: 4 | 5;
  iova: bigint;
  write?: boolean;
  exec?: boolean;
  priv?: boolean;
  sre?: boolean;
  wpe?: boolean;
  ere?: boolean;
  eafe?: boolean;
}
