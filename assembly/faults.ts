// VT-d fault reasons (FR field of a fault record). Same values as src/spec/faults.ts
// (test/spec-sync.test.ts checks the two lists agree).

// legacy mode
export const FR_ROOT_ENTRY_P: u32 = 0x1;
export const FR_CONTEXT_ENTRY_P: u32 = 0x2;
export const FR_CONTEXT_ENTRY_INV: u32 = 0x3;
export const FR_ADDR_BEYOND_MGAW: u32 = 0x4;
export const FR_WRITE: u32 = 0x5;
export const FR_READ: u32 = 0x6;
export const FR_PAGING_ENTRY_INV: u32 = 0x7;
export const FR_ROOT_TABLE_INV: u32 = 0x8;
export const FR_CONTEXT_TABLE_INV: u32 = 0x9;
export const FR_ROOT_ENTRY_RSVD: u32 = 0xa;
export const FR_CONTEXT_ENTRY_RSVD: u32 = 0xb;
export const FR_PAGING_ENTRY_RSVD: u32 = 0xc;
export const FR_INTERRUPT_ADDR: u32 = 0xe;
// scalable mode
export const FR_SM_TTM_LEGACY_WITH_PASID: u32 = 0x31;
export const FR_SM_ROOT_ENTRY_ACCESS: u32 = 0x38;
export const FR_SM_ROOT_ENTRY_P: u32 = 0x39;
export const FR_SM_ROOT_ENTRY_RSVD: u32 = 0x3a;
export const FR_SM_CONTEXT_ENTRY_ACCESS: u32 = 0x40;
export const FR_SM_CONTEXT_ENTRY_P: u32 = 0x41;
export const FR_SM_CONTEXT_ENTRY_RSVD: u32 = 0x42;
export const FR_SM_CONTEXT_PASIDE: u32 = 0x45;
export const FR_SM_PASID_BEYOND_PDTS: u32 = 0x46;
export const FR_SM_RID_PASID_ERR: u32 = 0x48;
export const FR_SM_PASID_DIR_ACCESS: u32 = 0x50;
export const FR_SM_PASID_DIR_ENTRY_P: u32 = 0x51;
export const FR_SM_PASID_DIR_ENTRY_RSVD: u32 = 0x52;
export const FR_SM_PASID_ENTRY_ACCESS: u32 = 0x58;
export const FR_SM_PASID_ENTRY_P: u32 = 0x59;
export const FR_SM_PASID_ENTRY_RSVD: u32 = 0x5a;
export const FR_SM_PASID_ENTRY_INV: u32 = 0x5b;
export const FR_SM_PASID_ENTRY_ERE: u32 = 0x5c;
export const FR_SM_PASID_ENTRY_SRE: u32 = 0x5d;
export const FR_FS_ENTRY_ACCESS: u32 = 0x70;
export const FR_FS_ENTRY_P: u32 = 0x71;
export const FR_FS_ENTRY_RSVD: u32 = 0x72;
export const FR_FS_FSPTPTR_ACCESS: u32 = 0x73;
export const FR_NESTED_FS_ADDR_BEYOND_SS: u32 = 0x74;
export const FR_NESTED_FS_TOP_TABLE_READ: u32 = 0x75;
export const FR_NESTED_FS_TABLE_READ: u32 = 0x76;
export const FR_NESTED_FS_AD_WRITE: u32 = 0x77;
export const FR_SS_ENTRY_ACCESS: u32 = 0x78;
export const FR_SS_PERMISSION: u32 = 0x79;
export const FR_SS_ENTRY_RSVD: u32 = 0x7a;
export const FR_SS_SSPTPTR_ACCESS: u32 = 0x7b;
export const FR_FS_NON_CANONICAL: u32 = 0x80;
export const FR_FS_US: u32 = 0x81;
export const FR_SM_EXECUTE: u32 = 0x82;
export const FR_SM_ADDR_BEYOND_MAX: u32 = 0x83;
export const FR_SM_WRITE: u32 = 0x85;
export const FR_SM_READ: u32 = 0x86;
export const FR_SM_INTERRUPT_ADDR: u32 = 0x87;
