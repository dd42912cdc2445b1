"""Waiting in the Python interop tests for what another process does (the
Python side of tests/support/wait.h and wait.sh): every wait has a deadline
(CPLUGIN_TEST_WAIT_MS, default 30 s) and a timeout says what was awaited and
what was seen instead."""
import os
import queue
import subprocess
import threading
import time


class WaitTimeout(Exception):
    """A condition did not come true before its deadline."""


def default_timeout():
    """Seconds: CPLUGIN_TEST_WAIT_MS, as for the C and shell helpers."""
    return int(os.environ.get("CPLUGIN_TEST_WAIT_MS", "30000")) / 1000.0


def next_item(items, what, seen=None, timeout=None):
    """The next item of the queue `items`, waiting until the deadline; on
    timeout raises WaitTimeout naming `what` and the output of `seen()`."""
    timeout = default_timeout() if timeout is None else timeout
    try:
        return items.get(timeout=timeout)
    except queue.Empty:
        message = "timed out after %g s waiting for %s" % (timeout, what)
        if seen is not None:
            message += "; last seen: %s" % seen()
        raise WaitTimeout(message) from None


class LineReader:
    """A child's text output read on a thread, so that every read has a
    deadline (readline() on the pipe would block for as long as the child
    stays silent)."""

    def __init__(self, stream, name):
        self.name = name
        self.seen = []
        self._lines = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)  # end of output

    def _printed(self):
        return "%s printed %r" % (self.name, self.seen[-5:])

    def next_line(self, what):
        """The next line; WaitTimeout when none comes before the deadline or
        the output ends."""
        line = next_item(self._lines, what, self._printed)
        if line is None:
            self._lines.put(None)  # stays ended for later reads
            raise WaitTimeout("%s ended its output while waiting for %s; %s"
                              % (self.name, what, self._printed()))
        self.seen.append(line)
        return line


def wait_exit(proc, what, timeout=None):
    """proc's exit status, waiting until the deadline; on timeout kills proc
    and raises WaitTimeout."""
    timeout = default_timeout() if timeout is None else timeout
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise WaitTimeout("timed out after %g s waiting for %s to exit (killed it)"
                          % (timeout, what)) from None


def wait_for(what, cond, timeout=None):
    """Polls cond() every 50 ms until it is true; WaitTimeout after the
    deadline (default_timeout() unless given)."""
    deadline = time.monotonic() + (timeout or default_timeout())
    while not cond():
        if time.monotonic() > deadline:
            raise WaitTimeout("timed out waiting for " + what)
        time.sleep(0.05)
