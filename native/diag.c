#include "diag.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <string.h>
#include <sys/socket.h>

int diag_lookup(int fd, uint8_t proto, int family, const void *src, uint16_t sport, const void *dst, uint16_t dport,
                struct inet_diag_msg *out) {
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;
  msg.req.sdiag_family = family == 4 ? AF_INET : AF_INET6;
  msg.req.sdiag_protocol = proto;
  msg.req.idiag_states = ~0U;
  msg.req.id.idiag_sport = htons(sport);
  msg.req.id.idiag_dport = htons(dport);
  size_t alen = family == 4 ? 4 : 16;
  memcpy(msg.req.id.idiag_src, src, alen);
  memcpy(msg.req.id.idiag_dst, dst, alen);
  msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  if (sendto(fd, &msg, sizeof msg, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -1;
  long buf[1024];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n < 0) return -1;
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  /* An error message (ENOENT and the like): no such socket. */
  if (!NLMSG_OK(h, (size_t)n) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY) return 0;
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) return 0;
  memcpy(out, NLMSG_DATA(h), sizeof *out);
  return 1;
}
