"""Backends the proxy tests start: a small HTTP/1.1 server on raw sockets
(bodies of every framing both ways, hashed as they stream, never kept
whole), with modes that misbehave on purpose, and a WebSocket echo on
the same server. Each counts the connections it accepted."""

import base64
import hashlib
import json
import os
import socket
import struct
import threading
import zlib

PATTERN = bytes(range(256)) * 4096          # 1 MiB, for big bodies
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def pattern_crc(n):
    """crc32 and length of the first n bytes of PATTERN repeated."""
    crc, left = 0, n
    while left > 0:
        piece = PATTERN[:min(left, len(PATTERN))]
        crc = zlib.crc32(piece, crc)
        left -= len(piece)
    return crc


class Reader:
    """Buffered reads from a socket: lines, exact counts, some."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError
        self.buf += data

    def until(self, sep):
        while sep not in self.buf:
            self.fill()
        out, self.buf = self.buf.split(sep, 1)
        return out

    def some(self, n):
        if not self.buf:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def read_body(r, headers):
    """Yield the request body's pieces: chunked or Content-Length."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int(r.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                while r.until(b"\r\n"):      # trailers
                    pass
                return
            while size > 0:
                piece = r.some(size)
                size -= len(piece)
                yield piece
            r.until(b"\r\n")
    left = int(headers.get("content-length", "0"))
    while left > 0:
        piece = r.some(left)
        left -= len(piece)
        yield piece


def read_head(r):
    """(method, target, version, [(name, value)], {lower name: value})."""
    head = r.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
    method, target, version = head[0].split(" ")
    fields = [tuple(x.strip() for x in line.split(":", 1))
              for line in head[1:]]
    return method, target, version, fields, {k.lower(): v
                                             for k, v in fields}


