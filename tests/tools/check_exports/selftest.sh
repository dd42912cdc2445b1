#!/usr/bin/env bash
# tools/check_exports.sh must fail on a library that exports a symbol its
# headers do not declare, naming that symbol (and not the hidden one), pass
# once the symbol is hidden, and with --archive fail on a library that
# hides a function its header declares and on an archive whose internal
# global lacks the cpi_ prefix.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
check=$here/../../../tools/check_exports.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# must_fail WHAT SYMBOL CHECK_ARGS...: the check fails and names SYMBOL.
must_fail() {
  local what=$1 symbol=$2
  shift 2
  if bash "$check" "$@" > "$work/out" 2>&1; then
    echo "selftest: the check passed $what" >&2
    cat "$work/out" >&2
    exit 1
  fi
  grep -qx "$symbol" "$work/out" || {
    echo "selftest: the report on $what does not name $symbol" >&2
    cat "$work/out" >&2
    exit 1
  }
}

cc -shared -fPIC -o "$work/leaky.so" "$here/fixture.c"
must_fail "a library exporting an internal" fixture_internal_helper \
  "$work/leaky.so" "$here"
if grep -q 'cpi_fixture_hidden\|fixture_public_call' "$work/out"; then
  echo "selftest: the report names a hidden or public symbol" >&2
  cat "$work/out" >&2
  exit 1
fi

public='__attribute__((visibility("default")))'
cc -shared -fPIC -fvisibility=hidden \
  "-Dfixture_public_call=$public fixture_public_call" \
  "-Dfixture_version=$public fixture_version" \
  -o "$work/closed.so" "$here/fixture.c"
bash "$check" "$work/closed.so" "$here"

# A public function left hidden (no CP_API) is missing from the shared
# library though the archive defines it.
cc -c -fPIC -o "$work/fixture.o" "$here/fixture.c"
ar rcs "$work/fixture.a" "$work/fixture.o"
cc -shared -fPIC -fvisibility=hidden -o "$work/hidden.so" "$here/fixture.c" \
  "-Dfixture_version=$public fixture_version"
must_fail "a library missing a public function" fixture_public_call \
  "$work/hidden.so" --archive "$work/fixture.a" "$here"

# The archive's internal fixture_internal_helper lacks the cpi_ prefix.
must_fail "an unprefixed internal global" fixture_internal_helper \
  "$work/closed.so" --archive "$work/fixture.a" "$here"
cc -c -fPIC -Dfixture_internal_helper=cpi_fixture_internal_helper \
  -o "$work/prefixed.o" "$here/fixture.c"
ar rcs "$work/prefixed.a" "$work/prefixed.o"
bash "$check" "$work/closed.so" --archive "$work/prefixed.a" "$here"
echo "check_exports selftest: ok"
