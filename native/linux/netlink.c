/*
 * A bridged container's network, made with rtnetlink calls instead of `ip` processes (two ip
 * batches and an nsenter cost ~40 ms of every start; these messages take well under one). The
 * same steps `ip` would take, in the same order (src/net/linux/veth.ts renders them for `vessel
 * plan`):
 *   host:      link add HOST type veth peer name PEER netns <the container's>
 *              link set HOST master BRIDGE up; bridge_slave hairpin on
 *   container: addr add ADDR dev PEER (IPv6 without duplicate address detection); link set PEER up;
 *              route add default via GATEWAY (and the IPv6 gateway)
 * Runs in the container's init, which is in the new network namespace; HOST_NL is a NETLINK_ROUTE
 * socket the monitor opened in the host's namespace before the clone (a socket stays in the
 * namespace it was created in). It is close-on-exec: the command never sees it.
 */
#include "linux.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IFLA_BRPORT_MODE
#define IFLA_BRPORT_MODE 4
#endif

struct msg {
  struct nlmsghdr h;
  char buf[2048];
};

static unsigned seq;

static void *tail(struct msg *m) { return (char *)&m->h + NLMSG_ALIGN(m->h.nlmsg_len); }

static struct rtattr *attr(struct msg *m, unsigned short type, const void *data, size_t len) {
  struct rtattr *a = tail(m);
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  m->h.nlmsg_len = NLMSG_ALIGN(m->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}

static struct rtattr *nest(struct msg *m, unsigned short type) { return attr(m, type, NULL, 0); }
static void nest_end(struct msg *m, struct rtattr *a) { a->rta_len = (unsigned short)((char *)tail(m) - (char *)a); }
static void attr_str(struct msg *m, unsigned short type, const char *s) { attr(m, type, s, strlen(s) + 1); }
static void attr_u32(struct msg *m, unsigned short type, unsigned v) { attr(m, type, &v, sizeof v); }

static void start(struct msg *m, unsigned short type, unsigned short flags, const void *hdr, size_t hlen) {
  memset(m, 0, sizeof *m);
  m->h.nlmsg_type = type;
  m->h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
  m->h.nlmsg_seq = ++seq;
  m->h.nlmsg_len = (unsigned)NLMSG_LENGTH(hlen);
  memcpy(NLMSG_DATA(&m->h), hdr, hlen);
}

/* Send and wait for the kernel's acknowledgement; 0 or -errno. */
static int talk(int fd, struct msg *m) {
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  if (sendto(fd, &m->h, m->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
  char reply[4096];
  for (;;) {
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != m->h.nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}

static int open_nl(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  struct sockaddr_nl local = { .nl_family = AF_NETLINK };
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) { close(fd); return -1; }
  return fd;
}

static int veth_add(int host_nl, const char *host_if, const char *peer, int netns_fd) {
  struct msg m;
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
  start(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  attr_str(&m, IFLA_IFNAME, host_if);
  struct rtattr *info = nest(&m, IFLA_LINKINFO);
  attr_str(&m, IFLA_INFO_KIND, "veth");
  struct rtattr *data = nest(&m, IFLA_INFO_DATA);
  struct rtattr *p = nest(&m, VETH_INFO_PEER);
  struct ifinfomsg peer_ifi = { .ifi_family = AF_UNSPEC };
  memcpy(tail(&m), &peer_ifi, sizeof peer_ifi);
  m.h.nlmsg_len += (unsigned)NLMSG_ALIGN(sizeof peer_ifi);
  attr_str(&m, IFLA_IFNAME, peer);
  attr_u32(&m, IFLA_NET_NS_FD, (unsigned)netns_fd);
  nest_end(&m, p);
  nest_end(&m, data);
  nest_end(&m, info);
  return talk(host_nl, &m);
}

static int link_del(int fd, const char *name) {
  struct msg m;
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
  start(&m, RTM_DELLINK, 0, &ifi, sizeof ifi);
  attr_str(&m, IFLA_IFNAME, name);
  return talk(fd, &m);
}

static int link_set(int fd, const char *name, int master, int up) {
  struct msg m;
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_change = up ? IFF_UP : 0, .ifi_flags = up ? IFF_UP : 0 };
  start(&m, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  attr_str(&m, IFLA_IFNAME, name);
  if (master > 0) attr_u32(&m, IFLA_MASTER, (unsigned)master);
  return talk(fd, &m);
}

/* Hairpin on the bridge port: a container can reach its own published port through the host. */
static int hairpin_on(int fd, const char *name) {
  struct msg m;
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
  start(&m, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  attr_str(&m, IFLA_IFNAME, name);
  struct rtattr *info = nest(&m, IFLA_LINKINFO);
  attr_str(&m, IFLA_INFO_SLAVE_KIND, "bridge");
  struct rtattr *data = nest(&m, IFLA_INFO_SLAVE_DATA);
  unsigned char on = 1;
  attr(&m, IFLA_BRPORT_MODE, &on, 1);
  nest_end(&m, data);
  nest_end(&m, info);
  return talk(fd, &m);
}

static int parse_cidr(const char *cidr, int *family, unsigned char addr[16], int *prefix) {
  char ip[64];
  const char *slash = strchr(cidr, '/');
  if (!slash || (size_t)(slash - cidr) >= sizeof ip) return -1;
  memcpy(ip, cidr, (size_t)(slash - cidr));
  ip[slash - cidr] = '\0';
  *prefix = atoi(slash + 1);
  *family = strchr(ip, ':') ? AF_INET6 : AF_INET;
  if (inet_pton(*family, ip, addr) != 1) return -1;
  if (*prefix < 0 || *prefix > (*family == AF_INET ? 32 : 128)) return -1;
  return 0;
}

static int addr_add(int fd, int index, const char *cidr) {
  int family, prefix;
  unsigned char a[16];
  if (parse_cidr(cidr, &family, a, &prefix) < 0) return -EINVAL;
  struct msg m;
  struct ifaddrmsg ifa = { .ifa_family = (unsigned char)family, .ifa_prefixlen = (unsigned char)prefix, .ifa_index = (unsigned)index,
                           .ifa_scope = RT_SCOPE_UNIVERSE };
  /* IPv6: usable at once, not "tentative" for the second duplicate address detection takes. */
  if (family == AF_INET6) ifa.ifa_flags = IFA_F_NODAD;
  start(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
  size_t len = family == AF_INET ? 4 : 16;
  attr(&m, IFA_LOCAL, a, len);
  attr(&m, IFA_ADDRESS, a, len);
  if (family == AF_INET6) attr_u32(&m, IFA_FLAGS, IFA_F_NODAD);
  return talk(fd, &m);
}

static int route_default(int fd, const char *gateway) {
  int family = strchr(gateway, ':') ? AF_INET6 : AF_INET;
  unsigned char g[16];
  if (inet_pton(family, gateway, g) != 1) return -EINVAL;
  struct msg m;
  struct rtmsg rt = { .rtm_family = (unsigned char)family, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
                      .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST };
  start(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof rt);
  attr(&m, RTA_GATEWAY, g, family == AF_INET ? 4 : 16);
  return talk(fd, &m);
}

int net_loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  int r = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (r == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    r = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  close(s);
  return r;
}

#define FAIL(what, rc) do { snprintf(err, errlen, "%s: %s", what, strerror(-(rc))); goto out; } while (0)

int net_plumb(const struct plan *p, int host_nl, int bridge_index, char *err, size_t errlen) {
  int rc, ns = -1, local = -1, ok = -1;
  ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (ns < 0) { snprintf(err, errlen, "own network namespace: %s", strerror(errno)); return -1; }
  rc = veth_add(host_nl, p->veth_host, p->veth_peer, ns);
  if (rc == -EEXIST) {
    /* a host end left by a run that was killed before its namespace went: replace it */
    link_del(host_nl, p->veth_host);
    rc = veth_add(host_nl, p->veth_host, p->veth_peer, ns);
  }
  if (rc < 0) FAIL("create veth", rc);
  if ((rc = link_set(host_nl, p->veth_host, bridge_index, 1)) < 0) FAIL("attach the veth to the bridge", rc);
  if ((rc = hairpin_on(host_nl, p->veth_host)) < 0) FAIL("hairpin on the bridge port", rc);
  local = open_nl();
  if (local < 0) { snprintf(err, errlen, "netlink in the container: %s", strerror(errno)); goto out; }
  int index = (int)if_nametoindex(p->veth_peer);
  if (index <= 0) { snprintf(err, errlen, "%s: not in the container after creation", p->veth_peer); goto out; }
  for (int i = 0; i < p->naddrs; i++)
    if ((rc = addr_add(local, index, p->addrs[i].cidr)) < 0) FAIL(p->addrs[i].cidr, rc);
  if ((rc = link_set(local, p->veth_peer, 0, 1)) < 0) FAIL("bring up the container's interface", rc);
  if (p->gateway4 && (rc = route_default(local, p->gateway4)) < 0) FAIL("default route", rc);
  if (p->gateway6 && (rc = route_default(local, p->gateway6)) < 0) FAIL("IPv6 default route", rc);
  ok = 0;
out:
  if (local >= 0) close(local);
  close(ns);
  return ok;
}