class Backend:
    """An HTTP/1.1 server on 127.0.0.1 in threads. mode: "normal";
    "drop" (read the request, close without a word); "hang" (read it,
    never answer); "bad" (a malformed response head); "closehead" (half
    a head, then close); "unhealthy" (500 to everything); "oneshot"
    (a connection answers one request, then closes at the next without
    a word: a kept connection that died while idle, every time); "pp"
    (a PROXY v1 line first on each connection, kept in proxy_lines);
    "interim" (a 100 and a 103 before the answer, each in a packet of
    its own, a moment apart); "early" (a 403 as soon as the head came,
    the body left unread); "clte" (a response with both Content-Length
    and Transfer-Encoding); "te10" (HTTP/1.0 with chunked); "surplus"
    (bytes past the Content-Length, in the same packet).
    heads lists (method, target) of every request head read, answered
    or not. unix: a path to listen on instead of a TCP port."""

    def __init__(self, port=0, mode="normal", unix=None):
        self.mode = mode
        self.connections = 0
        self.requests = []
        self.heads = []
        self.proxy_lines = []
        self.lock = threading.Lock()
        self.conns = []
        self.unix = unix
        if unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", port))
        self.sock.listen(256)
        self.sock.settimeout(0.2)
        self.port = None if unix else self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        if self.unix:
            return "unix:" + self.unix
        return "127.0.0.1:%d" % self.port

    def stop(self):
        self.running = False
        self.thread.join(10)
        self.sock.close()
        if self.unix:
            try:
                os.unlink(self.unix)
            except OSError:
                pass
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns = []

    def _accept(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(None)
            with self.lock:
                self.connections += 1
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        r = Reader(c)
        served = 0
        try:
            if self.mode == "pp":       # a PROXY v1 line comes first
                line = r.until(b"\r\n").decode()
                with self.lock:
                    self.proxy_lines.append(line)
            while self.running:
                if self.mode == "oneshot" and served == 1:
                    self._head(r)       # the next request: no answer
                    break
                if not self._one(c, r):
                    break
                served += 1
        except (EOFError, OSError, ValueError):
            pass
        try:
            c.close()
        except OSError:
            pass

    def _head(self, r):
        head = read_head(r)
        with self.lock:
            self.heads.append((head[0], head[1]))
        return head

    def _one(self, c, r):
        method, target, version, fields, h = self._head(r)
        if self.mode == "early":
            c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n"
                      b"\r\nno\n")
            while c.recv(65536):        # the body, unread, to the end
                pass
            return False
        crc, n = 0, 0
        for piece in read_body(r, h):
            crc = zlib.crc32(piece, crc)
            n += len(piece)
        info = {"method": method, "target": target, "version": version,
                "headers": fields, "body_len": n, "body_crc": crc}
        with self.lock:
            self.requests.append(info)
        if self.mode == "drop":
            return False
        if self.mode == "hang":
            threading.Event().wait(60)
            return False
        if self.mode == "bad":
            c.sendall(b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\nok")
            return False
        if self.mode == "cut":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                      + b"x" * 10)
            return False
        if self.mode == "closehead":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Le")
            return False
        if self.mode == "unhealthy":
            c.sendall(b"HTTP/1.1 500 No\r\nContent-Length: 0\r\n\r\n")
            return True
        if self.mode == "clte":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n"
                      b"2\r\nok\r\n0\r\n\r\n")
            return True
        if self.mode == "te10":
            c.sendall(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      b"Connection: keep-alive\r\n\r\n"
                      b"2\r\nok\r\n0\r\n\r\n")
            return True
        if self.mode == "surplus":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
                      b"okHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                      b"stale")
            return True
        if self.mode == "interim":
            # each in a packet of its own: the proxy reads them apart
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            threading.Event().wait(0.1)
            c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; "
                      b"rel=preload\r\n\r\n")
            threading.Event().wait(0.1)
        if h.get("upgrade", "").lower() == "websocket":
            self._websocket(c, r, h)
            return False
        return self._answer(c, method, target, info)

    def _answer(self, c, method, target, info):
        parts = target.split("/")
        if parts[1] == "gen":                  # /gen/MODE/N
            return self._gen(c, method, parts[2], int(parts[3]))
        if parts[1] == "hop":
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: keep-alive, "
                      b"X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5"
                      b"\r\nProxy-Thing: 1\r\nTrailer: X-T\r\nUpgrade: h2c"
                      b"\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok")
            return True
        body = json.dumps(info).encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body)
                  + (body if method != "HEAD" else b""))
        return True

    def _gen(self, c, method, mode, n):
        """n bytes of PATTERN, framed as mode says."""
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-test\r\n"
        if mode == "cl":
            head += b"Content-Length: %d\r\n" % n
        elif mode == "chunked":
            head += b"Transfer-Encoding: chunked\r\n"
        else:
            head += b"Connection: close\r\n"
        c.sendall(head + b"\r\n")
        if method == "HEAD":
            return mode != "close"
        left = n
        while left > 0:
            piece = PATTERN[:min(left, len(PATTERN) // 4)]
            if mode == "chunked":
                c.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            else:
                c.sendall(piece)
            left -= len(piece)
        if mode == "chunked":
            c.sendall(b"0\r\nX-Trailer: 1\r\n\r\n")
        return mode != "close"

    def _websocket(self, c, r, h):
        key = h["sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1(
            (key + WS_GUID).encode()).digest()).decode()
        c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket"
                   "\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s"
                   "\r\n\r\n" % accept).encode())
        while True:
            op, payload = ws_read(r)
            if op == 8:
                c.sendall(ws_frame(8, payload))
                return
            c.sendall(ws_frame(op, payload))


def ws_frame(op, payload, mask=None):
    """One final frame; masked (a client's) when mask is 4 bytes."""
    n = len(payload)
    head = bytes([0x80 | op])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def ws_read(r):
    """(opcode, payload) of the next frame on Reader r."""
    while len(r.buf) < 2:
        r.fill()
    b0, b1 = r.buf[0], r.buf[1]
    r.buf = r.buf[2:]
    n = b1 & 0x7f
    if n >= 126:
        size = 2 if n == 126 else 8
        while len(r.buf) < size:
            r.fill()
        n = int.from_bytes(r.buf[:size], "big")
        r.buf = r.buf[size:]
    mask = None
    if b1 & 0x80:
        while len(r.buf) < 4:
            r.fill()
        mask, r.buf = r.buf[:4], r.buf[4:]
    while len(r.buf) < n:
        r.fill()
    payload, r.buf = r.buf[:n], r.buf[n:]
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return b0 & 0x0f, payload
