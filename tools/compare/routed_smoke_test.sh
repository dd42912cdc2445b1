#!/usr/bin/env bash
# tools/compare/routed.py --quick with the cpluginctl under test.
# Arguments: routed.py, cpluginctl[, output directory]. The exit status is
# routed.py's: 0 only when every h2load call succeeded and the provider's
# SERVED ok equals them. No timing assertions.
set -euo pipefail
routed_py=$1 cpluginctl=$2
out=${3:-${TEST_UNDECLARED_OUTPUTS_DIR:-$TEST_TMPDIR}/routed}
exec /usr/bin/python3 "$routed_py" --quick --cpluginctl "$cpluginctl" \
  --out "$out"
