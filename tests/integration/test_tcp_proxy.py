"""protocol = tcp_proxy over real sockets, with real backends the tests
start: bytes both ways, half-close either way, idle_timeout, a dead
upstream and retry_wait, the balance methods, a reload with an
established connection, and each source form with its socket options."""

import ctypes
import hashlib
import os
import platform
import re
import signal
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (TIMEOUT, DroverTest, echo_roundtrip,  # noqa
                       free_port, main, pid_alive, read_echo, ss_listeners,
                       wait_for)


class Backend:
    """A TCP server of the test's own on 127.0.0.1: echo (the default) or
    `greet`: send the greeting, shut down its write side, then keep what
    the client sends (in self.received) until the client's FIN. It
    records each accepted connection's peer address."""

    def __init__(self, port=0, greet=None):
        self.greet = greet
        self.peers = []
        self.active = 0
        self.received = b""
        self.eofs = 0           # client FINs seen
        self.conns = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, peer = self.sock.accept()
            except OSError:
                return      # closed by stop()
            with self.lock:
                self.peers.append(peer)
                self.active += 1
                self.conns.append(c)
            threading.Thread(target=self.handle, args=(c,),
                             daemon=True).start()

    def handle(self, c):
        try:
            if self.greet is not None:
                c.sendall(self.greet)
                c.shutdown(socket.SHUT_WR)
            while True:
                b = c.recv(65536)
                if not b:
                    with self.lock:
                        self.eofs += 1
                    break
                if self.greet is not None:
                    with self.lock:
                        self.received += b
                else:
                    c.sendall(b)
            if self.greet is None:
                c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            with self.lock:
                self.active -= 1
            c.close()

    def stop(self):
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def upstream_conf(name, ports, **keys):
    servers = ", ".join('"127.0.0.1:%d"' % p for p in ports)
    text = "upstream %s {\n    servers = {%s}\n" % (name, servers)
    for k, v in keys.items():
        text += "    %s = %s\n" % (k, v)
    return text + "}\n"


def proxy_conf(ports, idle=60, listen='"127.0.0.1:0"', **keys):
    return upstream_conf("app", ports, **keys) + """
server p {
    listen = {%s}
    protocol = tcp_proxy
    upstream = app
    idle_timeout = %d
}
""" % (listen, idle)


def roundtrip(d, payload):
    return echo_roundtrip(*d.port("p"), payload)


def connect(d):
    return socket.create_connection(d.port("p"), timeout=TIMEOUT)


def echoed(s, data):
    s.sendall(data)
    return read_echo(s, len(data)) == data


