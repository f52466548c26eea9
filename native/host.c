/*
 * flowdemux's window on the Linux kernel where /proc is too slow or silent (Node has no
 * netlink or packet-socket options of its own):
 *
 * - sockLookup(proto, family, src, sport, dst, dport): the one socket the kernel holds for a
 *   tuple, through NETLINK_SOCK_DIAG (what `ss` uses). The tuple is passed as the kernel's
 *   lookup takes it: TCP with src = the socket's local end, UDP the other way round (udp_diag
 *   passes the request's src as the datagram's source). Returns [inode, uid, state, family,
 *   remote address, remote port, local address, local port] of the socket found, or null. The kernel looks the tuple up the way it delivers a
 *   packet (inet_diag_find_one / udp_dump_one), so a TCP tuple with no connection may answer
 *   with its listener, and a UDP tuple with the unconnected socket that would take it: the
 *   caller checks the remote end returned. One request costs tens of microseconds, where
 *   reading /proc/net/tcp walks the whole connection hash table (about 1 ms here).
 * - synWatch*: a thread that names the process behind each SYN this host sends, while its socket
 *   is still open (native/syn-watch.c).
 * - packetStats(fd): PACKET_STATISTICS of a packet socket of this process (libpcap's capture
 *   socket, which `cap` does not expose): [packets, drops] since the last call (the kernel
 *   resets them on each read, as libpcap's pcap_stats accounts for).
 */
#include <errno.h>

#include "diag.h"
#include <linux/inet_diag.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int diag_fd = -1;

static napi_value null_value(napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

static napi_value throw_errno(napi_env env, const char *what) {
  char msg[128];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out) {
  return napi_get_value_uint32(env, v, out) == napi_ok ? 0 : -1;
}

static int get_addr(napi_env env, napi_value v, uint32_t family, __be32 out[4]) {
  void *data;
  size_t len;
  memset(out, 0, 16);
  if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) {
    bool is_typed = false;
    napi_is_typedarray(env, v, &is_typed);
    if (!is_typed) return -1;
    napi_typedarray_type t;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, v, &t, &len, &data, &ab, &off) != napi_ok || t != napi_uint8_array) return -1;
  }
  size_t want = family == 4 ? 4 : 16;
  if (len != want) return -1;
  memcpy(out, data, want);
  return 0;
}

static napi_value sock_lookup(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t proto, family, sport, dport;
  __be32 src[4], dst[4];
  if (argc < 6 || get_u32(env, argv[0], &proto) || get_u32(env, argv[1], &family)
      || (family != 4 && family != 6) || get_addr(env, argv[2], family, src) || get_u32(env, argv[3], &sport)
      || get_addr(env, argv[4], family, dst) || get_u32(env, argv[5], &dport) || sport > 65535 || dport > 65535) {
    napi_throw_type_error(env, NULL, "sockLookup(proto, family 4|6, src, sport, dst, dport)");
    return NULL;
  }
  if (diag_fd < 0) {
    diag_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (diag_fd < 0) return throw_errno(env, "netlink sock_diag");
  }
  struct inet_diag_msg found;
  int r = diag_lookup(diag_fd, (uint8_t)proto, (int)family, src, (uint16_t)sport, dst, (uint16_t)dport, &found);
  if (r < 0) return throw_errno(env, "netlink sock_diag");
  if (r == 0) return null_value(env);
  struct inet_diag_msg *m = &found;
  napi_value out, v;
  napi_create_array_with_length(env, 8, &out);
  napi_create_uint32(env, m->idiag_inode, &v);
  napi_set_element(env, out, 0, v);
  napi_create_uint32(env, m->idiag_uid, &v);
  napi_set_element(env, out, 1, v);
  napi_create_uint32(env, m->idiag_state, &v);
  napi_set_element(env, out, 2, v);
  napi_create_uint32(env, m->idiag_family == AF_INET ? 4 : 6, &v);
  napi_set_element(env, out, 3, v);
  void *data;
  size_t alen = m->idiag_family == AF_INET ? 4 : 16;
  napi_create_buffer_copy(env, alen, m->id.idiag_dst, &data, &v);
  napi_set_element(env, out, 4, v);
  napi_create_uint32(env, ntohs(m->id.idiag_dport), &v);
  napi_set_element(env, out, 5, v);
  napi_create_buffer_copy(env, alen, m->id.idiag_src, &data, &v);
  napi_set_element(env, out, 6, v);
  napi_create_uint32(env, ntohs(m->id.idiag_sport), &v);
  napi_set_element(env, out, 7, v);
  return out;
}

