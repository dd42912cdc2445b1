"""Compiler flags shared by cplugin's BUILD files (mirrors CMake's CPLUGIN_WARNINGS)."""

# C only: -Wstrict-prototypes and -Wmissing-prototypes are not valid for C++.
CPLUGIN_WARNINGS = [
    "-Wall",
    "-Wextra",
    "-Wshadow",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-Wno-unused-parameter",
]
