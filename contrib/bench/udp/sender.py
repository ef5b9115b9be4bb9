#!/usr/bin/env python3
"""contrib/bench/udp/sender.py: datagrams lost by a UDP echo server.

    contrib/bench/udp/sender.py [-r RATE] [-d SECONDS] [-s SIZE] [-n SOCKETS]
                                [-w DRAIN] [-j] HOST PORT

Sends numbered datagrams (an 8-byte big-endian sequence number, padded
with zeros to SIZE bytes, default 64) at a steady RATE per second
(default 20000) for SECONDS (default 10) to HOST:PORT from SOCKETS
(default 8) client sockets, round robin, so that the flows spread across
the server's SO_REUSEPORT group (the kernel picks a socket by the 4-tuple
hash). Each socket is connect()ed to HOST:PORT, so it only takes replies
whose source is the address it sent to. The sends are paced by the clock
(what is due since the start is sent at once), the echoes read in the
same loop. After the last send it waits up to DRAIN seconds (default 1)
for late echoes (less once every datagram came back), then prints sent,
received, missing (sequence numbers never echoed), duplicates (echoed
more than once), send errors, refused (ECONNREFUSED: an ICMP port
unreachable came back, no socket was bound to the port), and the first
missing numbers with when they were sent; and the same as one line of
JSON starting with "udp-sender: " (-j: only that line). Flow is the same
measurement for a Python caller (tests/integration/test_udp.py).

The socket buffers are set large (SO_RCVBUFFORCE/SO_SNDBUFFORCE when
root, otherwise as large as net.core.[rw]mem_max allows) so that the
client's own sockets drop nothing: check UdpRcvbufErrors (nstat) to see
that they did not. Nothing here is a pass/fail test.
"""

import argparse
import errno
import json
import select
import socket
import struct
import sys
import time

SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
BUFSIZE = 8 << 20
SEQ = struct.Struct("!Q")


def big_buffers(sock, size=BUFSIZE):
    """Ask for size-byte send and receive buffers (forced when allowed)."""
    for force, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF),
                         (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, size)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, plain, size)


