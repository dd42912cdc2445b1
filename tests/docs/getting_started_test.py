#!/usr/bin/env python3
"""Runs docs/getting-started.md as written.

    getting_started_test.py cmake SOURCE_DIR BUILD_DIR
        installs the cplugin build in BUILD_DIR into a temporary prefix
        (the page's "Before you start"), then builds the page's project with
        its CMake commands and runs it with its commands;
    getting_started_test.py bazel SOURCE_DIR
        does the same with the page's Bazel workspace, next to a link to
        SOURCE_DIR named cplugin (the layout the page asks for), in a fixed
        directory so that Bazel's cache makes a second run quick.

The page marks what it shows: a code block whose info string names
`file=PATH` is a file of the project, `sh ROLE` a command (cmake-build,
cmake-host, cmake-plugin, cmake-client, ...) and `text ROLE` what a program
prints, where `…` stands for any text. Each command runs with bash in the
project directory, as in a terminal of its own; the host and the plugin are
stopped as Ctrl-C stops them (SIGINT to their process group). The C line
counts that section 7 of the page states are checked too.
"""
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

WAIT_S = float(os.environ.get("CPLUGIN_TEST_WAIT_MS", "30000")) / 1000
BLOCK = re.compile(r"^```([^\n`]*)\n(.*?)^```$", re.M | re.S)


class Page:
    """The blocks of the page: files by path, commands and outputs by role."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.text = f.read()
        self.files = {}
        self.roles = {}
        for m in BLOCK.finditer(self.text):
            words = m.group(1).split()
            for word in words[1:]:
                if word.startswith("file="):
                    self.files[word[5:]] = m.group(2)
                else:
                    self.roles.setdefault(word, []).append(m.group(2))

    def one(self, role):
        blocks = self.roles.get(role, [])
        if len(blocks) != 1:
            fail("the page has %d blocks marked %s, want 1" %
                 (len(blocks), role))
        return blocks[0]

    def all(self, role):
        if role not in self.roles:
            fail("the page has no block marked " + role)
        return self.roles[role]

    def write_project(self, directory):
        for path, text in self.files.items():
            target = os.path.join(directory, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as f:
                f.write(text)


def fail(message):
    raise SystemExit("getting-started test: FAILED: " + message)


def say(message):
    print("getting-started test: " + message, flush=True)


def pattern(line):
    return re.compile(".*".join(re.escape(p) for p in line.split("…")))


# --- processes ---------------------------------------------------------------


class Terminal:
    """One command of the page, running in the background like a program
    in a terminal of its own (a process group Ctrl-C can reach)."""

    def __init__(self, name, command, cwd, env, logs):
        self.name = name
        self.out_path = os.path.join(logs, name + ".out")
        self.err_path = os.path.join(logs, name + ".err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                ["bash", "-ec", command], cwd=cwd, env=env, stdout=out,
                stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)

    def output(self):
        with open(self.out_path, encoding="utf-8", errors="replace") as f:
            out = f.read()
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return out, f.read()

    def lines(self):
        out, err = self.output()
        return out.splitlines() + err.splitlines()

    def missing(self, expected):
        """The lines of `expected` that nothing this terminal printed
        matches yet."""
        lines = self.lines()
        return [want for want in expected.splitlines()
                if not any(pattern(want).fullmatch(l) for l in lines)]

    def wait_for(self, expected, what):
        deadline = time.monotonic() + WAIT_S
        while self.missing(expected):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.dump()
                fail("%s: %s; no line matches %r" %
                     (self.name, what, self.missing(expected)[0]))
            time.sleep(0.05)

    def interrupt(self):
        """Ctrl-C: SIGINT to the process group; the exit status."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.dump()
            fail("%s did not stop on SIGINT" % self.name)

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def dump(self):
        out, err = self.output()
        sys.stderr.write("--- %s stdout:\n%s--- %s stderr:\n%s" %
                         (self.name, out, self.name, err))


def page_env(**extra):
    """This environment with `extra`, and no host address of its own: the
    page's commands set HOST_URL themselves."""
    env = dict(os.environ, **extra)
    env.pop("HOST_URL", None)
    env.pop("CPLUGIN_HOST_URL", None)
    return env


