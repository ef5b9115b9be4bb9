"""The echo service over real sockets: IPv4 and IPv6, back-pressure,
half-close and the idle timeout."""

import os
import select
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (TIMEOUT, DroverTest, echo_roundtrip,  # noqa
                       ipv6_loopback_available, main, read_echo,
                       server_queues, sleeping, unread, wait_for)


class EchoTest(DroverTest):

    def test_ipv4_roundtrip_binary_data(self):
        d = self.drover(workers=2)
        d.start()
        payload = bytes(range(256)) * 64
        self.assertEqual(echo_roundtrip(*d.port(), payload), payload)

    @unittest.skipUnless(ipv6_loopback_available(), "no IPv6 loopback")
    def test_ipv6_listener(self):
        d = self.drover(workers=2, listen='"127.0.0.1:0", "[::1]:0"')
        d.start()
        (h4, p4), (h6, p6) = d.ports()["echo"]
        self.assertEqual(h6, "::1")
        self.assertEqual(echo_roundtrip(h6, p6, b"six"), b"six")
        self.assertEqual(echo_roundtrip(h4, p4, b"four"), b"four")

    def test_half_close_flushes_then_closes(self):
        d = self.drover(workers=1)
        d.start()
        payload = os.urandom(3 * 1024 * 1024)
        self.assertEqual(echo_roundtrip(*d.port(), payload,
                                        timeout=TIMEOUT), payload)

    def test_back_pressure_bounds_what_the_server_reads(self):
        """A client that sends without reading is stopped by TCP flow
        control once the server's output limit is reached: the server does
        not keep reading into memory. Everything sent still comes back."""
        d = self.drover(workers=1)
        d.start()
        worker = d.workers()[0]
        port = d.port()[1]
        s = socket.create_connection(d.port(), timeout=TIMEOUT)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.setblocking(False)
        chunk = os.urandom(64 * 1024)
        sent = bytearray()
        limit = 64 * 1024 * 1024
        # Send until the server has stopped reading: what we send queues
        # up unread at its end while it sleeps, its output to us full
        # (seen twice in a row), or until the limit. Not until our socket
        # has stayed full for some time: a slow server does that too.
        held = 0
        bound = time.monotonic() + TIMEOUT      # against a hang only
        while len(sent) < limit and held < 2:
            if time.monotonic() > bound:    # a hang, not a speed check
                self.fail("the server neither read on nor stopped reading")
            recv_q, send_q = server_queues(port, s)
            stopped = (recv_q > 0 and send_q > 0 and unread(s) > 0 and
                       sleeping(worker))
            held = held + 1 if stopped else 0
            if not select.select([], [s], [], 0.1)[1]:
                continue
            try:
                n = s.send(chunk)
            except BlockingIOError:
                continue
            sent += chunk[:n]
        self.assertLess(len(sent), limit,
                        "the server kept reading %d bytes without the "
                        "client reading anything" % len(sent))
        # Now read everything back while finishing the upload.
        s.setblocking(True)
        s.settimeout(TIMEOUT)
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            got += b
        s.close()
        self.assertEqual(len(got), len(sent))
        self.assertTrue(got == sent, "echoed bytes differ")

    def test_idle_timeout_closes(self):
        d = self.drover(workers=1, idle=1)
        d.start()
        s = socket.create_connection(d.port(), timeout=TIMEOUT)
        s.sendall(b"hi")
        self.assertEqual(s.recv(2), b"hi")
        # Idle now: the server closes after idle_timeout (1 s).
        self.assertEqual(s.recv(1), b"")
        s.close()

    def test_idle_timeout_spares_a_connection_that_moves(self):
        """idle_timeout counts from the last byte moved, not from the
        start: a slow but steady client outlives it several times. It
        sends every idle_timeout / 8; a close that comes when the client
        was itself held up for a whole idle_timeout since it last sent
        (a loaded machine) is the server's right and proves nothing, and
        the client tries again on a new connection."""
        idle = 2
        d = self.drover(workers=1, idle=idle)
        d.start()
        for _ in range(5):
            s = socket.create_connection(d.port(), timeout=TIMEOUT)
            try:
                closed = self.steady_client(s, idle)
            finally:
                s.close()
            if closed is None:
                return      # it outlived 3.5 idle_timeouts
            moves, gap = closed
            self.assertGreaterEqual(gap, idle, "closed after %d moves, "
                                    "%.2f s after the client last sent"
                                    % (moves, gap))
        self.skipTest("the client was held up for an idle_timeout on "
                      "every attempt")

    @staticmethod
    def steady_client(s, idle):
        """Echo a few bytes every idle / 8 for 3.5 idle timeouts: None,
        or (echoes, seconds since the previous send) when the server
        closes."""
        start = last = time.monotonic()
        i = 0
        while last - start < 3.5 * idle:
            time.sleep(idle / 8)    # the pace of the client, not a wait
            now = time.monotonic()
            want = b"%d;" % i
            try:
                s.sendall(want)
            except OSError:
                return i, now - last
            got = read_echo(s, len(want))
            if got != want:
                return i, now - last
            last = now
            i += 1
        return None

    def test_many_connections_at_once(self):
        d = self.drover(workers=2)
        d.start()
        socks = [socket.create_connection(d.port(), timeout=TIMEOUT)
                 for _ in range(200)]
        for i, s in enumerate(socks):
            s.sendall(b"%d;" % i)
        for i, s in enumerate(socks):
            want = b"%d;" % i
            got = b""
            while len(got) < len(want):
                got += s.recv(64)
            self.assertEqual(got, want)
        for s in socks:
            s.close()
        wait_for(lambda: echo_roundtrip(*d.port(), b"ok") == b"ok",
                 what="echo after many closes")


if __name__ == "__main__":
    main()
