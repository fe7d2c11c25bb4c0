/**
 * The VT-d register file (VT-d spec ch. 11, "Register Descriptions"): offsets, bit fields and
 * the read/write behaviour of every bit (RW, RO, RW1C, write-only), and CAP/ECAP as computed
 * from the unit's capabilities. The register model (src/viommu/) and the guest-driver tests
 * both use these definitions, so a field position lives in exactly one place.
 *
 * Bit positions were checked against the Linux driver's accessors
 * (drivers/iommu/intel/iommu.h: cap_*, ecap_*) and QEMU's intel_iommu_internal.h.
 */
import type { Caps } from './caps.js';

/** Register offsets. IVA/IOTLB sit at ECAP.IRO, the fault-recording registers at CAP.FRO. */
export const Reg = {
  VER: 0x000,
  CAP: 0x008,
  ECAP: 0x010,
  GCMD: 0x018,
  GSTS: 0x01c,
  RTADDR: 0x020,
  CCMD: 0x028,
  FSTS: 0x034,
  FECTL: 0x038,
  FEDATA: 0x03c,
  FEADDR: 0x040,
  FEUADDR: 0x044,
  IQH: 0x080,
  IQT: 0x088,
  IQA: 0x090,
  ICS: 0x09c,
  IECTL: 0x0a0,
  IEDATA: 0x0a4,
  IEADDR: 0x0a8,
  IEUADDR: 0x0ac,
  IQERCD: 0x0b0,
  /** IVA (invalidate address) at IRO, IOTLB_REG at IRO + 8. */
  IVA: 0x0f0,
  IOTLB: 0x0f8,
  /** First fault-recording register (128 bits each). */
  FRCD: 0x220,
} as const;

/** VER_REG: major 1, minor 0 (as QEMU; a major version >= 6 would say register-based invalidation is gone). */
export const VER_VALUE = 0x10;

/** Global command (GCMD, write-only) and status (GSTS, read-only) bits: same positions. */
export const Gcmd = {
  TE: 0x8000_0000,
  SRTP: 0x4000_0000,
  SFL: 1 << 29,
  EAFL: 1 << 28,
  WBF: 1 << 27,
  QIE: 1 << 26,
  IRE: 1 << 25,
  SIRTP: 1 << 24,
  CFI: 1 << 23,
} as const;
export const Gsts = {
  TES: 0x8000_0000,
  RTPS: 0x4000_0000,
  FLS: 1 << 29,
  AFLS: 1 << 28,
  WBFS: 1 << 27,
  QIES: 1 << 26,
  IRES: 1 << 25,
  IRTPS: 1 << 24,
  CFIS: 1 << 23,
} as const;

/** RTADDR: RTA 63:12, TTM 11:10 (00 legacy, 01 scalable, 10 reserved, 11 abort-DMA). */
export const Rtaddr = {
  RTA: 0xffff_ffff_ffff_f000n,
  TTM_SHIFT: 10n,
  TTM: 0xc00n,
} as const;
export const Ttm = { LEGACY: 0, SCALABLE: 1, RESERVED: 2, ABORT_DMA: 3 } as const;

/** CCMD: ICC 63, CIRG 62:61, CAIG 60:59, FM 33:32, SID 31:16, DID 15:0. */
export const Ccmd = {
  ICC: 1n << 63n,
  CIRG_SHIFT: 61n,
  CAIG_SHIFT: 59n,
  CAIG: 3n << 59n,
  FM_SHIFT: 32n,
  SID_SHIFT: 16n,
} as const;

/** IOTLB_REG: IVT 63, IIRG 61:60, IAIG 58:57, DR 49, DW 48, DID 47:32. IVA: ADDR 63:12, IH 6, AM 5:0. */
export const IotlbReg = {
  IVT: 1n << 63n,
  IIRG_SHIFT: 60n,
  IAIG_SHIFT: 57n,
  IAIG: 3n << 57n,
  DR: 1n << 49n,
  DW: 1n << 48n,
  DID_SHIFT: 32n,
} as const;
export const Iva = { ADDR: 0xffff_ffff_ffff_f000n, IH: 1n << 6n, AM: 0x3fn } as const;

/** FSTS: PFO 0 (RW1C), PPF 1 (RO), IQE 4, ICE 5, ITE 6 (RW1C), FRI 15:8 (RO). */
export const Fsts = {
  PFO: 1 << 0,
  PPF: 1 << 1,
  IQE: 1 << 4,
  ICE: 1 << 5,
  ITE: 1 << 6,
  FRI_SHIFT: 8,
  FRI: 0xff00,
} as const;

/** FECTL / IECTL: IM 31 (RW, set at reset), IP 30 (RO). */
export const EventCtl = { IM: 0x8000_0000, IP: 0x4000_0000 } as const;

/** ICS: IWC 0 (RW1C). */
export const Ics = { IWC: 1 } as const;

/** IQA: IQA 63:12, DW 11 (256-bit descriptors; only with ECAP.SMTS), QS 2:0 (4 KiB * 2^QS). */
export const Iqa = { ADDR: 0xffff_ffff_ffff_f000n, DW: 1n << 11n, QS: 7n } as const;

