/*
 * sockdiag.c: which process holds a socket. The kernel's sock_diag
 * (NETLINK_SOCK_DIAG) finds one TCP socket by its addresses and tells
 * its inode, 0 while no process has accepted it yet; /proc/PID/fd tells
 * whether a process, or one of its children, has it open.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sockdiag.h"

#define SOCKDIAG_DEPTH	4	/* generations of children looked at */

/* Fill one end of an inet_diag socket id from a socket address. */
static void
sockdiag_end(const struct sockaddr_storage *ss, __be16 *port, __be32 *addr)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (ss->ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)ss;
		*port = sin->sin_port;
		memcpy(addr, &sin->sin_addr, sizeof(sin->sin_addr));
	} else {
		sin6 = (const struct sockaddr_in6 *)(const void *)ss;
		*port = sin6->sin6_port;
		memcpy(addr, &sin6->sin6_addr, sizeof(sin6->sin6_addr));
	}
}

/*
 * The inode of the TCP socket whose own address is local and whose peer is
 * remote (both of one family): 0 if it exists but no process holds it yet
 * (a connection in an accept queue). -1 if there is none or on an error.
 */
int
sockdiag_tcp_inode(const struct sockaddr_storage *local,
    const struct sockaddr_storage *remote, unsigned long *ino)
{
	struct {
		struct nlmsghdr		 nh;
		struct inet_diag_req_v2	 r;
	}			 req;
	union {
		struct nlmsghdr	 nh;
		char		 b[8192];
	}			 resp;
	struct sockaddr_nl	 nl = { .nl_family = AF_NETLINK };
	struct inet_diag_msg	*msg;
	ssize_t			 n;
	int			 fd, rc = -1;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST;	/* one socket, not a dump */
	req.r.sdiag_family = (__u8)local->ss_family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0U;
	req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	sockdiag_end(local, &req.r.id.idiag_sport, req.r.id.idiag_src);
	sockdiag_end(remote, &req.r.id.idiag_dport, req.r.id.idiag_dst);
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd == -1)
		return (-1);
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&nl,
	    sizeof(nl)) != (ssize_t)sizeof(req))
		goto out;
	while ((n = recv(fd, &resp, sizeof(resp), 0)) == -1 && errno == EINTR)
		continue;
	if (n < (ssize_t)NLMSG_LENGTH(sizeof(*msg)) ||
	    !NLMSG_OK(&resp.nh, (unsigned)n) ||
	    resp.nh.nlmsg_type != SOCK_DIAG_BY_FAMILY)
		goto out;	/* NLMSG_ERROR: no such socket */
	msg = NLMSG_DATA(&resp.nh);
	*ino = msg->idiag_inode;
	rc = 0;
out:
	close(fd);
	return (rc);
}

/* Whether pid has socket inode ino open (0), or not (-1). */
static int
sockdiag_fd_of(pid_t pid, unsigned long ino)
{
	char		 dir[64], path[320], link[64], want[64];
	struct dirent	*de;
	DIR		*d;
	ssize_t		 n;
	int		 rc = -1;

	snprintf(dir, sizeof(dir), "/proc/%ld/fd", (long)pid);
	snprintf(want, sizeof(want), "socket:[%lu]", ino);
	if ((d = opendir(dir)) == NULL)
		return (-1);
	while (rc == -1 && (de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0 && (size_t)n == strlen(want) &&
		    memcmp(link, want, (size_t)n) == 0)
			rc = 0;
	}
	closedir(d);
	return (rc);
}

