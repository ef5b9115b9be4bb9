"""protocol = tcp_proxy over real sockets, with real backends the tests
start: bytes both ways, half-close either way, idle_timeout, a dead
upstream and retry_wait, the balance methods, a reload with an
established connection, and each source form with its socket options."""

import ctypes
import fcntl
import hashlib
import os
import platform
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (TIMEOUT, DroverTest, echo_roundtrip,  # noqa
                       free_port, main, pid_alive, read_echo, server_queues,
                       ss_listeners, wait_for)


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


class Scripted:
    """A TCP server of the test's own on 127.0.0.1 whose connections each
    run script(conn, index) in a thread; what the scripts record goes in
    self.notes (a list, under self.lock)."""

    def __init__(self, script, port=0):
        self.script = script
        self.conns = []
        self.notes = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(TIMEOUT)
            with self.lock:
                self.conns.append(c)
                i = len(self.conns) - 1
            threading.Thread(target=self.run, args=(c, i),
                             daemon=True).start()

    def run(self, c, i):
        try:
            self.script(c, i)
        except OSError as e:
            self.note(("error", i, e.errno))

    def note(self, what):
        with self.lock:
            self.notes.append(what)

    def stop(self):
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


def reset_close(sock):
    """close() with SO_LINGER {1, 0}: a reset, not a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))
    sock.close()


def unsent(sock):
    """Bytes in sock's send queue not yet acknowledged by the peer."""
    buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    return int.from_bytes(buf, sys.byteorder)


def unread_bytes(sock):
    buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int.from_bytes(buf, sys.byteorder)


def read_to_end(s):
    """(bytes, the error that ended them or None for a clean EOF)."""
    got = b""
    while True:
        try:
            chunk = s.recv(65536)
        except OSError as e:
            return got, e
        if not chunk:
            return got, None
        got += chunk


def fd_kinds(pid):
    """{"socket": n, "pipe": n, ...} of pid's descriptors."""
    kinds = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        kind = target.split(":")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def accept_queue(port):
    """Connections waiting in the listener's accept queue (ss Recv-Q)."""
    out = subprocess.run(["ss", "-Hltn", "sport = :%d" % port],
                         capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[1]) if len(out) >= 2 else -1


def upstream_conf(name, ports, **keys):
    servers = ", ".join('"127.0.0.1:%d"' % p for p in ports)
    text = "upstream %s {\n    servers = {%s}\n" % (name, servers)
    for k, v in keys.items():
        text += "    %s = %s\n" % (k, v)
    return text + "}\n"


