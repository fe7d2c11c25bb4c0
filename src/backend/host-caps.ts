/**
 * The host VT-d unit behind a device, as the Intel driver sees it: raw CAP/ECAP registers
 * (what IOMMU_GET_HW_INFO reports) and the fields the driver tests (§4, intel/iommu.h
 * cap_* / ecap_* macros). `vtdHostRegs` builds registers from named fields; the simulation
 * decodes whatever registers it is given with `decodeHostCaps`, so both directions share
 * one bit table.
 */

/** CAP bit positions (intel/iommu.h). */
const CAP = {
  ND: [0n, 3n], // bits 2:0
  RWBF: [4n, 1n],
  CM: [7n, 1n],
  SAGAW: [8n, 5n], // bits 12:8
  MGAW: [16n, 6n], // bits 21:16, value + 1
  SLLPS: [34n, 4n], // bits 37:34
  PSI: [39n, 1n],
  FS1GP: [56n, 1n],
  FL5LP: [60n, 1n],
} as const;

/** ECAP bit positions (intel/iommu.h). */
const ECAP = {
  C: [0n, 1n],
  QI: [1n, 1n],
  DT: [2n, 1n],
  SC: [7n, 1n],
  NEST: [26n, 1n],
  PRS: [29n, 1n],
  SRS: [31n, 1n],
  EAFS: [34n, 1n],
  PSS: [35n, 5n], // bits 39:35
  PASID: [40n, 1n],
  PDS: [42n, 1n],
  SMTS: [43n, 1n],
  SLADS: [45n, 1n],
  SLTS: [46n, 1n],
  FLTS: [47n, 1n],
  SMPWC: [48n, 1n],
} as const;

const field = (reg: bigint, [pos, width]: readonly [bigint, bigint]): number => Number((reg >> pos) & ((1n << width) - 1n));
const put = (v: number | boolean, [pos, width]: readonly [bigint, bigint]): bigint => {
  const n = BigInt(typeof v === 'boolean' ? (v ? 1 : 0) : v);
  if (n < 0n || n >= 1n << width) throw new RangeError(`value ${n} does not fit a ${width}-bit register field`);
  return n << pos;
};

/** Named fields of a host VT-d unit (defaults: a scalable-mode unit with every nesting feature). */
export interface HostVtdFields {
  /** ECAP.SMTS: scalable mode. */
  sm: boolean;
  /** ECAP.PASID. */
  pasid: boolean;
  /** ECAP.PSS: PASID bits - 1 (19 = 20-bit PASIDs). */
  pss: number;
  /** ECAP.NEST: nested translation. */
  nest: boolean;
  /** ECAP.FLTS: first-stage translation. */
  flts: boolean;
  /** ECAP.SLTS: second-stage translation. */
  slts: boolean;
  /** ECAP.SLADS: second-stage accessed/dirty (dirty tracking, with smpwc). */
  slads: boolean;
  /** ECAP.SMPWC: page-walk coherency in scalable mode. */
  smpwc: boolean;
  /** ECAP.SRS: supervisor requests. */
  srs: boolean;
  /** ECAP.EAFS: extended accessed flag. */
  eafs: boolean;
  /** ECAP.SC: snoop control (IOMMU_CAP_ENFORCE_CACHE_COHERENCY). */
  sc: boolean;
  /** ECAP.PRS: page requests. */
  prs: boolean;
  /** ECAP.DT: device-TLB. */
  dt: boolean;
  /** ECAP.QI. */
  qi: boolean;
  /** ECAP.C (legacy-mode page-walk coherency). */
  coherent: boolean;
  /** CAP.FL5LP: 5-level first stage. */
  fl5lp: boolean;
  /** CAP.FS1GP: 1 GiB first-stage pages. */
  fs1gp: boolean;
  /** CAP.SLLPS: second-stage large pages (bit 0 = 2 MiB, bit 1 = 1 GiB). */
  sllps: number;
  /** CAP.SAGAW (bit 1 = 3-level, 2 = 4-level, 3 = 5-level). */
  sagaw: number;
  /** Maximum guest address width in bits (CAP.MGAW + 1). */
  mgaw: number;
  /** CAP.ND: 2^(4 + 2*nd) domain ids. */
  nd: number;
  /** CAP.CM: caching mode. */
  cm: boolean;
  /** CAP.RWBF: write-buffer flushing required. */
  rwbf: boolean;
}

