#!/usr/bin/env bash
# Validates alerting rules with Debian's promtool (package prometheus), and
# runs their unit tests (which series make which alert fire):
#   check_alerts.sh ALERTS_YML [RULE_TESTS_YML]
set -euo pipefail
command -v promtool >/dev/null || {
  echo "promtool is not installed (bash tools/install-deps.sh)" >&2
  exit 1
}
promtool check rules "$1"
if [[ -n ${2:-} ]]; then
  promtool test rules "$2"
fi
