/*
 * One socket by tuple, through NETLINK_SOCK_DIAG (what `ss` uses): shared by host.c's
 * sockLookup and the SYN watcher (syn-watch.c), each with its own netlink socket.
 */
#ifndef FLOWDEMUX_DIAG_H
#define FLOWDEMUX_DIAG_H
#include <linux/inet_diag.h>
#include <stdint.h>

/*
 * Asks the kernel for the socket of (src:sport, dst:dport), family 4 or 6, protocol 6 or 17, as
 * its lookups take them (see host.c). Returns 1 with *out filled, 0 when there is none, -1 on a
 * failed send or receive (errno set).
 */
int diag_lookup(int fd, uint8_t proto, int family, const void *src, uint16_t sport, const void *dst, uint16_t dport,
                struct inet_diag_msg *out);
#endif
