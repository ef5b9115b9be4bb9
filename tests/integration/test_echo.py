"""The echo service over real sockets: IPv4 and IPv6, back-pressure,
half-close and the idle timeout."""

import os
import select
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DroverTest, echo_roundtrip, ipv6_loopback_available,  # noqa
                       main, wait_for)


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
        self.assertEqual(echo_roundtrip(*d.port(), payload, timeout=20),
                         payload)

    def test_back_pressure_bounds_what_the_server_reads(self):
        """A client that sends without reading is stopped by TCP flow
        control once the server's output limit is reached: the server does
        not keep reading into memory. Everything sent still comes back."""
        d = self.drover(workers=1)
        d.start()
        s = socket.create_connection(d.port(), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.setblocking(False)
        chunk = os.urandom(64 * 1024)
        sent = bytearray()
        limit = 64 * 1024 * 1024
        # Send until the socket stays unwritable for a while (bounded).
        while len(sent) < limit:
            if not select.select([], [s], [], 0.5)[1]:
                break
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
        s.settimeout(20)
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
        s = socket.create_connection(d.port(), timeout=10)
        s.sendall(b"hi")
        self.assertEqual(s.recv(2), b"hi")
        # Idle now: the server closes after idle_timeout (1 s).
        self.assertEqual(s.recv(1), b"")
        s.close()

    def test_idle_timeout_spares_a_connection_that_moves(self):
        """idle_timeout counts from the last byte moved, not from the
        start: a slow but steady client outlives it several times."""
        d = self.drover(workers=1, idle=1)
        d.start()
        s = socket.create_connection(d.port(), timeout=10)
        deadline = time.monotonic() + 3.5      # 3.5 idle_timeouts
        i = 0
        while time.monotonic() < deadline:
            s.sendall(b"%d;" % i)
            want = b"%d;" % i
            got = b""
            while len(got) < len(want):
                b = s.recv(64)
                self.assertNotEqual(b, b"", "closed after %d bytes" % i)
                got += b
            self.assertEqual(got, want)
            i += 1
            time.sleep(0.25)    # the pace of the client, not a wait
        s.close()

    def test_many_connections_at_once(self):
        d = self.drover(workers=2)
        d.start()
        socks = [socket.create_connection(d.port(), timeout=5)
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
