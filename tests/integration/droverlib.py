"""Helpers for drover's integration tests: start the real daemon on
loopback ports chosen by the kernel, wait on conditions (never on fixed
sleeps), and stop only the processes the test started."""

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
import unittest

DROVER = os.environ.get("DROVER") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "drover")


# How long a wait on a condition may take before the test fails. It only
# keeps a broken build from hanging the suite: the tests never assert how
# long anything took (a loaded machine makes any such ceiling fail).
TIMEOUT = 30.0


def wait_for(cond, timeout=TIMEOUT, what="condition", interval=0.02):
    """Poll cond() until it returns a true value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:     # gone between the kill(0) and the read
        return False


def children(pid):
    """Direct children of pid, from /proc (no pgrep)."""
    out = []
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            out = [int(x) for x in f.read().split()]
    except OSError:
        return []
    return [p for p in out if pid_alive(p)]


def proc_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError("no Uid line for %d" % pid)


def listening_inodes(pid):
    """Socket inodes among pid's fds (listening or not)."""
    inodes = set()
    fddir = "/proc/%d/fd" % pid
    for fd in os.listdir(fddir):
        try:
            target = os.readlink(os.path.join(fddir, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(int(m.group(1)))
    return inodes


def ss_listeners(port):
    """[(pid, inode)] of TCP listeners on port, asking the kernel (ss)."""
    out = subprocess.run(["ss", "-Hltnpe", "sport = :%d" % port],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        pids = [int(p) for p in re.findall(r"pid=(\d+)", line)]
        ino = re.search(r"ino:(\d+)", line)
        for p in pids:
            rows.append((p, int(ino.group(1)) if ino else None))
    return rows


def ss_connection_pids(port):
    """Pids holding established server-side connections on local port."""
    out = subprocess.run(["ss", "-Htnp", "state", "established",
                          "sport = :%d" % port],
                         capture_output=True, text=True, check=True).stdout
    pids = []
    for line in out.splitlines():
        pids.extend(int(p) for p in re.findall(r"pid=(\d+)", line))
    return pids


def unread(sock):
    """Bytes waiting in the socket's receive queue."""
    buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int.from_bytes(buf, sys.byteorder)


def server_queues(port, client):
    """(Recv-Q, Send-Q) of the server's end of the connection from client
    (ss), or (-1, -1) when it is no longer established."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established",
         "( sport = :%d and dport = :%d )" % (port, client.getsockname()[1])],
        capture_output=True, text=True, check=True).stdout.split()
    return (int(out[0]), int(out[1])) if len(out) >= 2 else (-1, -1)


def sleeping(pid):
    """pid sleeps (in epoll_wait, for a worker with nothing to do)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "S"


def echo_roundtrip(host, port, payload=b"hello drover\n", timeout=TIMEOUT):
    """Connect, send payload, half-close, read to EOF; return the bytes.
    The payload is sent from a thread while this one reads, so a payload
    larger than what the socket buffers hold cannot deadlock."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))

        def send_all():
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        sender.join(timeout)
        return data


def numbered_conns(host, port, n, timeout=TIMEOUT):
    """n connections, connection i having sent b"i;" (for an echo)."""
    socks = []
    try:
        for i in range(n):
            s = socket.create_connection((host, port), timeout=timeout)
            s.sendall(b"%d;" % i)
            socks.append(s)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def read_echo(sock, n):
    """Up to n bytes from sock; fewer if it ends first (EOF, reset or its
    timeout): what a lost connection gives back."""
    got = b""
    while len(got) < n:
        try:
            chunk = sock.recv(n - len(got))
        except (ConnectionResetError, socket.timeout):
            chunk = b""
        if not chunk:
            break
        got += chunk
    return got


def ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port(host="127.0.0.1", udp=False):
    """A port that was free a moment ago (for tests needing a fixed port),
    for TCP or (udp) UDP: the two are apart."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    with socket.socket(fam, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


ECHO_SERVER = """
server echo {
    listen = {%(listen)s}
    protocol = echo
    idle_timeout = %(idle)d
}
"""


class Drover:
    """One drover instance under test, in its own temporary directory."""

    def __init__(self, workers=2, listen='"127.0.0.1:0"', idle=60,
                 daemon=False, extra="", servers=None, tmpdir=None,
                 shutdown_timeout=10, log_level="info"):
        self.dir = tmpdir or tempfile.mkdtemp(prefix="drover-test-")
        self.conf = os.path.join(self.dir, "drover.conf")
        self.pid_file = os.path.join(self.dir, "drover.pid")
        self.ports_file = os.path.join(self.dir, "drover.ports")
        self.log_file = os.path.join(self.dir, "stderr.log")
        self.error_log = os.path.join(self.dir, "error.log")
        self.proc = None
        self.master = None
        self.started_pids = set()
        self.params = dict(workers=workers, listen=listen, idle=idle,
                           daemon=daemon, extra=extra, servers=servers,
                           shutdown_timeout=shutdown_timeout,
                           log_level=log_level)
        self.write_conf()

    def conf_text(self, workers=None, listen=None, idle=None, daemon=None,
                  extra=None, servers=None, shutdown_timeout=None,
                  log_level=None):
        p = dict(self.params)
        for k, v in (("workers", workers), ("listen", listen),
                     ("idle", idle), ("daemon", daemon), ("extra", extra),
                     ("servers", servers),
                     ("shutdown_timeout", shutdown_timeout),
                     ("log_level", log_level)):
            if v is not None:
                p[k] = v
        text = ("workers = %s\ndaemon = %s\npid_file = \"%s\"\n"
                "ports_file = \"%s\"\nerror_log = \"%s\"\n"
                "log_level = %s\nshutdown_timeout = %d\n%s\n"
                % (p["workers"], "true" if p["daemon"] else "false",
                   self.pid_file, self.ports_file, self.error_log,
                   p["log_level"], p["shutdown_timeout"], p["extra"]))
        if p["servers"] is not None:
            text += p["servers"]
        else:
            text += ECHO_SERVER % p
        return text

    def write_conf(self, text=None, **kw):
        if text is None:
            text = self.conf_text(**kw)
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.conf)

    # -- starting and stopping -------------------------------------------

    def start(self, foreground=True, wait=True, preexec=None, argv_prefix=()):
        """Start drover; with wait, return once the ports file exists."""
        args = list(argv_prefix) + [DROVER, "-c", self.conf]
        if foreground:
            args.append("-f")
        self.stderr = open(self.log_file, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr,
                                     preexec_fn=preexec)
        if foreground and not argv_prefix:
            self.master = self.proc.pid
        if wait:
            wait_for(lambda: os.path.exists(self.ports_file)
                     or self.proc.poll() is not None,
                     what="drover to serve (ports file)")
            if not os.path.exists(self.ports_file):
                raise AssertionError("drover exited %s before serving:\n%s"
                                     % (self.proc.returncode, self.log()))
            if self.master is None:
                self.master = self.read_pid()
            self.started_pids.update(self.workers())
        return self.proc

    def read_pid(self):
        with open(self.pid_file) as f:
            return int(f.read().strip())

    def ports(self):
        """{server: [(host, port), ...]} from the ports file."""
        out = {}
        with open(self.ports_file) as f:
            for line in f:
                name, addr = line.split()
                host, port = addr.rsplit(":", 1)
                out.setdefault(name, []).append((host.strip("[]"),
                                                 int(port)))
        return out

    def port(self, server="echo", index=0):
        return self.ports()[server][index]

    def workers(self):
        pids = children(self.master) if self.master else []
        self.started_pids.update(pids)
        return pids

    def wait_workers(self, n, exclude=(), timeout=TIMEOUT):
        """Wait until the master has exactly n children, none in exclude."""
        def ok():
            w = self.workers()
            return (len(w) == n and not set(w) & set(exclude)) and w
        return wait_for(ok, timeout=timeout,
                        what="%d workers (have %s)" % (n, self.workers()))

    def wait_worker_set(self, pids, timeout=TIMEOUT):
        """Wait until the master's children are exactly pids: a worker
        that is being stopped or reaped is still there for a moment after
        the log line that tells of it."""
        want = sorted(pids)
        return wait_for(lambda: sorted(self.workers()) == want,
                        timeout=timeout,
                        what="workers %s (have %s)" % (want, self.workers()))

    def signal(self, sig):
        os.kill(self.master, sig)

    def wait_exit(self, timeout=TIMEOUT):
        if self.proc is not None and self.master == self.proc.pid:
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise AssertionError("master did not exit within %ss"
                                     % timeout)
        wait_for(lambda: not pid_alive(self.master), timeout=timeout,
                 what="master %d to exit" % self.master)
        return None

    def log(self):
        text = ""
        for path in (self.log_file, self.error_log):
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f.read()
        return text

    def new_masters(self):
        """Pids of the new masters that binary upgrades handed over to,
        in order, from the old masters' log lines."""
        return [int(p) for p in re.findall(
            r"binary upgrade: the new master \(pid (\d+)\) serves",
            self.log())]

    def upgraded(self, n):
        """At least n upgrades have handed over, and the pid file names
        the last new master."""
        new = self.new_masters()
        if n == 0 or len(new) < n:
            return n == 0
        try:
            return self.read_pid() == new[-1]
        except (OSError, ValueError):     # the pid file being replaced
            return False

    def wait_log(self, pattern, timeout=TIMEOUT):
        return wait_for(lambda: re.search(pattern, self.log()),
                        timeout=timeout, what="log line /%s/" % pattern)

    def cleanup(self):
        """Stop whatever this instance started (by pid), remove its files."""
        pids = set(self.started_pids)
        if self.master:
            pids.add(self.master)
            pids.update(self.workers())
        if self.master and pid_alive(self.master):
            try:
                os.kill(self.master, signal.SIGTERM)
                wait_for(lambda: not pid_alive(self.master), timeout=10,
                         what="master to stop")
            except (AssertionError, ProcessLookupError):
                pass
        for p in pids:
            if pid_alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "stderr", None):
            self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class DroverTest(unittest.TestCase):
    """Base class: self.drover(...) instances are cleaned up after each
    test; a failing test prints their logs."""

    def setUp(self):
        self._instances = []

    def drover(self, **kw):
        d = Drover(**kw)
        self._instances.append(d)
        return d

    def tearDown(self):
        failed = False
        outcome = getattr(self, "_outcome", None)
        if outcome is not None:
            result = getattr(outcome, "result", None)
            errors = getattr(result, "errors", []) + getattr(
                result, "failures", [])
            failed = any(t is self for t, _ in errors)
            if hasattr(outcome, "success") and not outcome.success:
                failed = True
        for d in self._instances:
            if failed:
                print("---- drover log (%s) ----\n%s" % (d.dir, d.log()))
            d.cleanup()


def wrk_connected(pid, port):
    """wrk (pid) has sockets and there are client connections to port
    (nothing else connects while it runs). Not matched socket by socket:
    with Connection: close all of wrk's change between two looks."""
    try:
        if not listening_inodes(pid):
            return False
    except OSError:
        return False
    out = subprocess.run(["ss", "-Htn", "state", "connected",
                          "dport = :%d" % port],
                         capture_output=True, text=True, check=True).stdout
    return bool(out.strip())


def wrk_during(url, event, extra=(), times=8, interval=0.25, conns=64,
               settled=None):
    """Run wrk against url while event() is called `times` times; return
    (wrk's result, times fired). wrk holds connections to the server
    before the first event and still runs once the last has taken
    effect; it is then stopped (SIGINT: it reports as at the end of a
    run). settled(n), if given, says when the n-th event has taken
    effect: the next one waits for it (bounded). `interval` paces the
    events so that requests run between them; it waits for nothing."""
    port = int(re.match(r"\w+://[^/]*:(\d+)", url).group(1))
    args = (["wrk", "-t1", "-c%d" % conns, "-d%ds" % (TIMEOUT * 10),
             "--timeout", "%ds" % TIMEOUT] + list(extra) + [url])
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    fired = 0
    try:
        wait_for(lambda: proc.poll() is not None or
                 wrk_connected(proc.pid, port), what="wrk's connections")

        def fire():
            try:
                event()
            except (OSError, ValueError):
                return False    # e.g. a pid file being replaced
            return True
        while fired < times and proc.poll() is None:
            wait_for(fire, what="event %d to be sent" % (fired + 1))
            fired += 1
            if settled is not None:
                n = fired
                wait_for(lambda: settled(n),
                         what="event %d to take effect" % n)
            time.sleep(interval)
        running = proc.poll() is None
        if running:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not running:
        raise AssertionError("wrk ended after %d of %d events (status "
                             "%s):\n%s%s" % (fired, times, proc.returncode,
                                             out, err))
    return subprocess.CompletedProcess(args, proc.returncode, out,
                                       err), fired


def run(cmd, timeout=30, **kw):
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def main():
    unittest.main(verbosity=2)
