/*
 * The SYN watcher: names the process behind a short TCP connection before it is gone.
 *
 * A curl against a local server connects, asks, reads and closes within 1-6 ms. Node's own
 * look (capture callback, event loop, decode, netlink, /proc) starts 0.3-2 ms after the SYN, and
 * on a busy machine often after curl has closed its socket. So a thread of its own, outside the
 * event loop, watches the interface for SYNs this host sends (a packet socket with a kernel
 * filter: TCP, SYN set, ACK clear) and at each one asks the kernel for the sending socket's inode
 * (NETLINK_SOCK_DIAG) and reads the file descriptors of the processes most likely to hold it (the
 * last owners found, then the newest processes) until one holds `socket:[inode]`. What it saw
 * waits in a bounded ring until JavaScript drains it (synWatchDrain). It only ever says what it
 * saw: a socket held by a process, read while it was held. Every SYN it decided on is in the ring,
 * found or not (pid -1: no process found holding it; -2: skipped for the CPU budget).
 *
 * Its cost is bounded: at most PER_SYN_NS of CPU time goes to one SYN, and the thread's CPU
 * time is kept within SHARE of one core (a flood of SYNs is then counted as skipped, not
 * looked up). It stops when asked (an eventfd wakes its poll), never on a timer.
 *
 *   synWatchStart(device: string): true, or an error text (no such device, not permitted...)
 *   synWatchDrain(): [family, local, lport, remote, rport, inode, pid (-1 not found, -2 skipped),
 *                    command, seenNs, ...]
 *   synWatchStats(): [syns, found, notFound, skipped, overwritten, CPU ns spent looking,
 *                    processes' fd directories read]
 *   synWatchStop()
 */
#include <dirent.h>
#include <errno.h>

#include "diag.h"
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/in.h>
#include <node_api.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* New process ids read for one SYN, newest first, after the recent owners; then listed
 * processes within PER_SYN_NS of CPU time. /proc is listed again when older than LIST_NS. */
#define SCAN_IDS 512
#define PER_SYN_NS 3000000ull
#define LIST_NS 50000000ull
#define RECENT 8
#define RING 4096
/* Share of one core the thread may use, and the burst (ns) it may spend at once. */
#define SHARE 0.25
#define BURST_NS 20000000.0

struct seen {
  uint8_t family;
  uint8_t local[16], remote[16];
  uint16_t lport, rport;
  uint32_t inode;
  int32_t pid;
  char comm[17];
  uint64_t ns;
};

static pthread_t thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int running = 0;
static int pkt_fd = -1, wake_fd = -1, nl_fd = -1, loadavg_fd = -1;
static struct seen ring[RING];
static size_t ring_head = 0, ring_len = 0;
static double stats[7]; /* syns, found, notFound, skipped, overwritten, CPU ns spent looking, fd directories read */
static double dirs_read = 0; /* the thread's own count, added to stats[6] at each decision */
static int32_t recent[RECENT];

static uint64_t now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The kernel's socket for a TCP tuple (local end first): its inode, 0 when none. */
static uint32_t diag_inode(int family, const uint8_t *local, uint16_t lport, const uint8_t *remote, uint16_t rport) {
  struct inet_diag_msg found;
  if (diag_lookup(nl_fd, IPPROTO_TCP, family, local, lport, remote, rport, &found) != 1) return 0;
  struct inet_diag_msg *m = &found;
  /* A tuple with no connection may answer with its listener: not the sender's socket. */
  if (m->idiag_state == 10 /* LISTEN */ || ntohs(m->id.idiag_dport) != rport) return 0;
  return m->idiag_inode;
}

/* Whether process (or thread) `id` holds socket:[inode]. */
static int holds(int32_t id, const char *want, size_t want_len) {
  char path[64], link[320], target[64];
  snprintf(path, sizeof path, "/proc/%d/fd", id);
  DIR *d = opendir(path);
  if (d == NULL) return 0;
  dirs_read++;
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(link, sizeof link, "%s/%s", path, e->d_name);
    ssize_t n = readlink(link, target, sizeof target);
    if (n == (ssize_t)want_len && memcmp(target, want, want_len) == 0) found = 1;
  }
  closedir(d);
  return found;
}

/* The thread group (process) of a task id, from /proc/ID/status; -1 when gone. */
static int32_t tgid_of(int32_t id) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/status", id);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *t = strstr(buf, "\nTgid:");
  return t == NULL ? -1 : (int32_t)strtol(t + 6, NULL, 10);
}