class TcpProxyTest(DroverTest):

    def backend(self, **kw):
        b = Backend(**kw)
        self.addCleanup(b.stop)
        return b

    def proxy(self, conf, workers=1, **kw):
        d = self.drover(workers=workers, servers=conf, **kw)
        d.start()
        return d

    # -- bytes ------------------------------------------------------------

    def test_megabytes_both_ways_with_checksum(self):
        """A few MB through the proxy to an echo and back: enough to pass
        the point where a direction turns from copying to splice."""
        b = self.backend()
        d = self.proxy(proxy_conf([b.port]))
        payload = os.urandom(6 * 1024 * 1024 + 123)
        got = roundtrip(d, payload)
        self.assertEqual(len(got), len(payload))
        self.assertEqual(hashlib.sha256(got).hexdigest(),
                         hashlib.sha256(payload).hexdigest())
        # Small exchanges on one connection, each answered in full.
        with connect(d) as s:
            for i in range(50):
                self.assertTrue(echoed(s, b"ping %d\n" % i))
        wait_for(lambda: b.active == 0, what="backend connections closed")

    def test_client_half_close_still_gets_the_rest(self):
        """The client shuts down its write side first: the FIN goes on to
        the backend after the bytes before it, and everything the backend
        still sends comes back before the client's EOF."""
        b = self.backend()
        d = self.proxy(proxy_conf([b.port]))
        payload = os.urandom(3 * 1024 * 1024)
        s = connect(d)
        s.sendall(payload[:1000])
        self.assertEqual(read_echo(s, 1000), payload[:1000])
        # echo_roundtrip's way: send the rest from a thread, FIN, read.
        sender = threading.Thread(target=lambda: (
            s.sendall(payload[1000:]), s.shutdown(socket.SHUT_WR)),
            daemon=True)
        sender.start()
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        sender.join(TIMEOUT)
        s.close()
        self.assertEqual(got, payload[1000:])
        wait_for(lambda: b.eofs == 1, what="the FIN at the backend")

    def test_backend_half_close_first(self):
        """The backend sends and shuts down its write side first: the
        client reads all of it and EOF, yet can still send, and what it
        sends reaches the backend, whose EOF comes with the client's."""
        greeting = os.urandom(200 * 1024)
        b = self.backend(greet=greeting)
        d = self.proxy(proxy_conf([b.port]))
        s = connect(d)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        self.assertEqual(got, greeting)
        s.sendall(b"after your FIN")
        wait_for(lambda: b.received == b"after your FIN",
                 what="bytes sent after the backend's FIN")
        self.assertEqual(b.eofs, 0)
        s.shutdown(socket.SHUT_WR)
        wait_for(lambda: b.eofs == 1, what="the client's FIN at the backend")
        s.settimeout(TIMEOUT)
        self.assertEqual(s.recv(1), b"")
        s.close()

    def test_idle_timeout_closes_both(self):
        b = self.backend()
        d = self.proxy(proxy_conf([b.port], idle=1))
        s = connect(d)
        self.assertTrue(echoed(s, b"hi"))
        # Nothing moves now: after idle_timeout (1 s) both sides close.
        s.settimeout(TIMEOUT)
        self.assertEqual(s.recv(1), b"")
        s.close()
        wait_for(lambda: b.eofs == 1 and b.active == 0,
                 what="the backend's side closed too")

    # -- failures and retry_wait ----------------------------------------

    def test_dead_upstream_closes_and_logs_the_cause(self):
        dead = free_port()
        d = self.proxy(proxy_conf([dead], retry_wait=0))
        s = connect(d)
        s.settimeout(TIMEOUT)
        try:
            self.assertEqual(s.recv(1), b"")
        except ConnectionResetError:
            pass        # closed: a reset says it as well
        s.close()
        d.wait_log(r"\[warn\].*upstream app: no connection \(50[23]\): "
                   r"server 127\.0\.0\.1:%d: connect: Connection refused"
                   % dead)

    def test_retry_wait_carries_a_client_over_a_backend_start(self):
        """The backend is down when the client comes; the proxy retries
        (seen in the debug log: a refused connect) and the client gets
        through once the backend listens."""
        port = free_port()
        d = self.proxy(proxy_conf([port], retry_wait=20),
                       log_level="debug")
        s = connect(d)
        s.sendall(b"waited")
        d.wait_log(r"upstream app: 127\.0\.0\.1:%d: connect: Connection "
                   r"refused" % port)
        self.backend(port=port)
        self.assertEqual(read_echo(s, 6), b"waited")
        self.assertTrue(echoed(s, b"and more"))
        s.close()
        self.assertNotIn("no connection", d.log())

    def test_proxy_header_v1_sent_first(self):
        """proxy_protocol = v1 on the upstream: the backend (an echo)
        gets the client's addresses first, then the client's bytes."""
        b = self.backend()
        d = self.proxy(proxy_conf([b.port], proxy_protocol="v1"))
        with connect(d) as s:
            s.sendall(b"data")
            head = b"PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n" % (
                s.getsockname()[1], d.port("p")[1])
            self.assertEqual(read_echo(s, len(head) + 4), head + b"data")

    # -- balance ----------------------------------------------------------

    def test_round_robin_skips_a_dead_server(self):
        a, b = self.backend(), self.backend()
        dead = free_port()
        d = self.proxy(proxy_conf([a.port, dead, b.port],
                                  retry_wait=0))
        for i in range(12):
            self.assertEqual(roundtrip(d, b"rr %d" % i), b"rr %d" % i)
        self.assertEqual(len(a.peers) + len(b.peers), 12)
        self.assertGreaterEqual(len(a.peers), 4)
        self.assertGreaterEqual(len(b.peers), 4)

    def test_least_conn_balances_open_connections(self):
        a, b = self.backend(), self.backend()
        d = self.proxy(proxy_conf([a.port, b.port],
                                  balance="least_conn"))
        socks = []
        try:
            for i in range(6):
                s = connect(d)
                socks.append(s)
                self.assertTrue(echoed(s, b"%d" % i))
            # One worker, all six open: three on each.
            self.assertEqual((a.active, b.active), (3, 3))
        finally:
            for s in socks:
                s.close()

    def test_client_hash_sends_a_client_to_one_server(self):
        a, b, c = self.backend(), self.backend(), self.backend()
        d = self.proxy(proxy_conf([a.port, b.port, c.port],
                                  balance="client_hash"), workers=2)
        for i in range(9):
            self.assertEqual(roundtrip(d, b"h%d" % i), b"h%d" % i)
        counts = sorted(len(x.peers) for x in (a, b, c))
        self.assertEqual(counts, [0, 0, 9])

    # -- reload -------------------------------------------------------------

    def test_reload_keeps_a_proxied_connection_and_uses_the_new_list(self):
        a, b = self.backend(), self.backend()
        d = self.proxy(proxy_conf([a.port]))
        port = d.port("p")[1]
        old = d.wait_workers(1)
        s = connect(d)
        self.assertTrue(echoed(s, b"before"))
        d.write_conf(servers=proxy_conf([b.port]))
        d.signal(signal.SIGHUP)
        d.wait_log(r"worker 1\.0\[%d\]: draining" % old[0])
        wait_for(lambda: all(pid != old[0] for pid, _ in ss_listeners(port))
                 and ss_listeners(port),
                 what="the new generation alone listening")
        # The old worker keeps the connection, both ways, after the HUP.
        self.assertTrue(echoed(s, b"during the drain"))
        # New connections go to the new upstream list.
        for i in range(3):
            self.assertEqual(roundtrip(d, b"new %d" % i), b"new %d" % i)
        self.assertEqual(len(b.peers), 3)
        self.assertEqual(len(a.peers), 1)
        self.assertTrue(pid_alive(old[0]))
        self.assertTrue(echoed(s, b"still"))
        s.close()
        wait_for(lambda: not pid_alive(old[0]),
                 what="old worker to exit once its connection ended")

    # -- source -----------------------------------------------------------

    def source_peer(self, source, listen='"127.0.0.1:0"'):
        """A connection through a proxy with that source: (drover, the
        client socket, the backend's view of the proxy's address, the
        backend)."""
        b = self.backend()
        d = self.proxy(proxy_conf([b.port], listen=listen,
                                  source='"%s"' % source))
        s = connect(d)
        self.addCleanup(s.close)
        self.assertTrue(echoed(s, b"src"))
        return d, s, b.peers[-1], b

    def test_source_ip(self):
        d, s, peer, b = self.source_peer("127.0.0.2")
        self.assertEqual(peer[0], "127.0.0.2")
        self.check_reuse(d, peer, b, False)

    def test_source_ip_port(self):
        port = free_port("127.0.0.2")
        d, s, peer, b = self.source_peer("127.0.0.2:%d" % port)
        self.assertEqual(peer, ("127.0.0.2", port))
        self.check_reuse(d, peer, b, True)

    def test_source_listen(self):
        listen = free_port()
        d, s, peer, b = self.source_peer(
            "listen", listen='"127.0.0.1:%d"' % listen)
        self.assertEqual(peer, ("127.0.0.1", listen))
        self.check_reuse(d, peer, b, True)

    def test_no_source_has_no_reuse_options(self):
        b = self.backend()
        d = self.proxy(proxy_conf([b.port]))
        s = connect(d)
        self.addCleanup(s.close)
        self.assertTrue(echoed(s, b"plain"))
        self.check_reuse(d, b.peers[-1], b, False)

    def check_reuse(self, d, peer, b, fixed):
        """SO_REUSEADDR and SO_REUSEPORT on the worker's own upstream
        socket (a copy taken with pidfd_getfd): both set for a fixed
        source port, neither otherwise."""
        if os.geteuid() != 0:
            self.skipTest("pidfd_getfd of another process needs root")
        self.assertEqual(platform.machine(), "x86_64",
                         "pidfd_getfd's syscall number here is x86_64's")
        worker = d.workers()[0]
        fd = worker_socket_fd(worker, peer[1], b.port)
        self.assertIsNotNone(fd, "no socket of worker %d from port %d"
                             % (worker, peer[1]))
        copy = pidfd_getfd(worker, fd)
        with socket.socket(fileno=copy) as c:
            self.assertEqual(c.getsockname()[1], peer[1])
            reuseaddr = c.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
            reuseport = c.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        self.assertEqual((bool(reuseaddr), bool(reuseport)), (fixed, fixed))


