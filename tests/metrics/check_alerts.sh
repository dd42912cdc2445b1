#!/usr/bin/env bash
# Validates alerting rules with Debian's promtool (package prometheus):
#   check_alerts.sh ALERTS_YML
set -euo pipefail
command -v promtool >/dev/null || {
  echo "promtool is not installed (bash tools/install-deps.sh)" >&2
  exit 1
}
exec promtool check rules "$1"
