/**
 * The link types flowdemux knows: one definition of their numbers (LINKTYPE_* values of
 * https://www.tcpdump.org/linktypes.html, as pcap and pcapng files carry them) and of their
 * names (as tcpdump and libpcap print them). The decoders for them are keyed by these numbers
 * in src/parse/link.ts.
 */
export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  ARCNET_BSD: 7,
  PPP: 9,
  FDDI: 10,
  RAW_12: 12, // DLT_RAW on some BSDs
  RAW_14: 14, // DLT_RAW on OpenBSD
  PPP_SERIAL: 50,
  RAW: 101,
  C_HDLC: 104,
  IEEE802_11: 105,
  LOOP: 108,
  LINUX_SLL: 113,
  IEEE802_11_RADIOTAP: 127,
  ARCNET_LINUX: 129,
  USER2: 149, // PKTAP on Darwin (DLT_USER2)
  JUNIPER_ETHER: 178,
  IPV4: 228,
  IPV6: 229,
  NFLOG: 239,
  IPOIB: 242,
  PKTAP: 258,
  LINUX_SLL2: 276,
} as const;

const NAMES: Record<number, string> = {
  [LINKTYPE.NULL]: 'NULL',
  [LINKTYPE.ETHERNET]: 'EN10MB',
  [LINKTYPE.ARCNET_BSD]: 'ARCNET',
  [LINKTYPE.PPP]: 'PPP',
  [LINKTYPE.FDDI]: 'FDDI',
  [LINKTYPE.RAW_12]: 'RAW',
  [LINKTYPE.RAW_14]: 'RAW',
  [LINKTYPE.PPP_SERIAL]: 'PPP_SERIAL',
  [LINKTYPE.RAW]: 'RAW',
  [LINKTYPE.C_HDLC]: 'C_HDLC',
  [LINKTYPE.IEEE802_11]: 'IEEE802_11',
  [LINKTYPE.LOOP]: 'LOOP',
  [LINKTYPE.LINUX_SLL]: 'LINUX_SLL',
  [LINKTYPE.IEEE802_11_RADIOTAP]: 'IEEE802_11_RADIO',
  [LINKTYPE.ARCNET_LINUX]: 'ARCNET_LINUX',
  [LINKTYPE.USER2]: 'USER2',
  [LINKTYPE.JUNIPER_ETHER]: 'JUNIPER_ETHER',
  [LINKTYPE.IPV4]: 'IPV4',
  [LINKTYPE.IPV6]: 'IPV6',
  [LINKTYPE.NFLOG]: 'NFLOG',
  [LINKTYPE.IPOIB]: 'IPOIB',
  [LINKTYPE.PKTAP]: 'PKTAP',
  [LINKTYPE.LINUX_SLL2]: 'LINUX_SLL2',
};

/** Short name as tcpdump prints it (`EN10MB`, `LINUX_SLL2`), or `LINKTYPE_<n>`. */
export function linkTypeName(linkType: number): string {
  return NAMES[linkType] ?? `LINKTYPE_${linkType}`;
}
