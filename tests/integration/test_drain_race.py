"""No request discarded at the end of a grace: a request that arrives
just as drover closes an idle connection gets a response, or a reset or
EOF that means it was not processed; it is never read and dropped.

The server's "bytes_in" total counts every byte it reads, lingering
reads included. Clients send their requests at random moments around
the close and count the bytes of the requests that were answered; once
the server has closed every one of those connections, bytes_in must be
exactly that sum (plus the /status request that reads it). A byte more
is a request the server read and never answered.

Cases: (a) a graceful stop (SIGQUIT: a drain with no next generation,
idle connections get a grace and are then closed), requests in the 1 s
around the moment the grace ends. That moment is measured first (SIGQUIT
to the close of an idle connection); three drovers then stop side by
side. The /status request that reads the counters is begun before the
stop and finished after the race, so the stopping worker answers it as a
request in flight. (b) The keep-alive timeout (keepalive_timeout = 1),
requests after 0.8-1.2 s of idle."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (TIMEOUT, DroverTest, listening_inodes, main,  # noqa
                       wait_for)
from idleclient import parse_response  # noqa: E402

SERVER = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    header_timeout = 60
    keepalive_timeout = %(keepalive)d
    location "/ok" { return = "200 ok" }
    location "/status" { stats = json }
}
"""

REQ = b"GET /ok HTTP/1.1\r\nHost: race\r\n\r\n"
STATUS = b"GET /status HTTP/1.1\r\nHost: race\r\n\r\n"
CONNS = 40              # connections per drover instance and round
INSTANCES = 3           # graceful stops run side by side
WINDOW = 0.5            # requests in [close - WINDOW, close + WINDOW]
ATTEMPTS = 3            # keep-alive case: requests per connection


def exchange(sock, data, timeout):
    """Send data, read one whole response: True if answered (200), False
    on any error, EOF or reset before it, or timeout."""
    sock.settimeout(timeout)
    buf = b""
    try:
        sock.sendall(data)
        while True:
            done = parse_response(buf)
            if done is not None:
                return done[0] == 200
            chunk = sock.recv(65536)
            if not chunk:
                return False
            buf += chunk
    except OSError:
        return False