def proxy_conf(ports, idle=60, listen='"127.0.0.1:0"', server_keys="",
               **keys):
    return upstream_conf("app", ports, **keys) + """
server p {
    listen = {%s}
    protocol = tcp_proxy
    upstream = app
    idle_timeout = %d
    %s
}
""" % (listen, idle, server_keys)


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

    def test_carried_address_goes_on_in_a_v2_header(self):
        """A PROXY v2 header in (proxy_protocol = on) and v2 out: the
        backend is told the address the load balancer gave, not ours."""
        b = self.backend()
        d = self.proxy(proxy_conf([b.port], proxy_protocol="v2",
                                  server_keys="proxy_protocol = on"))
        sig = b"\r\n\r\n\x00\r\nQUIT\n"
        addrs = (socket.inet_aton("10.1.2.3") + socket.inet_aton("10.9.9.9") +
                 struct.pack("!HH", 1111, 2222))
        head_in = sig + b"\x21\x11" + struct.pack("!H", len(addrs)) + addrs
        with connect(d) as s:
            s.sendall(head_in + b"data")
            got = read_echo(s, 16 + 12 + 4)
        self.assertEqual(got[:12], sig)
        self.assertEqual(got[12:14], b"\x21\x11")    # v2 PROXY, TCP4
        self.assertEqual(struct.unpack("!H", got[14:16])[0], 12)
        self.assertEqual(got[16:20], socket.inet_aton("10.1.2.3"))
        self.assertEqual(struct.unpack("!H", got[24:26])[0], 1111)
        self.assertEqual(got[28:], b"data")

    # -- hostile peers --------------------------------------------------

    def scripted(self, script, **kw):
        b = Scripted(script, **kw)
        self.addCleanup(b.stop)
        return b

    def test_answer_kept_when_writing_to_the_server_fails(self):
        """The server reads 100 bytes, answers and closes while the client
        still uploads (a reset: input left unread). Writing to it fails;
        that stops the upload only: the answer reaches the client whole,
        every time."""
        answer = b"RESPONSE-" * 1000 + b"END\n"

        def script(c, i):
            c.recv(100)
            c.sendall(answer)
            c.close()
        b = self.scripted(script)
        d = self.proxy(proxy_conf([b.port]))
        for i in range(10):
            s = connect(d)

            def upload():
                try:
                    for _ in range(48):     # 3 MiB
                        s.sendall(b"u" * 65536)
                except OSError:
                    pass
            t = threading.Thread(target=upload, daemon=True)
            t.start()
            got, err = read_to_end(s)
            t.join(TIMEOUT)
            s.close()
            self.assertEqual(len(got), len(answer),
                             "round %d ended by %r" % (i, err))
            self.assertEqual(got, answer)

    def test_lingering_close_keeps_the_tail_for_a_slow_client(self):
        """The server answers, sends its FIN and closes with the client's
        upload unread (a reset after its FIN: a clean end). The client,
        with a small receive buffer, reads nothing until the proxy is
        done with it, and keeps uploading: the proxy's close must not
        reset away what is still queued to the client."""
        answer = os.urandom(48 * 1024)

        def script(c, i):
            c.sendall(answer)
            c.shutdown(socket.SHUT_WR)
            wait_for(lambda: unsent(c) == 0 and unread_bytes(c) > 0,
                     what="the answer taken by the proxy, upload unread")
            c.close()       # with unread input: a reset
        b = self.scripted(script)
        d = self.proxy(proxy_conf([b.port]))
        port = d.port("p")[1]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(TIMEOUT)
        s.connect(("127.0.0.1", port))
        stop = threading.Event()

        def upload():
            try:
                for _ in range(4096):      # bounded: 64 MiB at most
                    if stop.is_set():
                        return
                    s.sendall(b"u" * 16384)
            except OSError:
                pass
        t = threading.Thread(target=upload, daemon=True)
        t.start()
        # The proxy is done relaying: its end of the connection is no
        # longer established (half-closed, or closed).
        wait_for(lambda: server_queues(port, s) == (-1, -1),
                 what="the proxy's end of the client connection to end")
        got, err = read_to_end(s)
        stop.set()
        t.join(TIMEOUT)
        self.assertEqual((len(got), err), (len(answer), None))
        self.assertEqual(got, answer)

    def test_a_server_that_closed_cleanly_is_not_counted_failed(self):
        """The server closes at once (a FIN, nothing sent); the client
        then sends, so writes to the server fail. Neither the clean EOF
        nor a failed write is a failure of the server: after more such
        connections than max_fails it still serves."""
        def script(c, i):
            if i < 4:
                c.close()
                return
            c.sendall(b"still up")
            c.shutdown(socket.SHUT_WR)
            read_to_end(c)
        b = self.scripted(script)
        d = self.proxy(proxy_conf([b.port], retry_wait=0, max_fails=2))
        for i in range(4):
            with connect(d) as s:
                self.assertEqual(s.recv(1), b"")    # the FIN passed on
                try:
                    for _ in range(512):
                        s.sendall(b"x" * 4096)
                except OSError:
                    pass
        with connect(d) as s:
            got, err = read_to_end(s)
        self.assertEqual(got, b"still up")
        self.assertNotIn("before it sent anything", d.log())
        self.assertNotIn("no connection", d.log())

    def test_a_server_reset_reaches_the_client_as_a_reset(self):
        """The server sends 100000 bytes, then resets: the client gets
        them all, then a reset, not a clean EOF that would make a cut
        transfer look complete."""
        data = os.urandom(100000)

        def script(c, i):
            c.sendall(data)
            wait_for(lambda: unsent(c) == 0, what="the proxy to take it")
            reset_close(c)
        b = self.scripted(script)
        d = self.proxy(proxy_conf([b.port]))
        with connect(d) as s:
            got, err = read_to_end(s)
        self.assertEqual(got, data)
        self.assertIsInstance(err, ConnectionResetError)

    def test_a_client_reset_reaches_the_server_as_a_reset(self):
        def script(c, i):
            got, err = read_to_end(c)
            b.note((got, err))
        b = self.scripted(script)
        d = self.proxy(proxy_conf([b.port]))
        s = connect(d)
        s.sendall(b"x" * 1000)
        wait_for(lambda: b.conns, what="the server connection")
        reset_close(s)
        wait_for(lambda: b.notes, what="the server's end of the stream")
        got, err = b.notes[0]
        self.assertLessEqual(len(got), 1000)
        self.assertIsInstance(err, ConnectionResetError)

    def test_clients_gone_during_retry_wait_are_dropped(self):
        """Clients that close or reset while their connect waits for a
        dead upstream (retry_wait) are dropped at once; one that sent
        bytes and its FIN is kept and proxied once a server listens."""
        port = free_port()
        d = self.proxy(proxy_conf([port], retry_wait=300))
        listen = d.port("p")[1]
        worker = d.workers()[0]
        base = fd_kinds(worker).get("socket", 0)
        keep = connect(d)
        keep.sendall(b"kept")
        keep.shutdown(socket.SHUT_WR)
        for i in range(20):
            s = connect(d)
            if i % 2:
                reset_close(s)
            else:
                s.close()
        wait_for(lambda: accept_queue(listen) == 0,
                 what="every client accepted")
        wait_for(lambda: fd_kinds(worker).get("socket", 0) <= base + 2,
                 what="the gone clients' sockets closed (have %s)"
                 % fd_kinds(worker))
        b = self.backend(port=port)
        got, err = read_to_end(keep)
        keep.close()
        self.assertEqual((got, err), (b"kept", None))
        self.assertEqual(len(b.peers), 1)

    def test_pipes_capped_per_worker(self):
        """max_connections = 40: a quarter, 10 pipes, at most. 20
        connections push past the splice threshold to a server that
        stops reading, so each direction holds its bytes; those above
        the cap copy through a buffer, and every byte arrives."""
        release = threading.Event()

        def script(c, i):
            h = hashlib.sha256()
            n = 0
            while n < 256 * 1024:
                chunk = c.recv(256 * 1024 - n)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
            b.note(("reached", i))
            release.wait(TIMEOUT)
            while True:
                chunk = c.recv(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
            b.note(("sum", h.hexdigest()))
        b = self.scripted(script)
        d = self.proxy(proxy_conf([b.port],
                                  server_keys="max_connections = 40"))
        listen = d.port("p")[1]
        worker = d.workers()[0]
        base = fd_kinds(worker).get("pipe", 0)
        chunk = os.urandom(65536)
        clients = []
        for i in range(20):
            s = connect(d)
            s.setblocking(False)
            clients.append([s, b"%08d" % i + chunk, hashlib.sha256()])
            self.addCleanup(s.close)

        def push():
            for c in clients:
                while True:
                    if not c[1]:
                        c[1] = chunk
                    try:
                        n = c[0].send(c[1])
                    except BlockingIOError:
                        break
                    c[2].update(c[1][:n])
                    c[1] = c[1][n:]

        def held():
            push()
            with b.lock:
                reached = sum(1 for x in b.notes if x[0] == "reached")
            return reached == 20 and all(
                server_queues(listen, c[0])[0] > 0 for c in clients)
        wait_for(held, what="every connection held by the server")
        pipes = (fd_kinds(worker).get("pipe", 0) - base) // 2    # 2 fds each
        release.set()
        for c in clients:
            c[0].setblocking(True)
            c[0].settimeout(TIMEOUT)
            c[0].sendall(c[1])
            c[2].update(c[1])
            c[0].shutdown(socket.SHUT_WR)
        wait_for(lambda: sum(1 for x in b.notes if x[0] == "sum") == 20,
                 what="every stream read to its end")
        self.assertLessEqual(pipes, 10)
        self.assertEqual(sorted(x[1] for x in b.notes if x[0] == "sum"),
                         sorted(c[2].hexdigest() for c in clients))

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