export const DEFAULT_HOST_VTD: Readonly<HostVtdFields> = Object.freeze({
  sm: true,
  pasid: true,
  pss: 19,
  nest: true,
  flts: true,
  slts: true,
  slads: true,
  smpwc: true,
  srs: true,
  eafs: true,
  sc: true,
  prs: true,
  dt: true,
  qi: true,
  coherent: true,
  fl5lp: true,
  fs1gp: true,
  sllps: 0b11,
  sagaw: 0b0100,
  mgaw: 48,
  nd: 6,
  cm: false,
  rwbf: false,
});

export interface HostVtdRegs {
  capReg: bigint;
  ecapReg: bigint;
}

/** CAP/ECAP of a host unit: DEFAULT_HOST_VTD with `fields` over it. */
export function vtdHostRegs(fields: Partial<HostVtdFields> = {}): HostVtdRegs {
  const f: HostVtdFields = { ...DEFAULT_HOST_VTD, ...fields };
  const capReg =
    put(f.nd, CAP.ND) | put(f.rwbf, CAP.RWBF) | put(f.cm, CAP.CM) | put(f.sagaw, CAP.SAGAW) | put(f.mgaw - 1, CAP.MGAW) |
    put(f.sllps, CAP.SLLPS) | put(true, CAP.PSI) | put(f.fs1gp, CAP.FS1GP) | put(f.fl5lp, CAP.FL5LP);
  const ecapReg =
    put(f.coherent, ECAP.C) | put(f.qi, ECAP.QI) | put(f.dt, ECAP.DT) | put(f.sc, ECAP.SC) | put(f.nest, ECAP.NEST) |
    put(f.prs, ECAP.PRS) | put(f.srs, ECAP.SRS) | put(f.eafs, ECAP.EAFS) | put(f.pss, ECAP.PSS) | put(f.pasid, ECAP.PASID) |
    put(f.pasid, ECAP.PDS) | put(f.sm, ECAP.SMTS) | put(f.slads, ECAP.SLADS) | put(f.slts, ECAP.SLTS) |
    put(f.flts, ECAP.FLTS) | put(f.smpwc, ECAP.SMPWC);
  return { capReg, ecapReg };
}

/** What the Intel driver derives from CAP/ECAP (intel/iommu.h helpers). */
export interface HostCaps extends HostVtdFields {
  /** sm_supported && ECAP.PASID. */
  pasidSupported: boolean;
  /** sm_supported && ECAP.NEST. */
  nestedSupported: boolean;
  /** ssads_supported: sm && SLADS && SMPWC (IOMMU_CAP_DIRTY_TRACKING). */
  ssadsSupported: boolean;
  /** iommu_paging_structure_coherency: sm ? SMPWC : C. */
  pagingCoherent: boolean;
  /** iommu->iommu.max_pasids: 2 << PSS if PASIDs are supported, else 0. */
  maxPasids: number;
  /** cap_ndoms. */
  ndoms: number;
}

export function decodeHostCaps(regs: HostVtdRegs): HostCaps {
  const { capReg: c, ecapReg: e } = regs;
  const f: HostVtdFields = {
    sm: field(e, ECAP.SMTS) === 1,
    pasid: field(e, ECAP.PASID) === 1,
    pss: field(e, ECAP.PSS),
    nest: field(e, ECAP.NEST) === 1,
    flts: field(e, ECAP.FLTS) === 1,
    slts: field(e, ECAP.SLTS) === 1,
    slads: field(e, ECAP.SLADS) === 1,
    smpwc: field(e, ECAP.SMPWC) === 1,
    srs: field(e, ECAP.SRS) === 1,
    eafs: field(e, ECAP.EAFS) === 1,
    sc: field(e, ECAP.SC) === 1,
    prs: field(e, ECAP.PRS) === 1,
    dt: field(e, ECAP.DT) === 1,
    qi: field(e, ECAP.QI) === 1,
    coherent: field(e, ECAP.C) === 1,
    fl5lp: field(c, CAP.FL5LP) === 1,
    fs1gp: field(c, CAP.FS1GP) === 1,
    sllps: field(c, CAP.SLLPS) & 3,
    sagaw: field(c, CAP.SAGAW),
    mgaw: field(c, CAP.MGAW) + 1,
    nd: field(c, CAP.ND),
    cm: field(c, CAP.CM) === 1,
    rwbf: field(c, CAP.RWBF) === 1,
  };
  const pasidSupported = f.sm && f.pasid;
  return {
    ...f,
    pasidSupported,
    nestedSupported: f.sm && f.nest,
    ssadsSupported: f.sm && f.slads && f.smpwc,
    pagingCoherent: f.sm ? f.smpwc : f.coherent,
    maxPasids: pasidSupported ? 2 ** (f.pss + 1) : 0,
    ndoms: 1 << (4 + 2 * f.nd),
  };
}
