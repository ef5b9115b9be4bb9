#!/usr/bin/env python3
"""contrib/bench/exec/app.py: a small HTTP/1.1 application server of the
kind `protocol = exec` runs, for the exec benchmark and make check.

    app.py [--port PORT] [--host HOST] [--startup-delay SECONDS]
           [--drain-idle SECONDS] [--body TEXT]

Listeners: the systemd way when LISTEN_FDS is set for this process
(LISTEN_PID == its pid): fds 3 .. 3+LISTEN_FDS-1, already listening.
Otherwise it binds HOST:PORT itself (SO_REUSEADDR), which is how such an
app runs without a supervisor (the stop-and-start comparison).

It answers every GET or HEAD with 200 and a small body naming its pid
(also in the X-Pid header), keeps connections alive (HTTP/1.1 default,
Connection: close honoured), and once it serves sends READY=1 on
NOTIFY_SOCKET (an abstract address when it starts with '@'), then
WATCHDOG=1 every WATCHDOG_USEC/2 when asked to. Start-up takes real time:
the imports of a typical app and --startup-delay (default 0.3 s) of
"loading" before it accepts anything.

SIGTERM or SIGINT: STOPPING=1, it stops accepting (the listeners stay
open: connections queued in a listener drover keeps wait there for the
next process), answers every request it has already read with
"Connection: close", closes a keep-alive connection once it has been idle
for --drain-idle seconds (default 1: a request already on its way is
still answered), and exits 0 when no connection is left. Single thread,
one selector loop, standard library only.
"""

import argparse
import decimal  # noqa: F401  (start-up cost of a typical app)
import email.utils
import errno
import json  # noqa: F401
import logging  # noqa: F401
import os
import selectors
import signal
import socket
import sys
import time
import urllib.parse  # noqa: F401
import uuid  # noqa: F401

MAX_HEAD = 16384
IDLE_TIMEOUT = 75.0       # keep-alive, when not stopping


def log(msg):
    """A line on stdout; under drover, which names the process itself."""
    if os.environ.get("DROVER_SERVER"):
        print(msg, flush=True)
    else:
        print("app[%d]: %s" % (os.getpid(), msg), flush=True)


def notify(msg):
    """Send one sd_notify datagram; nothing when there is no socket."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.sendto(msg.encode(), addr)
        except OSError as e:
            log("notify %r: %s" % (msg, e))


def inherited_listeners():
    """The listening sockets passed the systemd way, or None."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    try:
        n = int(os.environ.get("LISTEN_FDS", ""))
    except ValueError:
        return None
    for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(k, None)
    socks = []
    for fd in range(3, 3 + n):
        s = socket.socket(fileno=fd)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) != 1:
            sys.exit("app: fd %d is not a listening socket" % fd)
        socks.append(s)
    return socks