def run(command, cwd, env):
    """A command to completion: (exit status, stdout, stderr)."""
    p = subprocess.run(["bash", "-ec", command], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=1800)
    return p.returncode, p.stdout, p.stderr


def run_ok(command, cwd, env, what):
    rc, out, err = run(command, cwd, env)
    if rc != 0:
        sys.stderr.write(out + err)
        fail("%s exited %d" % (what, rc))
    return out


def expect_client(page, role, cwd, env, want_role, want_rc):
    rc, out, err = run(page.one(role), cwd, env)
    want = page.one(want_role)
    got = out if want_rc == 0 else err
    if rc != want_rc or got != want:
        sys.stderr.write("--- stdout:\n%s--- stderr:\n%s" % (out, err))
        fail("%s: exit %d, want %d; printed %r, want %r (%s)" %
             (role, rc, want_rc, got, want, want_role))
    say("%s printed what the page shows (%s)" % (role, want_role))


def exercise(page, flavour, cwd, env, logs):
    """Section 6 of the page, with `flavour`'s commands (cmake or bazel).
    The bazel run starts the plugin before the host: the page says the
    order does not matter."""
    host_outputs = page.all("host-output")
    terminals = []
    try:
        def start(role):
            t = Terminal("%s-%s" % (flavour, role),
                         page.one("%s-%s" % (flavour, role)), cwd, env, logs)
            terminals.append(t)
            return t

        if flavour == "bazel":
            plugin = start("plugin")
            time.sleep(0.3)  # still waiting for its host when that starts
            host = start("host")
        else:
            host = start("host")
            host.wait_for(host_outputs[0], "the host did not start")
            plugin = start("plugin")
        host.wait_for(host_outputs[0], "the host did not start")
        plugin.wait_for(page.one("plugin-output"),
                        "the plugin did not join the host")
        say("%s: host and plugin are up, as the page shows" % flavour)

        expect_client(page, flavour + "-client", cwd, env, "client-output", 0)
        host.wait_for(host_outputs[1], "the host did not log both routes")
        if flavour == "cmake":
            expect_client(page, "cmake-client-error", cwd, env,
                          "client-error-output", 1)

        rc = plugin.interrupt()
        if rc != 0 or not any("plugin stopping" in l for l in plugin.lines()):
            plugin.dump()
            fail("the plugin exited %d on Ctrl-C, or did not log "
                 "'plugin stopping'" % rc)
        host.wait_for("… [INFO] service unregistered: …",
                      "the host did not log the plugin leaving")
        expect_client(page, flavour + "-client", cwd, env,
                      "client-no-provider-output", 1)
        plugin = start("plugin")
        plugin.wait_for(page.one("plugin-output"),
                        "the restarted plugin did not join")
        expect_client(page, flavour + "-client", cwd, env, "client-output", 0)

        for t in (plugin, host):
            rc = t.interrupt()
            if rc != 0:
                t.dump()
                fail("%s exited %d on Ctrl-C, want 0" % (t.name, rc))
        if os.path.exists(os.path.join(cwd, "greeter-host.sock")):
            fail("the host left its socket behind")
        say("%s: stopped with Ctrl-C, both exited 0" % flavour)
    finally:
        for t in terminals:
            t.kill()


# --- section 7: the line counts ----------------------------------------------


def code_lines(text):
    """Lines of C that are neither blank nor comments."""
    n, in_comment = 0, False
    for line in text.splitlines():
        s = line.strip()
        if in_comment:
            in_comment = "*/" not in s
            continue
        if not s:
            continue
        if s.startswith("/*"):
            in_comment = "*/" not in s
            continue
        n += 1
    return n


def without_functions(text, names):
    """`text` without the definitions of the functions in `names` (each
    from its first line to the `}` that closes it at column 0)."""
    lines, kept, skipping = text.splitlines(), [], False
    for line in lines:
        if not skipping and re.match(
                r"^(static )?[\w ]+\*?\s*\b(%s)\(" % "|".join(names), line):
            skipping = True
        if not skipping:
            kept.append(line)
        elif line == "}":
            skipping = False
    return "\n".join(kept)


