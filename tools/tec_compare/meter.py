"""Child processes of a point: wall time, CPU time and peak RSS."""
import os
import shutil
import subprocess
import tempfile
import time


class CodecError(Exception):
    pass


class Meter:
    """Seconds and peak RSS of the child processes (and timed in-process
    transforms) of the encode and the decode side of one point."""

    def __init__(self):
        self.seconds = {"enc": 0.0, "dec": 0.0}
        self.cpu = {"enc": 0.0, "dec": 0.0}
        self.rss_kb = {"enc": 0, "dec": 0}

    def timed(self, side):
        """Context manager: count an in-process transform on `side`."""
        meter = self

        class _T:
            def __enter__(self):
                self.t0, self.c0 = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                meter.seconds[side] += time.perf_counter() - self.t0
                meter.cpu[side] += time.process_time() - self.c0
        return _T()

    def run(self, side, cmd, stdout_path=None):
        """Run cmd; count its wall time, CPU time and peak RSS on `side`.

        A child forked from this (large) Python process starts with a copy
        of its memory, and Linux counts that in the child's ru_maxrss.  So
        the command runs under GNU time, which forks it from a small
        process and writes its own child's peak RSS ('%M'); without GNU
        time, VmHWM of the command is sampled from /proc while it runs."""
        err = tempfile.TemporaryFile()
        out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
        rss_path = None
        argv = cmd
        if gnu_time():
            fd, rss_path = tempfile.mkstemp(prefix="tec-compare-rss-")
            os.close(fd)
            argv = [gnu_time(), "-q", "-f", "%M", "-o", rss_path] + list(cmd)
        try:
            t0 = time.perf_counter()
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            except OSError as e:
                raise CodecError("cannot run %s: %s" % (argv[0], e))
            hwm = 0
            if rss_path:
                _, status, usage = os.wait4(proc.pid, 0)
            else:
                while True:
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        break
                    hwm = max(hwm, proc_hwm_kb(proc.pid))
                    time.sleep(0.002)
            self.seconds[side] += time.perf_counter() - t0
            self.cpu[side] += usage.ru_utime + usage.ru_stime
            proc.returncode = os.waitstatus_to_exitcode(status)
            if rss_path:
                try:
                    with open(rss_path) as f:
                        hwm = int(f.read().split()[-1])
                except (OSError, ValueError, IndexError):
                    hwm = 0
            self.rss_kb[side] = max(self.rss_kb[side], hwm)
            if proc.returncode == 127 and rss_path and not shutil.which(cmd[0]):
                raise CodecError("cannot run %s" % cmd[0])
            if proc.returncode != 0:
                err.seek(0)
                tail = err.read().decode("utf-8", "replace").strip().splitlines()[-6:]
                raise CodecError("%s exited with %d: %s"
                                 % (" ".join(cmd), proc.returncode, " | ".join(tail)))
        finally:
            err.close()
            if stdout_path:
                out.close()
            if rss_path:
                os.remove(rss_path)


_GNU_TIME = []


def gnu_time():
    """Path of GNU time (Debian package 'time'), or None."""
    if not _GNU_TIME:
        path = None
        for p in ("/usr/bin/time", shutil.which("time") or ""):
            if p and os.access(p, os.X_OK):
                try:
                    r = subprocess.run([p, "--version"], capture_output=True, text=True,
                                       timeout=10)
                    if "GNU" in r.stdout + r.stderr:
                        path = p
                        break
                except (OSError, subprocess.SubprocessError):
                    pass
        _GNU_TIME.append(path)
    return _GNU_TIME[0]


def proc_hwm_kb(pid):
    """VmHWM of a running process in kB (0 when it cannot be read)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0
