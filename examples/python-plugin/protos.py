"""The generated messages the Python plugin uses, made by protoc at start
(protoc and python3-protobuf are Debian packages the install script adds).
A plugin of your own would generate them once, at build time:
    protoc -I proto -I examples/urlshortener/proto --python_out=OUT FILES
"""
import importlib
import os
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
# module name in the namespace -> (proto file, the include root holding it)
FILES = {
    "handshake": ("plugin/v1/handshake.proto", "proto"),
    "registry": ("plugin/v1/registry.proto", "proto"),
    "lifecycle": ("plugin/v1/lifecycle.proto", "proto"),
    "health": ("plugin/v1/health.proto", "proto"),
    "logger": ("capability/logger/v1/logger.proto", "proto"),
    "kv": ("kv/v1/kv.proto", "proto"),
    "storage": ("storage/v1/storage.proto", "examples/urlshortener/proto"),
}


def load(repo=REPO):
    """Generates every module into a temporary directory (removed when the
    process exits) and returns them as one namespace: pb.kv.GetRequest..."""
    out = tempfile.mkdtemp(prefix="cplugin-py-")
    roots = sorted({root for _, root in FILES.values()})
    subprocess.run(
        ["protoc", *("-I" + os.path.join(repo, r) for r in roots),
         "--python_out=" + out, *(f for f, _ in FILES.values())],
        check=True)
    sys.path.insert(0, out)
    pb = types.SimpleNamespace()
    for name, (path, _) in FILES.items():
        module = path[:-len(".proto")].replace("/", ".") + "_pb2"
        setattr(pb, name, importlib.import_module(module))
    import atexit
    import shutil
    atexit.register(shutil.rmtree, out, True)
    return pb