static void read_comm(int32_t pid, char out[17]) {
  char path[64];
  out[0] = 0;
  snprintf(path, sizeof path, "/proc/%d/comm", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, out, 16);
  close(fd);
  if (n <= 0) n = 0;
  out[n] = 0;
  if (n > 0 && out[n - 1] == '\n') out[n - 1] = 0;
}

static int32_t last_pid(void) {
  char buf[128];
  ssize_t n = pread(loadavg_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *sp = strrchr(buf, ' ');
  return sp == NULL ? -1 : (int32_t)strtol(sp + 1, NULL, 10);
}

/* /proc's process list, newest first, as last read (read again when older than LIST_NS). */
static int32_t *listed = NULL;
static size_t listed_n = 0, listed_cap = 0;
static uint64_t listed_at = 0;
/* The kernel's last pid when /proc was listed: the ids after it are new since. */
static int32_t listed_last = 0;
/* Ids wrap around at pid_max (32768 by default): "newer" is "counted down from the last pid". */
static int32_t pid_max = 4194304;

static int cmp_desc(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x < y) - (x > y);
}

static void list_processes(void) {
  listed_n = 0;
  listed_last = last_pid();
  DIR *proc = opendir("/proc");
  if (proc == NULL) return;
  struct dirent *e;
  while ((e = readdir(proc)) != NULL) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    if (listed_n == listed_cap) {
      size_t cap = listed_cap ? listed_cap * 2 : 1024;
      int32_t *v = realloc(listed, cap * sizeof *v);
      if (v == NULL) break;
      listed = v;
      listed_cap = cap;
    }
    listed[listed_n++] = (int32_t)atol(e->d_name);
  }
  closedir(proc);
  qsort(listed, listed_n, sizeof *listed, cmp_desc);
  listed_at = now_ns(CLOCK_MONOTONIC);
}

static int32_t found_owner(int32_t pid) {
  memmove(recent + 1, recent, (RECENT - 1) * sizeof recent[0]);
  recent[0] = pid;
  return pid;
}

/*
 * The process holding the inode, -1 when not found: the ids given out since /proc was last
 * listed, newest first (the curl that just started; a thread's id leads to its process), then the
 * last owners found (a program opening many connections), then every listed process, newest
 * first, within PER_SYN_NS of this thread's CPU time. Ids count up and wrap at pid_max, so
 * "newest first" is counting down from the kernel's last pid, past 1 to pid_max.
 */
static int32_t owner_of(uint32_t inode) {
  char want[32];
  int len = snprintf(want, sizeof want, "socket:[%u]", inode);
  uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  /* Listing /proc costs ~1 us a process (2 ms on a host with 2,000): only when the new ids and the
   * recent owners did not have it, or when there is no listing yet. */
  if (listed_n == 0) list_processes();
  int32_t last = last_pid();
  int32_t id = last;
  for (int k = 0; k < SCAN_IDS && id != listed_last && last > 0; k++) {
    if (holds(id, want, (size_t)len)) {
      int32_t pid = tgid_of(id);
      return pid > 0 ? found_owner(pid) : -1;
    }
    id = id > 1 ? id - 1 : pid_max - 1;
  }
  for (int i = 0; i < RECENT; i++) {
    if (recent[i] > 0 && holds(recent[i], want, (size_t)len)) return recent[i];
  }
  if (now_ns(CLOCK_MONOTONIC) - listed_at > LIST_NS) list_processes();
  /* Newest first: the listed ids at or below the last pid, downwards, then those above it (given
   * out before the ids wrapped), downwards. */
  size_t from = 0;
  while (from < listed_n && listed[from] > last) from++;
  for (size_t k = 0; k < listed_n; k++) {
    if ((k & 15) == 15 && now_ns(CLOCK_THREAD_CPUTIME_ID) - c0 > PER_SYN_NS) break;
    int32_t pid = listed[(from + k) % listed_n];
    if (holds(pid, want, (size_t)len)) return found_owner(pid);
  }
  return -1;
}

static void keep(const struct seen *s) {
  pthread_mutex_lock(&lock);
  if (ring_len == RING) {
    ring_head = (ring_head + 1) % RING;
    ring_len--;
    stats[4]++;
  }
  ring[(ring_head + ring_len) % RING] = *s;
  ring_len++;
  pthread_mutex_unlock(&lock);
}

static void count(int i) {
  pthread_mutex_lock(&lock);
  stats[i]++;
  pthread_mutex_unlock(&lock);
}

