"""A pool of keep-alive HTTP/1.1 connections that idle between requests,
the way a client library's connection pool uses them: a pooled
connection is never checked before it is reused, the next request is
sent on the socket as it is. Whatever the server did to the connection
while it was idle shows up as a failed request.

A failure is any error sending or receiving, an EOF or a reset before
the whole response, no whole response within `timeout`, or a status
other than 200. A connection that failed, or whose response said
"Connection: close", is replaced by a new one: a reconnect. By default
(eager) at once, so that the pool always holds n connections and every
request is sent on one that has idled; lazy replaces it only when its
next request is due, as a pool that opens connections on demand does
(the new one is then used before it can idle, which hides some of what
a reload does to idle connections). A server that never closes a
healthy connection because of a reload gives 0 failures and 0
reconnects either way.

Shared by tests/integration/test_handover.py and contrib/bench/idle, so
that make check and the bench count the same things. Standard library
only; one thread runs every connection (selectors)."""

import random
import selectors
import socket
import threading
import time

FAILURE_KINDS = ("send", "eof", "reset", "timeout", "status", "connect")


class Result:
    """What the pool saw. requests counts every request it tried;
    answered_bytes sums the request bytes of the answered ones."""

    def __init__(self):
        self.requests = 0
        self.ok = 0
        self.failures = dict.fromkeys(FAILURE_KINDS, 0)
        self.reconnects = 0
        self.server_closes = 0      # answered with "Connection: close"
        self.answered_bytes = 0
        self.first_errors = []      # a few, to tell what went wrong

    @property
    def failed(self):
        return sum(self.failures.values())

    def percent(self):
        return 100.0 * self.failed / self.requests if self.requests else 0.0

    def summary(self):
        kinds = ", ".join("%s %d" % (k, v) for k, v in self.failures.items()
                          if v)
        return ("%d requests, %d failed (%.1f%%)%s, %d reconnects, "
                "%d answered with Connection: close"
                % (self.requests, self.failed, self.percent(),
                   " [%s]" % kinds if kinds else "", self.reconnects,
                   self.server_closes))


class _Conn:
    __slots__ = ("sock", "state", "due", "buf", "out", "started",
                 "ended_start")

    def __init__(self):
        self.ended_start = 0.0  # when the last request that ended began
        self.sock = None
        self.state = "idle"     # idle, send, read
        self.due = 0.0          # idle: next request; send/read: deadline
        self.buf = b""
        self.out = b""
        self.started = 0.0