/** IQH / IQT: the queue offset in bits 18:4 (16-byte units; bit 4 must be 0 with 256-bit descriptors). */
export const QUEUE_OFFSET_MASK = 0x7fff0n;

/** IQERCD.IQEI (bits 3:0): why FSTS.IQE was set. */
export const Iqei = {
  INFO_NOT_AVAILABLE: 0,
  INVALID_TAIL: 1,
  FETCH_ERROR: 2,
  INVALID_TYPE: 3,
  RESERVED_FIELD: 4,
  INVALID_WIDTH: 5,
  TAIL_MISALIGNED: 6,
  INVALID_TTM: 7,
} as const;

/**
 * A fault-recording register (128 bits). lo (63:0): FI 63:12. hi (127:64): SID 79:64, T2 92,
 * PRIV 93, EXE 94, PP 95, FR 103:96, PV 123:104, AT 125:124, T1 126 (1 = read), F 127 (RW1C).
 */
export const Frcd = {
  FI: 0xffff_ffff_ffff_f000n,
  SID: 0xffffn,
  T2: 1n << 28n,
  PRIV: 1n << 29n,
  EXE: 1n << 30n,
  PP: 1n << 31n,
  FR_SHIFT: 32n,
  PV_SHIFT: 40n,
  AT_SHIFT: 60n,
  T1: 1n << 62n,
  F: 1n << 63n,
} as const;

/** CAP_REG fields (shifts). */
export const CapField = {
  ND: 0, AFL: 3, RWBF: 4, PLMR: 5, PHMR: 6, CM: 7, SAGAW: 8, MGAW: 16, ZLR: 22, FRO: 24, SSLPS: 34,
  PSI: 39, NFR: 40, MAMV: 48, DWD: 54, DRD: 55, FS1GP: 56, PI: 59, FS5LP: 60, ECMDS: 61, ESIRTPS: 62, ESRTPS: 63,
} as const;

/** ECAP_REG fields (shifts). */
export const EcapField = {
  C: 0, QI: 1, DT: 2, IR: 3, EIM: 4, PT: 6, SC: 7, IRO: 8, MHMV: 20, MTS: 25, NEST: 26, PRS: 29, ERS: 30,
  SRS: 31, NWFS: 33, EAFS: 34, PSS: 35, PASID: 40, DIT: 41, PDS: 42, SMTS: 43, VCS: 44, SSADS: 45, SSTS: 46,
  FSTS: 47, SMPWCS: 48, RPS: 49, ADMS: 52, RPRIVS: 53,
} as const;

/** Domain-id width: CAP.ND = 6 (16-bit DIDs). */
export const CAP_ND = 6;
/** Largest AM of a page-selective invalidation (CAP.MAMV), as QEMU. */
export const MAMV = 18;

const bit = (on: boolean, shift: number): bigint => (on ? 1n << BigInt(shift) : 0n);
const field = (v: number, shift: number): bigint => BigInt(v) << BigInt(shift);

/** CAP_REG for a unit with these capabilities and `faultRecords` fault-recording registers. */
export function capValue(caps: Readonly<Caps>, faultRecords: number): bigint {
  return (
    field(CAP_ND, CapField.ND) |
    bit(caps.cachingMode, CapField.CM) |
    field(caps.sagaw, CapField.SAGAW) |
    field(caps.mgaw - 1, CapField.MGAW) |
    field(Reg.FRCD / 16, CapField.FRO) |
    field(caps.sslps, CapField.SSLPS) |
    bit(true, CapField.PSI) |
    field(faultRecords - 1, CapField.NFR) |
    field(MAMV, CapField.MAMV) |
    bit(true, CapField.DWD) |
    bit(true, CapField.DRD) |
    bit(caps.smts && caps.fsts && caps.fs1gp, CapField.FS1GP) |
    bit(caps.smts && caps.fsts && caps.fs5lp, CapField.FS5LP) |
    // SRTP drops every cached translation (ESRTPS): software need not invalidate after it.
    bit(true, CapField.ESRTPS)
  );
}

/** ECAP_REG for a unit with these capabilities. Scalable-mode features only with SMTS. */
export function ecapValue(caps: Readonly<Caps>): bigint {
  const sm = caps.smts;
  return (
    bit(true, EcapField.C) | // walks read guest memory directly: always coherent
    bit(true, EcapField.QI) |
    bit(caps.dt, EcapField.DT) |
    bit(caps.pt, EcapField.PT) |
    bit(true, EcapField.SC) | // SNP (second-stage bit 11) and PGSNP are accepted
    field(Reg.IVA / 16, EcapField.IRO) |
    bit(sm && caps.nest, EcapField.NEST) |
    bit(sm && caps.ers, EcapField.ERS) |
    bit(sm && caps.srs, EcapField.SRS) |
    bit(sm && caps.fsts, EcapField.EAFS) | // EAFE is honoured by the first-stage walk
    (sm ? field(caps.pss, EcapField.PSS) : 0n) |
    bit(sm, EcapField.PASID) |
    bit(sm, EcapField.SMTS) |
    bit(sm && caps.ssts, EcapField.SSTS) |
    bit(sm && caps.fsts, EcapField.FSTS) |
    bit(sm, EcapField.SMPWCS) |
    bit(sm && caps.rps, EcapField.RPS) |
    bit(sm && caps.rps, EcapField.RPRIVS)
  );
}

