"""A program for drover's `protocol = exec` tests: it takes its listeners
from LISTEN_FDS (fds 3, 4, ...), serves HTTP/1.1 on each, and reports what
it was given. Flags say how it behaves (see parse_args).

  GET /info        JSON: pid, ppid, pgid, argv, cwd, env, the fds open at
                   exec time (and now) with their targets, the listeners'
                   addresses, whether they were blocking at exec, the
                   signal mask and ignored signals at exec
  GET /healthz     503 until --health-file exists, then 200
  GET /print?TEXT  writes TEXT to stdout and "TEXT (stderr)" to stderr
  anything else    200 "TAG PID\\n"

Every response has the headers X-Tag and X-Pid. On SIGTERM (or the
--stop-on signal; unless --ignore-term) it stops accepting, finishes the
requests in flight and exits 0. Python 3, standard library only."""

import os

# What exec gave us, before this program opens anything itself (listdir
# opens the directory: that fd is closed again when readlink looks).
def _fds_now():
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass
    return fds


FDS_AT_START = _fds_now()

import argparse  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import selectors  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402


def _sig_masks():
    """SigBlk and SigIgn of this process, as ints. Python itself ignores
    SIGPIPE and SIGXFSZ at start-up; the mask it leaves as it was."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("SigBlk", "SigIgn"):
                out[key] = int(value.strip(), 16)
    return out


SIGS_AT_START = _sig_masks()
# Whether each listener was in blocking mode at exec.
BLOCKING_AT_START = {
    fd: not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
    for fd in range(3, 3 + int(os.environ.get("LISTEN_FDS", "0")))
    if fd in FDS_AT_START}
stopping = threading.Event()
args = None


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--ready", choices=("notify", "none"), default="none",
                   help="notify: send READY=1 (after --ready-file exists)")
    p.add_argument("--ready-file", help="wait for this file before READY=1")
    p.add_argument("--status", help="send STATUS=TEXT at start")
    p.add_argument("--health-file", help="/healthz is 503 until it exists")
    p.add_argument("--stop-on", default="TERM", metavar="SIG",
                   help="the signal that stops it gracefully (TERM)")
    p.add_argument("--ignore-term", action="store_true",
                   help="say so on that signal and carry on")
    p.add_argument("--exit-at-once", type=int, metavar="CODE",
                   help="write two lines to stderr, exit with CODE")
    p.add_argument("--tag", default="", help="in every response")
    p.add_argument("--print", dest="text", help="write TEXT at start")
    p.add_argument("--watchdog", choices=("auto", "once", "never"),
                   default="auto", help="WATCHDOG=1: every WATCHDOG_USEC/2 "
                   "if that is set (auto), once, or never")
    return p.parse_args()


def say(line, err=False):
    print(line, file=sys.stderr if err else sys.stdout, flush=True)


def notify(message):
    """One datagram to $NOTIFY_SOCKET ('@' is the abstract namespace)."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        say("exec_app: no NOTIFY_SOCKET for %s" % message, err=True)
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(message.encode(), addr)


def watchdog():
    """WATCHDOG=1 at half the interval drover asked for, as sd_notify
    users do."""
    usec = int(os.environ["WATCHDOG_USEC"])
    while not stopping.wait(usec / 2e6):
        notify("WATCHDOG=1")


def start_watchdog():
    if args.watchdog == "once":
        notify("WATCHDOG=1")
        say("exec_app: sent WATCHDOG=1 once")
    elif args.watchdog == "auto" and "WATCHDOG_USEC" in os.environ:
        threading.Thread(target=watchdog, daemon=True).start()


def listeners():
    n = int(os.environ.get("LISTEN_FDS", "0"))
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        say("exec_app: LISTEN_PID %s is not my pid %d"
            % (os.environ.get("LISTEN_PID"), os.getpid()), err=True)
    return [socket.socket(fileno=fd) for fd in range(3, 3 + n)]


