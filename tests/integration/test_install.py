"""make install respects the admin's files: an edited drover.conf survives
a reinstall and an uninstall, the shipped one is drover.conf.default, and
the systemd unit and logrotate file name the configured paths. Runs make
in the build tree (DROVER_BUILDDIR), always into a temporary DESTDIR."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from droverlib import TIMEOUT, main  # noqa

BUILDDIR = os.environ.get("DROVER_BUILDDIR")
SBINDIR = os.environ.get("DROVER_SBINDIR")
SYSCONFDIR = os.environ.get("DROVER_SYSCONFDIR")
UNITDIR = os.environ.get("DROVER_UNITDIR")      # empty: no unit installed
EDIT = "\n# edited by the admin\nworkers = 3\n"


def read(path):
    with open(path) as f:
        return f.read()


def files_under(top):
    return sorted(os.path.relpath(os.path.join(d, f), top)
                  for d, _, fs in os.walk(top) for f in fs)


@unittest.skipUnless(BUILDDIR and SBINDIR and SYSCONFDIR,
                     "run by make check (needs the build tree)")
class InstallTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="drover-install-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.dest = os.path.join(self.tmp, "dest")

    def make(self, target, *overrides):
        # A make of its own, not a part of the make check running us.
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL",
                            "MAKEOVERRIDES", "DESTDIR")}
        r = subprocess.run(["make", "-C", BUILDDIR, target,
                            "DESTDIR=" + self.dest] + list(overrides),
                           capture_output=True, text=True, env=env,
                           stdin=subprocess.DEVNULL, timeout=TIMEOUT * 10)
        self.assertEqual(r.returncode, 0,
                         "make %s:\n%s%s" % (target, r.stdout, r.stderr))
        return r.stdout

    def at(self, path):
        return self.dest + path

    def test_reinstall_keeps_edited_config(self):
        conf = self.at(SYSCONFDIR + "/drover/drover.conf")
        default = conf + ".default"
        self.make("install")
        self.assertEqual(read(conf), read(default))
        shipped = read(default)
        with open(conf, "a") as f:
            f.write(EDIT)
        self.make("install")
        self.assertEqual(read(conf), shipped + EDIT)
        self.assertEqual(read(default), shipped)
        self.assertTrue(os.access(self.at(SBINDIR + "/drover"), os.X_OK))

        drover = SBINDIR + "/drover"
        conf_path = SYSCONFDIR + "/drover/drover.conf"
        rotate = read(self.at(SYSCONFDIR + "/logrotate.d/drover"))
        self.assertNotRegex(rotate, r"@\w+@")
        self.assertIn("\tsharedscripts\n", rotate)
        self.assertIn("%s -c %s -s reopen" % (drover, conf_path), rotate)
        if UNITDIR:
            unit = read(self.at(UNITDIR + "/drover.service"))
            self.assertNotRegex(unit, r"@\w+@")
            self.assertIn("\nExecStartPre=%s -t -c %s\n" % (drover, conf_path),
                          unit)
            self.assertIn("\nExecStart=%s -f -c %s\n" % (drover, conf_path),
                          unit)
            self.assertIn("\nExecReload=%s -c %s -s reload\n"
                          % (drover, conf_path), unit)
            for line in ("Type=notify", "NotifyAccess=all", "WatchdogSec=",
                         "LimitNOFILE=", "NoNewPrivileges=yes",
                         "ProtectSystem=", "RestrictAddressFamilies=AF_UNIX "
                         "AF_INET AF_INET6", "CapabilityBoundingSet="
                         "CAP_NET_BIND_SERVICE"):
                self.assertIn("\n" + line, unit)

        # Uninstall takes everything but the edited configuration.
        self.make("uninstall")
        self.assertEqual(files_under(self.dest),
                         [os.path.relpath(conf, self.dest)])
        self.assertEqual(read(conf), shipped + EDIT)

    def test_uninstall_removes_unedited_config(self):
        self.make("install")
        self.assertTrue(os.path.exists(
            self.at(SYSCONFDIR + "/drover/drover.conf")))
        self.make("uninstall")
        self.assertEqual(files_under(self.dest), [])

    @unittest.skipUnless(UNITDIR, "configured without the systemd unit")
    @unittest.skipUnless(shutil.which("systemd-analyze"),
                         "no systemd-analyze")
    def test_unit_verifies(self):
        # verify wants the binary where the unit says: install under a
        # prefix in the temporary directory (still through DESTDIR, so
        # nothing can land outside it) and make that prefix a link to
        # where the files landed.
        prefix = os.path.join(self.tmp, "prefix")
        self.make("install", "prefix=" + prefix, "exec_prefix=" + prefix,
                  "sbindir=%s/sbin" % prefix, "sysconfdir=%s/etc" % prefix,
                  "localstatedir=%s/var" % prefix,
                  "systemdsystemunitdir=%s/lib/systemd/system" % prefix)
        os.symlink(self.at(prefix), prefix)
        unit = prefix + "/lib/systemd/system/drover.service"
        self.assertIn("ExecStart=%s/sbin/drover -f -c %s/etc/drover/"
                      "drover.conf\n" % (prefix, prefix), read(unit))
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", unit],
                           capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    main()
