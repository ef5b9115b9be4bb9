"""The master's control socket and the reload verdict: drover -s reload
and -s upgrade wait until the new generation (or master) serves and exit
0, or exit 1 with the reason: the configuration's file:line, a worker's
exit status and last message, ready_timeout. -s status [-j] reports the
generations, workers and listeners.

New workers are held before they report ready as test_lifecycle_faults.py
does: mime_types points at a FIFO, which an HTTP worker opens (and blocks
on) while it sets up its servers, in order, until the test opens the other
end (release())."""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import (DROVER, TIMEOUT, DroverTest, main, pid_alive, run,  # noqa
                       wait_for)
from httplib_raw import get, request  # noqa: E402
from test_lifecycle_faults import make_fifo, release  # noqa: E402

# Only a hang guard for a drover -s that waits for a verdict.
CLIENT_TIMEOUT = 60

HTTP = """
server web {
    listen = {"127.0.0.1:0"}
    protocol = http
    location "/hello" { return = "200 %(hello)s" }
}
"""

# Two servers: a worker sets up "web" (reading mime_types) before "site"
# (opening its root directory).
TWO_SERVERS = HTTP + """
server site {
    listen = {"127.0.0.2:0"}
    protocol = http
    location "/" { root = "%(root)s" }
}
"""