static void *watch(void *arg) {
  (void)arg;
  /* Woken at once by a SYN, even on a busy machine: the lowest real-time priority where allowed
   * (root), else the nice value of the thread that started it. Its CPU budget below bounds what
   * that priority can take from the rest. */
  struct sched_param sp = { .sched_priority = 1 };
  pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
  char text[32];
  int fd = open("/proc/sys/kernel/pid_max", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n > 0) {
      text[n] = 0;
      if (atol(text) > 1) pid_max = (int32_t)atol(text);
    }
  }
  list_processes(); /* before the first SYN, which should not wait for it */
  uint8_t pkt[128];
  double tokens = BURST_NS;
  uint64_t topped = now_ns(CLOCK_MONOTONIC);
  struct pollfd fds[2] = { { .fd = pkt_fd, .events = POLLIN }, { .fd = wake_fd, .events = POLLIN } };
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(pkt_fd, pkt, sizeof pkt, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
    if (n <= 0) continue;
    /* Only what this host sends: its own sockets' SYNs (on lo each packet is seen twice). */
    if (from.sll_pkttype != PACKET_OUTGOING) continue;
    struct seen s;
    memset(&s, 0, sizeof s);
    size_t l4;
    if ((pkt[0] >> 4) == 4 && n >= 20) {
      s.family = 4;
      memcpy(s.local, pkt + 12, 4);
      memcpy(s.remote, pkt + 16, 4);
      l4 = (size_t)(pkt[0] & 15) * 4;
    } else if ((pkt[0] >> 4) == 6 && n >= 40) {
      s.family = 6;
      memcpy(s.local, pkt + 8, 16);
      memcpy(s.remote, pkt + 24, 16);
      l4 = 40;
    } else continue;
    if ((size_t)n < l4 + 4) continue;
    s.lport = (uint16_t)(pkt[l4] << 8 | pkt[l4 + 1]);
    s.rport = (uint16_t)(pkt[l4 + 2] << 8 | pkt[l4 + 3]);
    count(0);
    uint64_t t = now_ns(CLOCK_MONOTONIC);
    tokens += (double)(t - topped) * SHARE;
    if (tokens > BURST_NS) tokens = BURST_NS;
    topped = t;
    s.ns = t;
    if (tokens <= 0) {
      s.pid = -2;
      keep(&s);
      count(3);
      continue;
    }
    uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    s.inode = diag_inode(s.family, s.local, s.lport, s.remote, s.rport);
    s.pid = s.inode == 0 ? -1 : owner_of(s.inode);
    if (s.pid > 0) read_comm(s.pid, s.comm);
    keep(&s);
    double spent = (double)(now_ns(CLOCK_THREAD_CPUTIME_ID) - c0);
    pthread_mutex_lock(&lock);
    stats[s.pid > 0 ? 1 : 2]++;
    stats[5] += spent;
    stats[6] += dirs_read;
    dirs_read = 0;
    pthread_mutex_unlock(&lock);
    tokens -= spent;
  }
  return NULL;
}

/* Outgoing TCP segments with SYN set and ACK clear, IPv4 (first fragment) or IPv6 (no extension
 * header), on a cooked packet socket: offsets are from the network header. */
static struct sock_filter syn_filter[] = {
  BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),          /* 0: version */
  BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),         /* 1 */
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 4, 0, 7),   /* 2: v4 -> 3, else 10 */
  BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),          /* 3: protocol */
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 12),  /* 4: tcp -> 5, else drop */
  BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),          /* 5: fragment offset */
  BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 10, 0), /* 6: a later fragment: drop */
  BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),         /* 7: X = header length */
  BPF_STMT(BPF_LD | BPF_B | BPF_IND, 13),         /* 8: TCP flags */
  BPF_STMT(BPF_JMP | BPF_JA, 4),                  /* 9: -> 14 */
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 6),   /* 10: v6 -> 11, else drop */
  BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),          /* 11: next header */
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 4),   /* 12: tcp -> 13, else drop */
  BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 53),         /* 13: TCP flags */
  BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),      /* 14: SYN|ACK bits */
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 1), /* 15: SYN alone -> keep */
  BPF_STMT(BPF_RET | BPF_K, 128),                 /* 16 */
  BPF_STMT(BPF_RET | BPF_K, 0),                   /* 17 */
};