def check_counts(page):
    plugin = page.files["plugin.c"]
    client = page.files["client.c"]
    handlers = re.findall(r"\.on_\w+ = (\w+)", plugin)
    if len(handlers) != 2:
        fail("expected the plugin's handler table to name two handlers")
    plugin_rest = "\n".join(
        l for l in without_functions(plugin, handlers).splitlines()
        if not l.startswith("#include <"))
    set_up = code_lines(plugin_rest) + code_lines(
        without_functions(client, ["greet"]))
    client_all = code_lines(client)
    m = re.search(r"nothing for the host: (\d+) lines", page.text)
    n = re.search(r"the\s+client is (\d+) lines", page.text)
    if not m or not n:
        fail("section 7 no longer states the two counts")
    say("C beyond the handlers: %d lines (page: %s); the whole client: %d "
        "(page: %s)" % (set_up, m.group(1), client_all, n.group(1)))
    if set_up >= 60:
        fail("%d lines of C beyond the handlers, want under 60" % set_up)
    if (set_up, client_all) != (int(m.group(1)), int(n.group(1))):
        fail("section 7 states %s and %s lines, the files have %d and %d" %
             (m.group(1), n.group(1), set_up, client_all))


# --- the two builds ----------------------------------------------------------


def test_cmake(page, source, build):
    work = tempfile.mkdtemp(prefix="cplugin-gs-")
    try:
        prefix = os.path.join(work, "prefix")
        subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                       check=True, stdout=subprocess.DEVNULL)
        project = os.path.join(work, "greeter")
        os.makedirs(project)
        page.write_project(project)
        env = page_env(CPLUGIN_PREFIX=prefix)
        run_ok(page.one("cmake-build"), project, env, "the CMake build")
        say("the CMake build of the page's project passed")
        exercise(page, "cmake", project, env, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_bazel(page, source):
    # A fixed directory: Bazel keys its output base on the workspace's path,
    # so later runs build only what changed. The lock keeps runs apart.
    top = os.path.join(tempfile.gettempdir(), "cplugin-getting-started")
    os.makedirs(top, exist_ok=True)
    with open(top + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        link = os.path.join(top, "cplugin")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.abspath(source), link)
        project = os.path.join(top, "greeter")
        if os.path.isdir(project):
            for entry in os.listdir(project):
                if not entry.startswith("bazel-"):
                    path = os.path.join(project, entry)
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
        os.makedirs(project, exist_ok=True)
        page.write_project(project)
        env = page_env()
        logs = tempfile.mkdtemp(prefix="cplugin-gs-logs-")
        try:
            rc, out, err = run(page.one("bazel-build"), project, env)
            if rc != 0:
                sys.stderr.write(out + err)
                fail("the Bazel build exited %d" % rc)
            # Quiet, as the page promises with its .bazelrc: no compiler
            # warnings, no sandbox debug lines, no action printing anything
            # (Bazel shows that under "INFO: From <action>").
            sandbox_debug = re.compile(r"^\d+\.\d+: src/main/tools/linux-sandbox")
            noisy = [l for l in err.splitlines()
                     if "warning:" in l or l.startswith("INFO: From ") or
                     sandbox_debug.match(l)]
            if noisy:
                fail("the Bazel build printed %d lines like %r" %
                     (len(noisy), noisy[0]))
            say("the Bazel build of the page's project passed")
            exercise(page, "bazel", project, env, logs)
        finally:
            subprocess.run(["bazel", "shutdown"], cwd=project,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            shutil.rmtree(logs, ignore_errors=True)


def main(argv):
    if len(argv) < 3 or argv[1] not in ("cmake", "bazel") or (
            argv[1] == "cmake" and len(argv) != 4):
        sys.exit(__doc__)
    source = argv[2]
    page = Page(os.path.join(source, "docs", "getting-started.md"))
    for path in ("plugin.c", "client.c", "proto/greeter/v1/greeter.proto",
                 "CMakeLists.txt", "WORKSPACE", "BUILD", ".bazelrc"):
        if path not in page.files:
            fail("the page no longer shows " + path)
    check_counts(page)
    if argv[1] == "cmake":
        test_cmake(page, source, argv[3])
    else:
        test_bazel(page, source)
    say("PASS")


if __name__ == "__main__":
    main(sys.argv)