class ControlTest(DroverTest):

    def start(self, workers=1, servers=None, **kw):
        d = self.drover(workers=workers,
                        servers=servers or HTTP % dict(hello="one"), **kw)
        d.sock = os.path.join(d.dir, "drover.sock")
        d.start()
        wait_for(lambda: os.path.exists(d.sock), what="the control socket")
        return d

    def ctl(self, d, *args, timeout=CLIENT_TIMEOUT):
        return run([DROVER, "-c", d.conf] + list(args), timeout=timeout)

    def ctl_bg(self, d, *args):
        p = subprocess.Popen([DROVER, "-c", d.conf] + list(args),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def finish(self, p):
        out, err = p.communicate(timeout=CLIENT_TIMEOUT)
        return p.returncode, out, err

    def raw(self, d, line, timeout=TIMEOUT):
        """One request on the control socket itself; the whole answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(d.sock)
            s.sendall(line)
            data = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:    # it left our bytes unread
                    chunk = b""
                if not chunk:
                    return data.decode()
                data += chunk

    def hello(self, d):
        return request(*d.port("web"), get("/hello")).body

    def status(self, d):
        r = self.ctl(d, "-s", "status", "-j")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def new_workers(self, d, old):
        return [p for p in d.workers() if p not in old]

    # -- reload verdicts ---------------------------------------------------

    def test_after_ok_no_new_connection_reaches_the_old_generation(self):
        """"ok" waits until the old workers have closed their listeners:
        every connection made after it gets the new configuration."""
        d = self.start(workers=2)
        for i in range(8):
            text = "v%d" % i
            d.write_conf(servers=HTTP % dict(hello=text))
            r = self.ctl(d, "-s", "reload")
            self.assertEqual(r.returncode, 0, r.stderr)
            for _ in range(6):
                self.assertEqual(self.hello(d), text.encode())

    def test_reload_ok_waits_until_the_new_generation_serves(self):
        d = self.start()
        self.assertEqual(self.hello(d), b"one")
        d.write_conf(servers=HTTP % dict(hello="two"))
        r = self.ctl(d, "-s", "reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "generation 2 serves")
        # Answered once generation 2 served: it answers now, no waiting.
        self.assertEqual(self.hello(d), b"two")
        st = self.status(d)
        self.assertEqual(st["reloads"], {"ok": 1, "failed": 0})
        self.assertEqual([g["id"] for g in st["generations"]
                          if g["state"] == "serving"], [2])

    def test_broken_config_fails_with_file_and_line(self):
        d = self.start()
        text = d.conf_text() + "bogus_option = 1\n"
        line = text.count("\n")
        d.write_conf(text)
        # drover -s reads the file first: the same error, said by it.
        r = self.ctl(d, "-s", "reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:%d:" % (d.conf, line), r.stderr)
        # Asked directly, the master says it too, and counts it.
        ans = self.raw(d, b"reload\n")
        self.assertTrue(ans.startswith("error %s:%d: " % (d.conf, line)),
                        ans)
        self.assertIn("bogus_option", ans)
        self.assertEqual(self.hello(d), b"one")
        d.write_conf(servers=HTTP % dict(hello="one"))
        self.assertEqual(self.status(d)["reloads"], {"ok": 0, "failed": 1})

    def test_worker_exiting_at_start_gives_its_message(self):
        """The new worker blocks on the FIFO after setting up "web"; the
        root of "site", there when the file was read, is removed before it
        goes on: it exits saying so, and that is the verdict."""
        d = self.drover(workers=1, servers="")
        d.sock = os.path.join(d.dir, "drover.sock")
        www = os.path.join(d.dir, "www")
        gone = os.path.join(d.dir, "gone")
        os.mkdir(www)
        os.mkdir(gone)
        d.write_conf(servers=TWO_SERVERS % dict(hello="one", root=www))
        d.start()
        old = d.workers()
        fifo = make_fifo(d)
        d.write_conf(extra='mime_types = "%s"\n' % fifo,
                     servers=TWO_SERVERS % dict(hello="two", root=gone))
        p = self.ctl_bg(d, "-s", "reload")
        new = wait_for(lambda: self.new_workers(d, old),
                       what="the new generation's worker")
        os.rmdir(gone)
        wait_for(lambda: release(fifo), what="the new worker on the FIFO")
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 1, out)
        self.assertIn("worker %d (generation 2, slot 0) exit status 1: "
                      "server site: location /: root %s: No such file or "
                      "directory" % (new[0], gone), err)
        self.assertEqual(self.hello(d), b"one")
        self.assertEqual(d.workers(), old)

    def test_ready_timeout(self):
        d = self.start()
        old = d.workers()
        fifo = make_fifo(d)
        d.write_conf(extra='mime_types = "%s"\nready_timeout = 1\n' % fifo,
                     servers=HTTP % dict(hello="two"))
        r = self.ctl(d, "-s", "reload")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("generation 2: ready_timeout (1 s) reached with 0 of "
                      "1 workers ready", r.stderr)
        self.assertEqual(self.hello(d), b"one")
        # Let the stuck worker go; it was told to drain: it leaves.
        wait_for(lambda: release(fifo), what="a worker blocked on the FIFO")
        d.wait_worker_set(old)

    def test_request_during_a_reload_waits_for_the_next(self):
        """A reload asked for while one is starting is answered by the one
        that reads the file after it: generation 3, not 2. Two clients of
        the same reload both get its verdict."""
        d = self.start()
        old = d.workers()
        fifo = make_fifo(d)
        d.write_conf(extra='mime_types = "%s"\n' % fifo,
                     servers=HTTP % dict(hello="two"))
        first = self.ctl_bg(d, "-s", "reload")
        wait_for(lambda: self.new_workers(d, old), what="generation 2")
        d.write_conf(servers=HTTP % dict(hello="three"))
        second = [self.ctl_bg(d, "-s", "reload") for _ in range(2)]
        wait_for(lambda: len(re.findall(r"generation 2 is still starting",
                                        d.log())) >= 2,
                 what="the second reloads to be folded in")
        wait_for(lambda: release(fifo), what="generation 2 on the FIFO")
        rc, out, err = self.finish(first)
        self.assertEqual((rc, out.strip()), (0, "generation 2 serves"), err)
        for p in second:
            rc, out, err = self.finish(p)
            self.assertEqual((rc, out.strip()), (0, "generation 3 serves"),
                             err)
        self.assertEqual(self.hello(d), b"three")

    def test_concurrent_reloads_all_get_a_verdict(self):
        d = self.start()
        d.write_conf(servers=HTTP % dict(hello="two"))
        clients = [self.ctl_bg(d, "-s", "reload") for _ in range(4)]
        for p in clients:
            rc, out, err = self.finish(p)
            self.assertEqual(rc, 0, err)
            self.assertRegex(out, r"^generation \d+ serves$")
        self.assertEqual(self.hello(d), b"two")

    # -- status --------------------------------------------------------------

    def test_status_text_and_json(self):
        d = self.start(workers=2)
        r = self.ctl(d, "-s", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("master      pid %d," % d.master, r.stdout)
        for w in d.workers():
            self.assertIn("worker      pid %d, generation 1" % w, r.stdout)
        host, port = d.port("web")
        self.assertIn("listener    web (http) %s:%d" % (host, port),
                      r.stdout)
        st = self.status(d)
        self.assertEqual(st["master"]["pid"], d.master)
        self.assertEqual(sorted(w["pid"] for w in st["workers"]),
                         sorted(d.workers()))
        self.assertEqual(sorted(w["slot"] for w in st["workers"]), [0, 1])
        self.assertEqual({w["state"] for w in st["workers"]}, {"ready"})
        self.assertEqual(st["generations"],
                         [{"id": 1, "state": "serving", "workers": 2,
                           "age": st["generations"][0]["age"]}])
        self.assertEqual(st["listeners"],
                         [{"server": "web", "protocol": "http",
                           "address": "%s:%d" % (host, port),
                           "generation": 1}])
        self.assertIn("active", st["connections"])
        # -j goes with status only.
        r = self.ctl(d, "-s", "reload", "-j")
        self.assertEqual(r.returncode, 1)

    def test_socket_mode_and_silent_clients(self):
        d = self.start()
        st = os.lstat(d.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        # Clients that say nothing do not keep others waiting, and are
        # dropped in the end.
        silent = []
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.sock)
            s.settimeout(TIMEOUT)
            silent.append(s)
        try:
            self.assertEqual(self.status(d)["master"]["pid"], d.master)
            for s in silent:
                self.assertEqual(s.recv(100), b"")
        finally:
            for s in silent:
                s.close()
        self.assertTrue(self.raw(d, b"nonsense\n").startswith(
            "error unknown request"))
        self.assertTrue(self.raw(d, b"x" * 1000).startswith(
            "error request longer than"))
        # Stopped, the master removes it.
        r = self.ctl(d, "-s", "stop")
        self.assertEqual(r.returncode, 0, r.stderr)
        d.wait_exit()
        self.assertFalse(os.path.exists(d.sock))

    def test_stale_socket_is_replaced(self):
        d = self.drover(workers=1, servers=HTTP % dict(hello="one"))
        d.sock = os.path.join(d.dir, "drover.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(d.sock)      # a dead drover's: nobody listens
        d.start()
        self.assertEqual(self.status(d)["master"]["pid"], d.master)

    # -- without a control socket ----------------------------------------

    def test_fallback_to_the_signal_without_a_verdict(self):
        d = self.start()
        # This file points at a socket nobody listens on: an older master.
        d.write_conf(extra='control_socket = "elsewhere.sock"\n',
                     servers=HTTP % dict(hello="two"))
        r = self.ctl(d, "-s", "reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no verdict", r.stderr)
        d.wait_log(r"reload done: generation 2 serves")
        d.wait_log(r"control_socket changes only at restart")
        r = self.ctl(d, "-s", "status")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no control socket", r.stderr)

    def test_nothing_running(self):
        d = self.drover(workers=1, servers=HTTP % dict(hello="one"))
        for cmd in ("reload", "upgrade", "status"):
            r = self.ctl(d, "-s", cmd)
            self.assertEqual(r.returncode, 1, cmd)
            self.assertIn("is drover running?", r.stderr)

    def test_relative_and_too_long_paths(self):
        d = self.drover(workers=1, servers=HTTP % dict(hello="one"))
        d.write_conf(extra='control_socket = "ctl/../own.sock"\n')
        d.sock = os.path.join(d.dir, "own.sock")
        os.mkdir(os.path.join(d.dir, "ctl"))
        d.start()
        self.assertEqual(self.status(d)["master"]["pid"], d.master)
        text = d.conf_text(extra='control_socket = "/%s"\n' % ("x" * 200))
        d.write_conf(text)
        r = self.ctl(d, "-t")
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:%d: control_socket" % (
            d.conf, text[:text.index("control_socket")].count("\n") + 1),
            r.stderr)

    # -- binary upgrade ------------------------------------------------------

    def test_upgrade_verdict(self):
        d = self.drover(workers=1, servers=HTTP % dict(hello="one"))
        d.sock = os.path.join(d.dir, "drover.sock")
        exe = os.path.join(d.dir, "drover")
        shutil.copy2(DROVER, exe)
        d.stderr = open(d.log_file, "ab")
        d.proc = subprocess.Popen([exe, "-f", "-c", d.conf],
                                  stdin=subprocess.DEVNULL,
                                  stdout=d.stderr, stderr=d.stderr)
        d.master = old = d.proc.pid
        wait_for(lambda: os.path.exists(d.ports_file) and
                 os.path.exists(d.sock), what="drover to serve")
        # A new binary that cannot start: exit 1, the old master serves.
        os.rename(exe, exe + ".good")
        with open(exe, "w") as f:
            f.write("#!/bin/sh\necho broken >&2\nexit 3\n")
        os.chmod(exe, 0o755)
        r = self.ctl(d, "-s", "upgrade")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("binary upgrade failed: the new master exited",
                      r.stderr)
        self.assertEqual(self.status(d)["master"]["pid"], old)
        os.rename(exe + ".good", exe)
        r = self.ctl(d, "-s", "upgrade")
        self.assertEqual(r.returncode, 0, r.stderr)
        new = int(r.stdout.split("pid ")[1].split(")")[0])
        d.started_pids.add(new)
        self.assertNotEqual(new, old)
        wait_for(lambda: not pid_alive(old), what="the old master to leave")
        d.master = new
        # The new master answers on the same socket, which the old one
        # left in place.
        self.assertEqual(self.status(d)["master"]["pid"], new)
        self.assertEqual(stat.S_IMODE(os.lstat(d.sock).st_mode), 0o600)
        self.assertEqual(self.hello(d), b"one")
        d.write_conf(servers=HTTP % dict(hello="two"))
        r = self.ctl(d, "-s", "reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.hello(d), b"two")


if __name__ == "__main__":
    main()