/** How one register's bits behave. Bits in none of the masks are read-only (or reserved: read 0). */
export interface RegisterDef {
  name: string;
  offset: number;
  size: 4 | 8;
  /** Value at reset. */
  reset: bigint;
  /** Bits software can write. */
  rw: bigint;
  /** Write-1-to-clear status bits. */
  rw1c: bigint;
  /** Write-only bits: they read as 0. */
  wo: bigint;
}

export interface LayoutOptions {
  caps: Readonly<Caps>;
  /** Number of fault-recording registers (CAP.NFR + 1). */
  faultRecords: number;
}

const def = (name: string, offset: number, size: 4 | 8, m: Partial<Omit<RegisterDef, 'name' | 'offset' | 'size'>> = {}): RegisterDef => ({
  name, offset, size, reset: m.reset ?? 0n, rw: m.rw ?? 0n, rw1c: m.rw1c ?? 0n, wo: m.wo ?? 0n,
});

/** Every implemented register; any other offset reads 0 and ignores writes. */
export function registerLayout(o: LayoutOptions): RegisterDef[] {
  const { caps } = o;
  const gcmdRw = BigInt(Gcmd.TE + Gcmd.SRTP + Gcmd.QIE);
  const fstsRw1c = BigInt(Fsts.PFO | Fsts.IQE | (caps.dt ? Fsts.ICE | Fsts.ITE : 0));
  const im = BigInt(EventCtl.IM);
  const defs: RegisterDef[] = [
    def('VER', Reg.VER, 4, { reset: BigInt(VER_VALUE) }),
    def('CAP', Reg.CAP, 8, { reset: capValue(caps, o.faultRecords) }),
    def('ECAP', Reg.ECAP, 8, { reset: ecapValue(caps) }),
    def('GCMD', Reg.GCMD, 4, { rw: gcmdRw, wo: gcmdRw }),
    def('GSTS', Reg.GSTS, 4),
    def('RTADDR', Reg.RTADDR, 8, { rw: Rtaddr.RTA | Rtaddr.TTM }),
    def('CCMD', Reg.CCMD, 8, { rw: Ccmd.ICC | (3n << Ccmd.CIRG_SHIFT) | (3n << Ccmd.FM_SHIFT) | 0xffff_ffffn }),
    def('FSTS', Reg.FSTS, 4, { rw1c: fstsRw1c }),
    def('FECTL', Reg.FECTL, 4, { reset: im, rw: im }),
    def('FEDATA', Reg.FEDATA, 4, { rw: 0xffffn }),
    def('FEADDR', Reg.FEADDR, 4, { rw: 0xffff_fffcn }),
    def('FEUADDR', Reg.FEUADDR, 4, { rw: 0xffff_ffffn }),
    def('IQH', Reg.IQH, 8),
    def('IQT', Reg.IQT, 8, { rw: QUEUE_OFFSET_MASK }),
    def('IQA', Reg.IQA, 8, { rw: Iqa.ADDR | (caps.smts ? Iqa.DW : 0n) | Iqa.QS }),
    def('ICS', Reg.ICS, 4, { rw1c: BigInt(Ics.IWC) }),
    def('IECTL', Reg.IECTL, 4, { reset: im, rw: im }),
    def('IEDATA', Reg.IEDATA, 4, { rw: 0xffffn }),
    def('IEADDR', Reg.IEADDR, 4, { rw: 0xffff_fffcn }),
    def('IEUADDR', Reg.IEUADDR, 4, { rw: 0xffff_ffffn }),
    def('IQERCD', Reg.IQERCD, 8),
    def('IVA', Reg.IVA, 8, { rw: Iva.ADDR | Iva.IH | Iva.AM }),
    def('IOTLB', Reg.IOTLB, 8, {
      rw: IotlbReg.IVT | (3n << IotlbReg.IIRG_SHIFT) | IotlbReg.DR | IotlbReg.DW | (0xffffn << IotlbReg.DID_SHIFT),
    }),
  ];
  for (let i = 0; i < o.faultRecords; i++) {
    defs.push(def(`FRCD${i}_LO`, frcdOffset(i), 8));
    defs.push(def(`FRCD${i}_HI`, frcdOffset(i) + 8, 8, { rw1c: Frcd.F }));
  }
  return defs;
}

/** Offset of fault-recording register `i` (its low qword). */
export const frcdOffset = (i: number): number => Reg.FRCD + 16 * i;

/** Bytes the register file spans (a multiple of 4 KiB). */
export function registerFileSize(faultRecords: number): number {
  const end = frcdOffset(faultRecords);
  return Math.ceil(end / 0x1000) * 0x1000;
}

/** Maximum number of fault-recording registers (CAP.NFR is 8 bits). */
export const MAX_FAULT_RECORDS = 256;