static napi_value packet_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "packetStats(fd)");
    return NULL;
  }
  struct tpacket_stats_v3 st;
  socklen_t len = sizeof st;
  memset(&st, 0, sizeof st);
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0) return null_value(env);
  napi_value out, v;
  napi_create_array_with_length(env, 2, &out);
  napi_create_double(env, st.tp_packets, &v);
  napi_set_element(env, out, 0, v);
  napi_create_double(env, st.tp_drops, &v);
  napi_set_element(env, out, 1, v);
  return out;
}

/*
 * socketFds(pids?): the sockets every given process holds (all of /proc's processes when no list
 * is given), read as `ls -l /proc/PID/fd` would: a readlink per descriptor, `socket:[inode]`.
 * Returns { triples: Float64Array [pid, fd, inode, ...], hidden: processes whose fd directory
 * could not be opened for lack of permission }. The same reads as the JavaScript walk, without a
 * string and an exception per descriptor: about 1-2 us a descriptor instead of ~12.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>

struct triples {
  double *v;
  size_t n, cap;
};

static int push(struct triples *t, double pid, double fd, double inode) {
  if (t->n + 3 > t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 3 * 1024;
    double *v = realloc(t->v, cap * sizeof(double));
    if (v == NULL) return -1;
    t->v = v;
    t->cap = cap;
  }
  t->v[t->n++] = pid;
  t->v[t->n++] = fd;
  t->v[t->n++] = inode;
  return 0;
}

static void walk_pid(long pid, struct triples *t, uint32_t *hidden) {
  char path[64], link[320], target[64];
  snprintf(path, sizeof path, "/proc/%ld/fd", pid);
  DIR *d = opendir(path);
  if (d == NULL) {
    if (errno == EACCES || errno == EPERM) (*hidden)++;
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(link, sizeof link, "/proc/%ld/fd/%s", pid, e->d_name);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 9 || memcmp(target, "socket:[", 8) != 0) continue;
    target[n] = 0;
    push(t, (double)pid, (double)atol(e->d_name), (double)strtoul(target + 8, NULL, 10));
  }
  closedir(d);
}

static napi_value socket_fds(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct triples t = { NULL, 0, 0 };
  uint32_t hidden = 0;
  bool is_array = false;
  if (argc >= 1) napi_is_array(env, argv[0], &is_array);
  if (is_array) {
    uint32_t len = 0;
    napi_get_array_length(env, argv[0], &len);
    for (uint32_t i = 0; i < len; i++) {
      napi_value v;
      int64_t pid;
      napi_get_element(env, argv[0], i, &v);
      if (napi_get_value_int64(env, v, &pid) == napi_ok && pid > 0) walk_pid((long)pid, &t, &hidden);
    }
  } else {
    DIR *proc = opendir("/proc");
    if (proc == NULL) return throw_errno(env, "/proc");
    struct dirent *e;
    while ((e = readdir(proc)) != NULL) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      walk_pid(atol(e->d_name), &t, &hidden);
    }
    closedir(proc);
  }
  napi_value ab, arr, out, h;
  void *data;
  napi_create_arraybuffer(env, t.n * sizeof(double), &data, &ab);
  if (t.n > 0) memcpy(data, t.v, t.n * sizeof(double));
  free(t.v);
  napi_create_typedarray(env, napi_float64_array, t.n, ab, 0, &arr);
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "triples", arr);
  napi_create_uint32(env, hidden, &h);
  napi_set_named_property(env, out, "hidden", h);
  return out;
}

/* native/syn-watch.c */
napi_value syn_watch_start(napi_env env, napi_callback_info info);
napi_value syn_watch_stop(napi_env env, napi_callback_info info);
napi_value syn_watch_drain(napi_env env, napi_callback_info info);
napi_value syn_watch_stats(napi_env env, napi_callback_info info);

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
    { "synWatchStart", NULL, syn_watch_start, NULL, NULL, NULL, napi_enumerable, NULL },
    { "synWatchStop", NULL, syn_watch_stop, NULL, NULL, NULL, napi_enumerable, NULL },
    { "synWatchDrain", NULL, syn_watch_drain, NULL, NULL, NULL, napi_enumerable, NULL },
    { "synWatchStats", NULL, syn_watch_stats, NULL, NULL, NULL, napi_enumerable, NULL },
    { "socketFds", NULL, socket_fds, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sockLookup", NULL, sock_lookup, NULL, NULL, NULL, napi_enumerable, NULL },
    { "packetStats", NULL, packet_stats, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
