"""A small raw HTTP/1.1 client for tests: exact bytes out, parsed
responses back (status, headers, body by Content-Length), nothing hidden."""

import socket


class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers          # lower-case name -> last value
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers,
                                        self.body[:80])


class Conn:
    """One TCP connection; responses are read incrementally from it."""

    def __init__(self, host, port, timeout=30):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def read_response(self, head_request=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        status = int(status)
        length = 0
        if not head_request and status not in (100, 204, 304):
            length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(status, reason, headers, body, head)

    def closed_by_server(self):
        """True once the server has closed (EOF, or reset)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def request(host, port, raw, head_request=False, timeout=30):
    """Send raw bytes on a new connection and read one response."""
    c = Conn(host, port, timeout)
    try:
        c.send(raw)
        return c.read_response(head_request)
    finally:
        c.close()


def get(path, host="t", extra=""):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n"
            % (path, host, extra)).encode()