def server_inodes(port, clients):
    """Inodes of the server's ends of the clients' connections (ss)."""
    mine = {s.getsockname()[1] for s in clients}
    out = subprocess.run(["ss", "-Htne", "state", "established",
                          "sport = :%d" % port],
                         capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        f = line.split()
        peer = int(f[3].rsplit(":", 1)[1])
        ino = re.search(r"ino:(\d+)", line)
        if peer in mine and ino:
            found[peer] = int(ino.group(1))
    if len(found) != len(mine):
        raise AssertionError("ss shows %d of %d connections"
                             % (len(found), len(mine)))
    return set(found.values())


def all_closed(pids, inodes):
    """None of inodes is open in any of pids any more (the server has
    finished with those connections: whatever it read is counted)."""
    for p in pids:
        try:
            if listening_inodes(p) & inodes:
                return False
        except OSError:     # the process is gone: so are its sockets
            pass
    return True


class Ledger:
    """The bytes of the requests that were answered."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answered = 0
        self.sent_late = 0      # sent, not answered
        self.requests = 0

    def add(self, ok, n):
        with self.lock:
            self.requests += 1
            if ok:
                self.answered += n
            else:
                self.sent_late += 1


class DrainRaceTest(DroverTest):

    def start(self, keepalive=75):
        d = self.drover(workers=1, servers=SERVER % {"keepalive":
                                                     keepalive})
        d.start()
        d.wait_workers(1)
        return d

    def warm(self, d, n, ledger):
        """n keep-alive connections, one request answered on each."""
        socks = [socket.create_connection(d.port("web"), timeout=TIMEOUT)
                 for _ in range(n)]
        for s in socks:
            ok = exchange(s, REQ, TIMEOUT)
            self.assertTrue(ok, "a first request failed")
            ledger.add(ok, len(REQ))
        return socks

    def check(self, ledger, bytes_in, extra, what):
        expected = ledger.answered + extra
        msg = ("%s: the server read %d bytes, the answered requests (and "
               "/status) sent %d: %+d bytes read and never answered; %d "
               "requests, %d not answered"
               % (what, bytes_in, expected, bytes_in - expected,
                  ledger.requests, ledger.sent_late))
        print(msg)
        self.assertEqual(bytes_in, expected, msg)

    # -- (a) graceful stop ---------------------------------------------

    def grace(self):
        """Seconds from SIGQUIT to the close of an idle keep-alive
        connection, measured once: the moment the race aims at."""
        d = self.start()
        ledger = Ledger()
        [s] = self.warm(d, 1, ledger)
        t0 = time.monotonic()
        d.signal(signal.SIGQUIT)
        s.settimeout(TIMEOUT)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        g = time.monotonic() - t0
        s.close()
        d.wait_exit()
        return g

    def test_graceful_stop_discards_nothing(self):
        g = self.grace()
        rng = random.Random()
        seeds = [rng.randrange(1 << 30) for _ in range(INSTANCES)]
        results = [None] * INSTANCES

        def one(i):
            try:
                results[i] = self.stop_race(g, seeds[i])
            except BaseException as e:      # reported below
                results[i] = e
        threads = [threading.Thread(target=one, args=(i,), daemon=True)
                   for i in range(INSTANCES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(g + WINDOW + 4 * TIMEOUT)
            self.assertFalse(t.is_alive(), "a race round hangs")
        for r in results:
            if isinstance(r, BaseException):
                raise r
        late = sum(ledger.sent_late for _, ledger in results)
        self.assertTrue(0 < late < INSTANCES * CONNS,
                        "the requests missed the window (%d of %d late)"
                        % (late, INSTANCES * CONNS))
        for bytes_in, ledger in results:
            self.check(ledger, bytes_in, len(STATUS),
                       "graceful stop (grace %.2fs)" % g)

    def stop_race(self, grace, seed):
        """One drover, CONNS idle connections, a graceful stop, a request
        on each connection at a random moment around the grace's end.
        Returns (bytes_in at the end, the ledger)."""
        rng = random.Random(seed)
        d = self.start()
        ledger = Ledger()
        host, port = d.port("web")
        # The request that reads the counters at the end is begun now:
        # in flight (answered), not idle (closed) when the stop comes.
        holder = socket.create_connection((host, port), timeout=TIMEOUT)
        head, tail = STATUS[:-2], STATUS[-2:]
        holder.sendall(head)
        socks = self.warm(d, CONNS, ledger)
        inodes = server_inodes(port, socks)
        worker = d.workers()
        at = [rng.uniform(max(0.0, grace - WINDOW), grace + WINDOW)
              for _ in socks]
        t0 = time.monotonic()
        d.signal(signal.SIGQUIT)

        def client(s, when):
            time.sleep(max(0.0, t0 + when - time.monotonic()))  # workload
            ledger.add(exchange(s, REQ, TIMEOUT / 3), len(REQ))
        threads = [threading.Thread(target=client, args=(s, w), daemon=True)
                   for s, w in zip(socks, at)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(grace + WINDOW + TIMEOUT)
            if t.is_alive():
                raise AssertionError("a client hangs")
        for s in socks:
            s.close()
        wait_for(lambda: all_closed(worker, inodes),
                 what="the server to close the race connections")
        holder.settimeout(TIMEOUT)
        holder.sendall(tail)
        body = read_body(holder)
        holder.close()
        d.wait_exit()
        return json.loads(body)["total"]["bytes_in"], ledger

    # -- (b) the keep-alive timeout ------------------------------------

    def test_keepalive_timeout_discards_nothing(self):
        d = self.start(keepalive=1)
        ledger = Ledger()
        socks = [socket.create_connection(d.port("web"), timeout=TIMEOUT)
                 for _ in range(CONNS * 2)]
        inodes = server_inodes(d.port("web")[1], socks)
        worker = d.workers()
        rng = random.Random()
        first_failed = []

        def client(s, seed):
            # Each connection's idle time counts from its own response,
            # as the server's keep-alive timeout does.
            r = random.Random(seed)
            ok = exchange(s, REQ, TIMEOUT)
            ledger.add(ok, len(REQ))
            if not ok:
                first_failed.append(s)
                return
            for _ in range(ATTEMPTS):
                time.sleep(r.uniform(0.8, 1.2))     # the workload: idle
                ok = exchange(s, REQ, TIMEOUT / 3)
                ledger.add(ok, len(REQ))
                if not ok:
                    return
        threads = [threading.Thread(target=client,
                                    args=(s, rng.randrange(1 << 30)),
                                    daemon=True) for s in socks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT + ATTEMPTS * (1.2 + TIMEOUT))
            self.assertFalse(t.is_alive(), "a client hangs")
        self.assertEqual(first_failed, [], "a first request failed")
        for s in socks:
            s.close()
        wait_for(lambda: all_closed(worker, inodes),
                 what="the server to close the race connections")
        with socket.create_connection(d.port("web"),
                                      timeout=TIMEOUT) as s:
            s.sendall(STATUS)
            body = read_body(s)
        self.assertTrue(0 < ledger.sent_late < ledger.requests - len(socks),
                        "the requests missed the window (%d of %d late)"
                        % (ledger.sent_late, ledger.requests))
        self.check(ledger, json.loads(body)["total"]["bytes_in"],
                   len(STATUS), "keep-alive timeout")


def read_body(sock):
    buf = b""
    while True:
        done = parse_response(buf)
        if done is not None:
            end = buf.find(b"\r\n\r\n") + 4
            return buf[end:done[2]]
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("/status: EOF after %r" % buf[:200])
        buf += chunk


if __name__ == "__main__":
    main()
