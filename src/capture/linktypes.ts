/** LINKTYPE_* values used by flowdemux (https://www.tcpdump.org/linktypes.html). */
export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  RAW_12: 12, // DLT_RAW on some BSDs
  RAW_14: 14, // DLT_RAW on OpenBSD
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const NAMES: Record<number, string> = {
  0: 'NULL',
  1: 'EN10MB',
  12: 'RAW',
  14: 'RAW',
  101: 'RAW',
  108: 'LOOP',
  113: 'LINUX_SLL',
  228: 'IPV4',
  229: 'IPV6',
  276: 'LINUX_SLL2',
};

/** Short name as tcpdump prints it (`EN10MB`, `LINUX_SLL2`), or `LINKTYPE_<n>`. */
export function linkTypeName(linkType: number): string {
  return NAMES[linkType] ?? `LINKTYPE_${linkType}`;
}
