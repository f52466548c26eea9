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
  // Decoded since the tunnel/encapsulation work (src/parse/link.ts); names as libpcap's.
  9: 'PPP',
  50: 'PPP_SERIAL',
  104: 'C_HDLC',
  105: 'IEEE802_11',
  127: 'IEEE802_11_RADIO',
  149: 'USER2',
  178: 'JUNIPER_ETHER',
  239: 'NFLOG',
  258: 'PKTAP',
};

/** Short name as tcpdump prints it (`EN10MB`, `LINUX_SLL2`), or `LINKTYPE_<n>`. */
export function linkTypeName(linkType: number): string {
  return NAMES[linkType] ?? `LINKTYPE_${linkType}`;
}