def own_listener(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(socket.SOMAXCONN)
    return s


class Conn:
    """One client connection: bytes in, responses out."""

    def __init__(self, sock, now):
        self.sock = sock
        self.inbuf = b""
        self.outbuf = b""
        self.closing = False      # close once outbuf is sent
        self.last = now           # last activity, for the idle timeouts


class App:

    def __init__(self, listeners, opts):
        self.listeners = listeners
        self.opts = opts
        self.sel = selectors.DefaultSelector()
        self.conns = {}
        self.stopping = None      # monotonic time of SIGTERM
        self.served = 0
        self.body = (opts.body + " from %d\n" % os.getpid()).encode()
        self.wake_r, self.wake_w = socket.socketpair()
        for s in (self.wake_r, self.wake_w):
            s.setblocking(False)

    # -- signals -----------------------------------------------------------

    def install_signals(self):
        signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_stop)
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")

    def on_stop(self, signum, frame):
        if self.stopping is None:
            self.stopping = time.monotonic()

    def begin_stop(self):
        notify("STOPPING=1")
        for s in self.listeners:
            try:
                self.sel.unregister(s)
            except KeyError:
                pass
        log("stopping: %d connections open" % len(self.conns))
        now = time.monotonic()
        for c in list(self.conns.values()):
            if not c.inbuf and not c.outbuf:
                c.last = now      # its drain-idle grace starts now

    # -- connections -------------------------------------------------------

    def accept(self, ls, now):
        for _ in range(64):
            try:
                sock, _ = ls.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    return
                raise
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Conn(sock, now)
            self.conns[sock.fileno()] = c
            self.sel.register(sock, selectors.EVENT_READ, c)

    def close(self, c):
        self.conns.pop(c.sock.fileno(), None)
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def readable(self, c, now):
        try:
            data = c.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close(c)
            return
        if not data:
            self.close(c)
            return
        c.last = now
        c.inbuf += data
        self.parse(c)

    def parse(self, c):
        """Answer every complete request in c.inbuf."""
        while not c.closing:
            end = c.inbuf.find(b"\r\n\r\n")
            if end < 0:
                if len(c.inbuf) > MAX_HEAD:
                    self.respond(c, 431, "Request Header Fields Too Large",
                                 b"", close=True)
                break
            head = c.inbuf[:end].decode("latin-1").split("\r\n")
            parts = head[0].split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                self.respond(c, 400, "Bad Request", b"", close=True)
                break
            method, _, version = parts
            headers = {}
            for line in head[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    self.respond(c, 400, "Bad Request", b"", close=True)
                    return
                headers[name.strip().lower()] = value.strip()
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                length = -1
            if length < 0 or "transfer-encoding" in headers:
                self.respond(c, 400, "Bad Request", b"", close=True)
                break
            if len(c.inbuf) < end + 4 + length:
                break
            c.inbuf = c.inbuf[end + 4 + length:]
            conn_hdr = headers.get("connection", "").lower()
            close = ("close" in conn_hdr or
                     (version == "HTTP/1.0" and "keep-alive" not in conn_hdr))
            if method in ("GET", "HEAD"):
                self.respond(c, 200, "OK", self.body, close,
                             head_only=method == "HEAD")
            else:
                self.respond(c, 405, "Method Not Allowed", b"", close)
            self.served += 1
        self.flush(c)

    def respond(self, c, status, reason, body, close, head_only=False):
        close = close or self.stopping is not None
        lines = ["HTTP/1.1 %d %s" % (status, reason),
                 "Date: " + email.utils.formatdate(usegmt=True),
                 "Server: drover-bench-app",
                 "X-Pid: %d" % os.getpid(),
                 "Content-Type: text/plain",
                 "Content-Length: %d" % len(body)]
        if close:
            lines.append("Connection: close")
            c.closing = True
        c.outbuf += ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not head_only:
            c.outbuf += body

    def flush(self, c):
        while c.outbuf:
            try:
                n = c.sock.send(c.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.close(c)
                return
            c.outbuf = c.outbuf[n:]
        if c.outbuf:
            self.sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE,
                            c)
        elif c.closing:
            self.close(c)
        else:
            self.sel.modify(c.sock, selectors.EVENT_READ, c)

    def expire(self, now):
        """Close connections idle too long: IDLE_TIMEOUT normally, the
        drain-idle grace once stopping."""
        limit = (self.opts.drain_idle if self.stopping is not None
                 else IDLE_TIMEOUT)
        for c in list(self.conns.values()):
            if not c.outbuf and now - c.last >= limit:
                self.close(c)

    # -- the loop ----------------------------------------------------------

    def run(self):
        for s in self.listeners:
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ, "listen")
        watchdog = 0.0
        if os.environ.get("WATCHDOG_PID", str(os.getpid())) == str(
                os.getpid()) and os.environ.get("WATCHDOG_USEC"):
            watchdog = int(os.environ["WATCHDOG_USEC"]) / 2e6
        next_ping = time.monotonic() + watchdog
        notify("READY=1\nSTATUS=serving")
        log("serving on %s" % ", ".join(
            "%s:%d" % s.getsockname()[:2] for s in self.listeners))
        stop_seen = False
        while True:
            now = time.monotonic()
            if self.stopping is not None and not stop_seen:
                stop_seen = True
                self.begin_stop()
            if stop_seen and not self.conns:
                break
            timeout = 0.2 if stop_seen else 1.0
            if watchdog:
                if now >= next_ping:
                    notify("WATCHDOG=1")
                    next_ping = now + watchdog
                timeout = min(timeout, max(0.0, next_ping - now))
            for key, ev in self.sel.select(timeout):
                now = time.monotonic()
                if key.data == "wake":
                    try:
                        while self.wake_r.recv(512):
                            pass
                    except BlockingIOError:
                        pass
                elif key.data == "listen":
                    if self.stopping is None:
                        self.accept(key.fileobj, now)
                else:
                    c = key.data
                    if c.sock.fileno() < 0:
                        continue
                    if ev & selectors.EVENT_WRITE:
                        self.flush(c)
                        if c.sock.fileno() < 0:
                            continue
                    if ev & selectors.EVENT_READ:
                        self.readable(c, now)
            self.expire(time.monotonic())
        log("stopped after %d requests" % self.served)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0,
                    help="bind HOST:PORT when no LISTEN_FDS is passed")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--startup-delay", type=float, default=0.3,
                    help="seconds of loading before serving (default 0.3)")
    ap.add_argument("--drain-idle", type=float, default=1.0,
                    help="when stopping, close a keep-alive connection "
                    "idle this long (default 1)")
    ap.add_argument("--body", default="hello",
                    help="response body (the pid is appended)")
    opts = ap.parse_args()
    listeners = inherited_listeners()
    if listeners is None:
        if not opts.port:
            ap.error("no LISTEN_FDS for this process and no --port")
        listeners = [own_listener(opts.host, opts.port)]
    app = App(listeners, opts)
    app.install_signals()
    # Loading: connections arriving now wait in the listen queue.
    end = time.monotonic() + opts.startup_delay
    while app.stopping is None and time.monotonic() < end:
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