/* Whether pid or a child of it (depth generations down) has ino open. */
static int
sockdiag_tree_holds(pid_t pid, unsigned long ino, int depth)
{
	char	 path[96];
	FILE	*f;
	long	 child;
	int	 found = 0;

	if (sockdiag_fd_of(pid, ino) == 0)
		return (1);
	if (depth == 0)
		return (0);
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
	    (long)pid, (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return (0);
	while (!found && fscanf(f, "%ld", &child) == 1)
		found = sockdiag_tree_holds((pid_t)child, ino, depth - 1);
	fclose(f);
	return (found);
}

/* Whether pid, or a process it started, holds the socket of inode ino. */
int
sockdiag_pid_holds(pid_t pid, unsigned long ino)
{
	return (ino != 0 && sockdiag_tree_holds(pid, ino, SOCKDIAG_DEPTH));
}

/* Whether the address of an inet_diag socket id is the wildcard. */
static int
sockdiag_any(int family, const __be32 *a)
{
	static const __be32	 zero[4];

	return (memcmp(a, zero, family == AF_INET ? 4 : 16) == 0);
}

/*
 * Whether a dumped socket shares local's port: bound to its address, or
 * either of the two is the wildcard (0.0.0.0, ::).
 */
static int
sockdiag_matches(const struct inet_diag_msg *msg,
    const struct sockaddr_storage *local)
{
	__be32	 addr[4] = { 0 };
	__be16	 port;
	size_t	 alen = local->ss_family == AF_INET ? 4 : 16;

	sockdiag_end(local, &port, addr);
	if (msg->id.idiag_sport != port)
		return (0);
	return (memcmp(msg->id.idiag_src, addr, alen) == 0 ||
	    sockdiag_any(local->ss_family, addr) ||
	    sockdiag_any(local->ss_family, msg->id.idiag_src));
}

/* Send a dump request for every socket of a family and protocol. */
static int
sockdiag_dump_request(int fd, int family, int udp, uint16_t port)
{
	struct {
		struct nlmsghdr		 nh;
		struct inet_diag_req_v2	 r;
		struct nlattr		 nla;
		struct inet_diag_bc_op	 bc[4];
	}			 req;
	struct sockaddr_nl	 nl = { .nl_family = AF_NETLINK };

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = (__u8)family;
	req.r.sdiag_protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
	/* A bound UDP socket is "listening" in any state; TCP only in LISTEN. */
	req.r.idiag_states = udp ? ~0U : 1U << TCP_LISTEN;
	/*
	 * Only sockets on our port come back (the kernel filters: a host
	 * with many UDP sockets sends a few, not all): source port >= port,
	 * then <= port. A jump past the end rejects.
	 */
	req.nla.nla_type = INET_DIAG_REQ_BYTECODE;
	req.nla.nla_len = sizeof(req.nla) + sizeof(req.bc);
	req.bc[0] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_GE, 8, 20 };
	req.bc[1] = (struct inet_diag_bc_op){ 0, 0, port };
	req.bc[2] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_LE, 8, 12 };
	req.bc[3] = (struct inet_diag_bc_op){ 0, 0, port };
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&nl,
	    sizeof(nl)) != (ssize_t)sizeof(req))
		return (-1);
	return (0);
}

/* The port of a socket address, in host order. */
static uint16_t
sockdiag_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohs(((const struct sockaddr_in *)(const void *)ss)->
		    sin_port));
	return (ntohs(((const struct sockaddr_in6 *)(const void *)ss)->
	    sin6_port));
}

/*
 * Read a dump's answers, keeping the inodes of the sockets that match
 * local. Returns the count matched (beyond max too), -1 on an error.
 */
static int
sockdiag_dump_read(int fd, const struct sockaddr_storage *local,
    unsigned long *inos, size_t max)
{
	union {
		struct nlmsghdr	 nh;
		char		 b[32768];
	}			 resp;
	struct nlmsghdr		*nh;
	struct inet_diag_msg	*msg;
	ssize_t			 n;
	size_t			 found = 0;

	for (;;) {
		while ((n = recv(fd, &resp, sizeof(resp), 0)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		for (nh = &resp.nh; NLMSG_OK(nh, (unsigned)n);
		    nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_DONE)
				return ((int)found);
			if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*msg)))
				return (-1);	/* NLMSG_ERROR */
			msg = NLMSG_DATA(nh);
			if (!sockdiag_matches(msg, local))
				continue;
			if (found < max)
				inos[found] = msg->idiag_inode;
			found++;
		}
	}
}

/*
 * The inodes of the sockets bound to local's port that share its traffic:
 * TCP listeners, or (udp) every UDP socket, on local's address or either
 * of the two being the wildcard. Up to max in inos; returns how many
 * there are (more than max if the array was short), -1 on an error.
 */
int
sockdiag_bound(const struct sockaddr_storage *local, int udp,
    unsigned long *inos, size_t max)
{
	int	 fd, rc = -1;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd == -1)
		return (-1);
	if (sockdiag_dump_request(fd, local->ss_family, udp,
	    sockdiag_port(local)) == 0)
		rc = sockdiag_dump_read(fd, local, inos, max);
	close(fd);
	return (rc);
}

/* A process's name (/proc/PID/comm), "?" if it cannot be read. */
static void
sockdiag_comm(pid_t pid, char *comm, size_t len)
{
	char	 path[64];
	FILE	*f;

	snprintf(comm, len, "?");
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	if (fgets(comm, (int)len, f) == NULL)
		snprintf(comm, len, "?");
	comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
}

/*
 * The first process found holding the socket of inode ino, and its name
 * in comm: -1 if none is visible to us (another user's, without root).
 * Reads every /proc/PID/fd: for the rare socket that is not drover's.
 */
pid_t
sockdiag_holder(unsigned long ino, char *comm, size_t len)
{
	struct dirent	*de;
	DIR		*d;
	char		*end;
	long		 pid;
	pid_t		 found = -1;

	snprintf(comm, len, "?");
	if ((d = opendir("/proc")) == NULL)
		return (-1);
	while (found == -1 && (de = readdir(d)) != NULL) {
		pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		if (sockdiag_fd_of((pid_t)pid, ino) == 0)
			found = (pid_t)pid;
	}
	closedir(d);
	if (found != -1)
		sockdiag_comm(found, comm, len);
	return (found);
}