class Flow:
    """One measurement: numbered datagrams to addr, their echoes counted.
    run() may be called from a thread; stop() ends the sending early."""

    def __init__(self, addr, rate=20000, duration=10.0, size=64, sockets=8,
                 drain=1.0):
        if size < SEQ.size:
            raise ValueError("size must be at least %d bytes" % SEQ.size)
        self.addr = addr
        self.rate, self.duration = float(rate), float(duration)
        self.size, self.drain = size, float(drain)
        self.total = int(self.rate * self.duration)
        self.seen = bytearray(self.total)      # echoes per sequence number
        self.sent = 0
        self.received = 0
        self.foreign = 0        # replies that carry no number we sent
        self.unique = 0         # sequence numbers echoed at least once
        self.failed = 0         # sends that failed (never expected back)
        self.send_errors = 0
        self.refused = 0
        self.send_done = None   # monotonic time of the last send
        self.stopping = False
        fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.socks = []
        for _ in range(sockets):
            s = socket.socket(fam, socket.SOCK_DGRAM)
            big_buffers(s)
            s.connect(addr)
            s.setblocking(False)
            self.socks.append(s)
        self.pad = bytes(size - SEQ.size)

    def close(self):
        for s in self.socks:
            s.close()
        self.socks = []

    def stop(self):
        self.stopping = True

    def _read(self, sock):
        """Read every echo waiting on sock."""
        while True:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                return
            except ConnectionRefusedError:
                self.refused += 1
                continue
            if len(data) < SEQ.size:
                self.foreign += 1
                continue
            seq = SEQ.unpack_from(data)[0]
            if seq >= self.sent or len(data) != self.size:
                self.foreign += 1
                continue
            self.received += 1
            if self.seen[seq] == 0:
                self.unique += 1
            if self.seen[seq] < 254:
                self.seen[seq] += 1

    def _send(self, seq):
        sock = self.socks[seq % len(self.socks)]
        msg = SEQ.pack(seq) + self.pad
        for _ in range(2):
            try:
                sock.send(msg)
                return True
            except ConnectionRefusedError:
                # A pending ICMP error reported on this call; the
                # datagram was not sent: once more.
                self.refused += 1
            except (BlockingIOError, OSError) as e:
                if e.errno not in (errno.EAGAIN, errno.ENOBUFS):
                    raise
                self.send_errors += 1
                return False
        return False

    def run(self):
        """Send for duration seconds at rate, then drain; returns the
        summary (also kept as self.summary)."""
        poller = select.poll()
        by_fd = {}
        for s in self.socks:
            poller.register(s.fileno(), select.POLLIN)
            by_fd[s.fileno()] = s
        start = time.monotonic()
        self.start = start
        seq = 0
        while seq < self.total and not self.stopping:
            now = time.monotonic()
            due = min(self.total, int((now - start) * self.rate) + 1)
            # Send what is due, at most a burst of 256 between two reads.
            limit = min(due, seq + 256)
            while seq < limit:
                if not self._send(seq):
                    self.seen[seq] = 255    # not sent: never expected back
                    self.failed += 1
                seq += 1
            self.sent = seq
            wait = (start + seq / self.rate - time.monotonic()) * 1000
            for fd, _ in poller.poll(max(0, wait)):
                self._read(by_fd[fd])
        self.sent = seq
        self.send_done = time.monotonic()
        end = self.send_done + self.drain
        while self.unique < self.sent - self.failed:
            left = (end - time.monotonic()) * 1000
            if left <= 0:
                break
            for fd, _ in poller.poll(left):
                self._read(by_fd[fd])
        for s in self.socks:
            self._read(s)
        self.summary = self.summarize(time.monotonic() - start)
        return self.summary

    def summarize(self, elapsed):
        failed = missing = dups = 0
        first = []
        for i in range(self.sent):
            n = self.seen[i]
            if n == 255:
                failed += 1
            elif n == 0:
                missing += 1
                if len(first) < 10:
                    first.append(i)
            elif n > 1:
                dups += n - 1
        return {
            "sent": self.sent - failed,
            "received": self.received,
            "missing": missing,
            "duplicates": dups,
            "send_errors": self.send_errors,
            "refused": self.refused,
            "foreign": self.foreign,
            "rate": self.rate,
            "seconds": round(self.send_done - self.start, 3),
            "elapsed": round(elapsed, 3),
            "first_missing": first,
            "first_missing_at": [round(i / self.rate, 3) for i in first],
        }


def report(s, out=sys.stdout):
    print("sent %d in %.2fs (%.0f/s asked), received %d, missing %d, "
          "duplicates %d, send errors %d, refused %d, foreign %d"
          % (s["sent"], s["seconds"], s["rate"], s["received"],
             s["missing"], s["duplicates"], s["send_errors"], s["refused"],
             s["foreign"]), file=out)
    if s["first_missing"]:
        print("first missing: " + ", ".join(
            "%d (%.3fs)" % (i, t) for i, t in
            zip(s["first_missing"], s["first_missing_at"])), file=out)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("-r", "--rate", type=float, default=20000)
    ap.add_argument("-d", "--duration", type=float, default=10)
    ap.add_argument("-s", "--size", type=int, default=64)
    ap.add_argument("-n", "--sockets", type=int, default=8)
    ap.add_argument("-w", "--drain", type=float, default=1.0)
    ap.add_argument("-j", "--json", action="store_true",
                    help="print only the JSON line")
    args = ap.parse_args()
    if args.rate <= 0 or args.duration <= 0 or args.sockets < 1 or \
            args.size < SEQ.size or args.size > 65507:
        ap.error("rate, duration, sockets must be positive; size 8-65507")
    flow = Flow((args.host, args.port), args.rate, args.duration,
                args.size, args.sockets, args.drain)
    try:
        s = flow.run()
    finally:
        flow.close()
    if not args.json:
        report(s)
    print("udp-sender: " + json.dumps(s, sort_keys=True))
    sys.stdout.flush()
    return 0 if s["sent"] else 1


if __name__ == "__main__":
    sys.exit(main())