def parse_response(buf):
    """(status, close, consumed) once buf holds a whole response with a
    Content-Length body, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split()[1])
    except (IndexError, ValueError):
        return (0, True, len(buf))
    length, close = 0, head[0].startswith("HTTP/1.0")
    for line in head[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            close = "close" in value
    if len(buf) < end + 4 + length:
        return None
    return (status, close, end + 4 + length)


class Pool:
    """n connections to addr, each idling a random time in idle (seconds,
    (lo, hi)) between requests for path."""

    def __init__(self, addr, n, idle=(0.0, 8.0), path="/ok", timeout=5.0,
                 seed=None, host="idle", lazy=False):
        self.addr, self.n, self.idle, self.timeout = addr, n, idle, timeout
        self.lazy = lazy
        self.req = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n"
                    % (path, host)).encode()
        self.rng = random.Random(seed)
        self.result = Result()
        self.conns = [_Conn() for _ in range(n)]
        self.sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = None
        self.error = None

    # -- public --------------------------------------------------------

    def connect_all(self):
        """Open every connection (blocking, bounded by timeout); each
        sends its first request after a random idle time, so the load is
        spread from the start."""
        now = time.monotonic()
        for c in self.conns:
            c.sock = self._connect()
            c.due = now + self.rng.uniform(*self.idle)

    def start(self):
        if self.conns[0].sock is None:
            self.connect_all()
        self._thread = threading.Thread(target=self._run_guarded,
                                        daemon=True)
        self._thread.start()

    def stop(self):
        """No new requests; wait for those in flight (each bounded by
        timeout), then return the result."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 10)
            if self._thread.is_alive():
                raise AssertionError("idle client did not stop")
        if self.error is not None:
            raise self.error
        return self.result

    def close(self):
        """Close every connection (once stopped); may be called again."""
        for c in self.conns:
            if c.sock is not None:
                c.sock.close()
                c.sock = None
        if self.sel is not None:
            self.sel.close()
            self.sel = None

    def all_done_since(self, t):
        """Every connection has ended a request it began after t
        (monotonic time): each has been used since then."""
        return all(c.ended_start > t for c in self.conns)

    def sockets(self):
        return [c.sock for c in self.conns if c.sock is not None]

    # -- the loop ------------------------------------------------------

    def _connect(self):
        s = socket.create_connection(self.addr, timeout=self.timeout)
        s.setblocking(False)
        return s

    def _run_guarded(self):
        try:
            self._run()
        except BaseException as e:     # reported by stop()
            self.error = e

    def _run(self):
        while True:
            now = time.monotonic()
            busy = 0
            for c in self.conns:
                if c.state == "idle":
                    if not self._stop.is_set() and c.due <= now:
                        self._begin(c, now)
                elif c.due <= now:
                    self._fail(c, "timeout", now)
                if c.state != "idle":
                    busy += 1
            if self._stop.is_set() and busy == 0:
                return
            nxt = min((c.due for c in self.conns), default=now + 0.05)
            wait = min(max(nxt - time.monotonic(), 0.0), 0.05)
            for key, ev in self.sel.select(wait):
                self._ready(key.data, ev)

    def _begin(self, c, now):
        r = self.result
        r.requests += 1
        c.started, c.buf, c.out = now, b"", self.req
        if c.sock is None:
            try:
                c.sock = self._connect()
            except OSError as e:
                self._note("connect", e)
                r.failures["connect"] += 1
                self._idle(c, now)
                return
            r.reconnects += 1
        c.due = now + self.timeout
        c.state = "send"
        self._send(c)

    def _send(self, c):
        try:
            n = c.sock.send(c.out)
        except BlockingIOError:
            n = 0
        except OSError as e:
            self._fail(c, "send", time.monotonic(), e)
            return
        c.out = c.out[n:]
        if c.out:
            self._watch(c, selectors.EVENT_WRITE)
        else:
            c.state = "read"
            self._watch(c, selectors.EVENT_READ)

    def _watch(self, c, ev):
        try:
            self.sel.modify(c.sock, ev, c)
        except KeyError:
            self.sel.register(c.sock, ev, c)

    def _ready(self, c, ev):
        if c.state == "send":
            self._send(c)
            return
        if c.state != "read":
            return
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except ConnectionResetError as e:
            self._fail(c, "reset", time.monotonic(), e)
            return
        except OSError as e:
            self._fail(c, "reset", time.monotonic(), e)
            return
        if not data:
            self._fail(c, "eof", time.monotonic())
            return
        c.buf += data
        done = parse_response(c.buf)
        if done is None:
            return
        status, close, _ = done
        now = time.monotonic()
        if status != 200:
            self._fail(c, "status", now, "status %d" % status)
            return
        r = self.result
        r.ok += 1
        r.answered_bytes += len(self.req)
        if close:
            r.server_closes += 1
            self._replace(c)
        self._idle(c, now)

    def _fail(self, c, kind, now, err=None):
        self.result.failures[kind] += 1
        self._note(kind, err, now - c.started)
        self._replace(c)
        self._idle(c, now)

    def _replace(self, c):
        """Drop the connection; open its successor now unless lazy (if
        that fails, the next request tries again)."""
        self._drop(c)
        if self.lazy:
            return
        try:
            c.sock = self._connect()
        except OSError:
            return
        self.result.reconnects += 1

    def _note(self, kind, err, after=0.0):
        if len(self.result.first_errors) < 5:
            self.result.first_errors.append(
                "%s after %.3fs%s" % (kind, after,
                                      ": %s" % err if err else ""))

    def _drop(self, c):
        if c.sock is not None:
            try:
                self.sel.unregister(c.sock)
            except KeyError:
                pass
            c.sock.close()
            c.sock = None

    def _idle(self, c, now):
        """Back in the pool: nothing watches the socket until the next
        request (the server's FIN or reset goes unnoticed, as in a pool
        that does not check)."""
        c.ended_start = c.started
        if c.sock is not None:
            try:
                self.sel.unregister(c.sock)
            except KeyError:
                pass
        c.state = "idle"
        c.due = now + self.rng.uniform(*self.idle)