def fd_info(fd):
    """What fd 3.. is: a socket's family, address and whether it listens."""
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError as e:
        return {"error": str(e)}
    with s:
        return {"family": s.family.name, "type": s.type.name,
                "sockname": list(s.getsockname()),
                "acceptconn": s.getsockopt(socket.SOL_SOCKET,
                                           socket.SO_ACCEPTCONN),
                "reuseport": s.getsockopt(socket.SOL_SOCKET,
                                          socket.SO_REUSEPORT)}


def info(listener):
    n = int(os.environ.get("LISTEN_FDS", "0"))
    return {"pid": os.getpid(), "ppid": os.getppid(),
            "pgid": os.getpgid(0), "argv": sys.argv,
            "cwd": os.getcwd(), "tag": args.tag, "env": dict(os.environ),
            "fds_at_start": FDS_AT_START, "fds": _fds_now(),
            "sigs_at_start": SIGS_AT_START,
            "blocking_at_start": BLOCKING_AT_START,
            "listeners": {fd: fd_info(fd) for fd in range(3, 3 + n)},
            "accepted_on": list(listener.getsockname())}


def respond(conn, status, body, ctype="text/plain"):
    if isinstance(body, str):
        body = body.encode()
    head = ("HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            "X-Tag: %s\r\nX-Pid: %d\r\n\r\n"
            % (status, ctype, len(body), args.tag, os.getpid()))
    conn.sendall(head.encode() + body)


def handle(conn, listener, target):
    path, _, query = target.partition("?")
    if path == "/info":
        respond(conn, "200 OK", json.dumps(info(listener)),
                "application/json")
    elif path == "/healthz":
        ok = not args.health_file or os.path.exists(args.health_file)
        say("exec_app: GET /healthz on %s: %s"
            % (listener.getsockname()[:2], "200" if ok else "503"))
        respond(conn, "200 OK" if ok else "503 Not Ready", "healthz\n")
    elif path == "/print":
        say(query)
        say(query + " (stderr)", err=True)
        respond(conn, "200 OK", "printed\n")
    else:
        respond(conn, "200 OK", "%s %d\n" % (args.tag, os.getpid()))


def serve(conn, listener):
    """Requests on one connection (keep-alive) until the client closes or,
    once stopping, between two requests."""
    conn.settimeout(0.25)
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    if stopping.is_set() and not buf:
                        return
                    continue
                if not chunk:
                    return
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            while len(buf) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            buf = buf[length:]
            handle(conn, listener, lines[0].split(" ")[1])
    except OSError:
        pass
    finally:
        conn.close()


def on_stop_signal(signum, frame):
    name = signal.Signals(signum).name
    if args.ignore_term:
        say("exec_app: got %s, ignoring it" % name, err=True)
    else:
        say("exec_app: got %s, stopping" % name, err=True)
        stopping.set()


def main():
    global args
    args = parse_args()
    if args.exit_at_once is not None:
        say("exec_app: starting", err=True)
        say("exec_app: exit at once with status %d" % args.exit_at_once,
            err=True)
        sys.exit(args.exit_at_once)
    signal.signal(signal.Signals["SIG" + args.stop_on], on_stop_signal)
    socks = listeners()
    if args.text:
        say(args.text)
        say(args.text + " (stderr)", err=True)
    if args.status:
        notify("STATUS=" + args.status)
    start_watchdog()
    if args.ready == "notify":
        if args.ready_file:
            say("exec_app: waiting for %s" % args.ready_file)
            while not os.path.exists(args.ready_file):
                if stopping.wait(0.05):
                    return 0
        notify("READY=1")
        say("exec_app: ready")

    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    workers = []
    while not stopping.is_set():
        for key, _ in sel.select(0.25):
            try:
                conn, _ = key.fileobj.accept()
            except (BlockingIOError, InterruptedError, ConnectionError):
                continue
            conn.setblocking(True)
            t = threading.Thread(target=serve, args=(conn, key.fileobj))
            t.start()
            workers.append(t)
        workers = [t for t in workers if t.is_alive()]
    for s in socks:
        sel.unregister(s)
        s.close()
    for t in workers:
        t.join()
    say("exec_app: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
