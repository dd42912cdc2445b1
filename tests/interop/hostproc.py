"""A host program under test, driven from Python grpcio: start it, read its
address, check status codes, stop it. Shared by the interop tests."""
import os
import socket
import subprocess
import sys

import grpc

from waiting import LineReader, WaitTimeout, default_timeout, wait_exit


def generate_host_protos(proto_root, out):
    """Generates the handshake and registry messages into `out` and makes
    them importable (from plugin.v1 import handshake_pb2, registry_pb2)."""
    subprocess.run(
        ["protoc", "-I" + proto_root, "--python_out=" + out,
         "plugin/v1/handshake.proto", "plugin/v1/registry.proto"],
        check=True)
    sys.path.insert(0, out)


def free_port():
    """A loopback TCP port nobody listens on now (another process may take
    it before the caller binds)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fields(data):
    """The length-delimited fields of a protobuf message: {number: bytes}
    (the last of a repeated one)."""
    out, at = {}, 0
    while at < len(data):
        key, at = varint(data, at)
        number, kind = key >> 3, key & 7
        if kind == 0:
            _, at = varint(data, at)
        elif kind == 2:
            size, at = varint(data, at)
            out[number] = data[at:at + size]
            at += size
        elif kind == 5:
            at += 4
        elif kind == 1:
            at += 8
        else:
            raise ValueError("wire type %d in %r" % (kind, data))
    return out


def varint(data, at):
    """The varint at data[at:] and the index after it."""
    value, shift = 0, 0
    while True:
        b = data[at]
        at += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, at


def handshake_request(self_id):
    """HandshakeRequest{core 1, app 1, cookie, self_id}, encoded by hand (so
    that a test needs no generated code for it)."""
    def text(field, value):
        data = value.encode()
        return bytes([(field << 3) | 2, len(data)]) + data
    return (b"\x08\x01\x10\x01" + text(3, "CONNECT_PLUGIN") +
            text(4, "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e") + text(10, self_id))


def start_host(binary, name, args=(), stderr=subprocess.DEVNULL):
    """Starts `binary` with `args` and waits (with the shared deadline) for
    its "LISTENING <address>" line; returns (process, address). The rest of
    its output is read with proc.lines.next_line."""
    proc = subprocess.Popen([binary, *args], stdout=subprocess.PIPE,
                            stderr=stderr, text=True)
    proc.lines = LineReader(proc.stdout, name)
    try:
        line = proc.lines.next_line("LISTENING")
    except WaitTimeout:
        proc.kill()
        raise
    if not line.startswith("LISTENING "):
        proc.kill()
        raise SystemExit("%s did not start: %r" % (name, line))
    return proc, line.split(" ", 1)[1]


def stop_host(proc, name, failures):
    """SIGTERM, then the exit within the deadline; a timeout or an exit
    status other than 0 is added to `failures`."""
    proc.terminate()
    try:
        wait_exit(proc, "%s (SIGTERM)" % name)
    except WaitTimeout as e:
        failures.append(str(e))
        return
    if proc.returncode != 0:
        failures.append("%s exited with %d" % (name, proc.returncode))


def expect_code(failures, what, code, call):
    """Runs call(), which must fail with `code`; prints what it got."""
    try:
        call()
        failures.append("%s: call succeeded" % what)
    except grpc.RpcError as e:
        print("%s: %s (%s)" % (what, e.code().name, e.details()))
        if e.code() != code:
            failures.append("%s: got %s, want %s" % (what, e.code().name,
                                                     code.name))


class Process:
    """A program that prints "LISTENING <address>" once it serves."""

    def __init__(self, name, argv, env, logdir):
        self.name = name
        self.err = open(os.path.join(logdir, name + ".err"), "a")
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True)
        self.out = LineReader(self.proc.stdout, name)
        while True:
            line = self.out.next_line("%s to print LISTENING" % name)
            if line.startswith("LISTENING "):
                self.address = line.split(" ", 1)[1]
                return

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self.err.close()

    def stop(self):
        """SIGTERM, then SIGKILL if it does not exit within the deadline."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=default_timeout())
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def print_log_tails(logdir, names):
    """Prints the end of each NAME.err in `logdir` (a failed test's
    evidence)."""
    for name in names:
        path = os.path.join(logdir, name + ".err")
        if os.path.exists(path):
            with open(path) as f:
                tail = f.read()[-2000:]
            print("--- %s stderr (tail) ---\n%s" % (name, tail))