def tcp_inode(local_port, remote_port):
    """The inode of the established TCP socket local_port -> remote_port
    (IPv4, from /proc/net/tcp), or None."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            lport = int(fields[1].split(":")[1], 16)
            rport = int(fields[2].split(":")[1], 16)
            if (lport, rport, fields[3]) == (local_port, remote_port, "01"):
                return int(fields[9])
    return None


def worker_socket_fd(pid, local_port, remote_port):
    """pid's descriptor number of that connection, or None."""
    inode = tcp_inode(local_port, remote_port)
    if inode is None:
        return None
    fddir = "/proc/%d/fd" % pid
    for fd in os.listdir(fddir):
        try:
            target = os.readlink(os.path.join(fddir, fd))
        except OSError:
            continue
        if target == "socket:[%d]" % inode:
            return int(fd)
    return None


SYS_pidfd_getfd = 438       # x86_64


def pidfd_getfd(pid, fd):
    """A copy of pid's descriptor fd in this process."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        copy = libc.syscall(SYS_pidfd_getfd, pidfd, fd, 0)
        if copy < 0:
            err = ctypes.get_errno()
            raise OSError(err, "pidfd_getfd: %s" % os.strerror(err))
        return copy
    finally:
        os.close(pidfd)


if __name__ == "__main__":
    main()