static void close_all(void) {
  if (pkt_fd >= 0) close(pkt_fd);
  if (wake_fd >= 0) close(wake_fd);
  if (nl_fd >= 0) close(nl_fd);
  if (loadavg_fd >= 0) close(loadavg_fd);
  pkt_fd = wake_fd = nl_fd = loadavg_fd = -1;
}

static napi_value text(napi_env env, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
  napi_value v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &v);
  return v;
}

napi_value syn_watch_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], yes;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_boolean(env, true, &yes);
  if (running) return yes;
  char dev[IF_NAMESIZE + 1] = "";
  size_t len = 0;
  if (argc >= 1) napi_get_value_string_utf8(env, argv[0], dev, sizeof dev, &len);
  unsigned ifindex = 0;
  if (len > 0 && strcmp(dev, "any") != 0) {
    ifindex = if_nametoindex(dev);
    if (ifindex == 0) return text(env, dev);
  }
  pkt_fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (pkt_fd < 0) return text(env, "packet socket");
  struct sock_fprog prog = { .len = sizeof syn_filter / sizeof syn_filter[0], .filter = syn_filter };
  if (setsockopt(pkt_fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    napi_value v = text(env, "SYN filter");
    close_all();
    return v;
  }
  struct sockaddr_ll at = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)ifindex };
  if (bind(pkt_fd, (struct sockaddr *)&at, sizeof at) < 0) {
    napi_value v = text(env, "packet socket bind");
    close_all();
    return v;
  }
  wake_fd = eventfd(0, EFD_CLOEXEC);
  nl_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (wake_fd < 0 || nl_fd < 0 || loadavg_fd < 0) {
    napi_value v = text(env, "SYN watcher");
    close_all();
    return v;
  }
  memset(stats, 0, sizeof stats);
  memset(recent, 0, sizeof recent);
  listed_n = 0;
  ring_head = ring_len = 0;
  if (pthread_create(&thread, NULL, watch, NULL) != 0) {
    napi_value v = text(env, "SYN watcher thread");
    close_all();
    return v;
  }
  running = 1;
  return yes;
}

napi_value syn_watch_stop(napi_env env, napi_callback_info info) {
  (void)info;
  if (running) {
    uint64_t one = 1;
    if (write(wake_fd, &one, sizeof one) < 0) { /* the thread then never wakes: cannot happen for an eventfd */ }
    pthread_join(thread, NULL);
    running = 0;
    close_all();
  }
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value syn_watch_drain(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_mutex_lock(&lock);
  size_t n = ring_len;
  struct seen *copy = n ? malloc(n * sizeof *copy) : NULL;
  if (copy == NULL) n = 0;
  for (size_t i = 0; i < n; i++) copy[i] = ring[(ring_head + i) % RING];
  ring_head = ring_len = 0;
  pthread_mutex_unlock(&lock);
  napi_value out, v;
  void *data;
  napi_create_array_with_length(env, n * 9, &out);
  for (size_t i = 0; i < n; i++) {
    struct seen *s = &copy[i];
    size_t alen = s->family == 4 ? 4 : 16;
    uint32_t k = (uint32_t)(i * 9);
    napi_create_uint32(env, s->family, &v);
    napi_set_element(env, out, k, v);
    napi_create_buffer_copy(env, alen, s->local, &data, &v);
    napi_set_element(env, out, k + 1, v);
    napi_create_uint32(env, s->lport, &v);
    napi_set_element(env, out, k + 2, v);
    napi_create_buffer_copy(env, alen, s->remote, &data, &v);
    napi_set_element(env, out, k + 3, v);
    napi_create_uint32(env, s->rport, &v);
    napi_set_element(env, out, k + 4, v);
    napi_create_uint32(env, s->inode, &v);
    napi_set_element(env, out, k + 5, v);
    napi_create_int32(env, s->pid, &v);
    napi_set_element(env, out, k + 6, v);
    napi_create_string_utf8(env, s->comm, NAPI_AUTO_LENGTH, &v);
    napi_set_element(env, out, k + 7, v);
    napi_create_double(env, (double)s->ns, &v);
    napi_set_element(env, out, k + 8, v);
  }
  free(copy);
  return out;
}

napi_value syn_watch_stats(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out, v;
  napi_create_array_with_length(env, 7, &out);
  pthread_mutex_lock(&lock);
  for (uint32_t i = 0; i < 7; i++) {
    napi_create_double(env, stats[i], &v);
    napi_set_element(env, out, i, v);
  }
  pthread_mutex_unlock(&lock);
  return out;
}
