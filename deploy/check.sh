#!/usr/bin/env bash
# Checks the deploy assets that can be checked without Docker:
#   - promtool check config  deploy/prometheus/prometheus.yml (its syntax: the token file it
#                            names exists only in the compose stack's secrets volume)
#   - promtool check rules   deploy/prometheus/rules/*.yml
#   - promtool test rules    deploy/prometheus/tests/*.yml (unit tests of every alert)
#   - amtool check-config    deploy/alertmanager/alertmanager.yml
#   - bash -n                the shell scripts of deploy/
# Installs promtool (Debian package `prometheus`) and amtool (`prometheus-alertmanager`)
# when missing. Exits non-zero on the first failure. Run from anywhere; needs no network
# once the tools are installed (static targets only, nothing is resolved or scraped).
set -euo pipefail
cd "$(dirname "$0")/.."

install_pkg() { # package
  echo "== installing $1 (Debian package)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$1" >/dev/null
}

command -v promtool >/dev/null 2>&1 || install_pkg prometheus
command -v amtool >/dev/null 2>&1 || install_pkg prometheus-alertmanager

shopt -s nullglob
rules=(deploy/prometheus/rules/*.yml)
tests=(deploy/prometheus/tests/*.yml)
if [ "${#rules[@]}" -eq 0 ] || [ "${#tests[@]}" -eq 0 ]; then
  echo "error: no rule files or no rule tests under deploy/prometheus" >&2
  exit 1
fi

echo "== promtool check config"
promtool check config --syntax-only deploy/prometheus/prometheus.yml
echo "== promtool check rules"
promtool check rules "${rules[@]}"
echo "== promtool test rules"
promtool test rules "${tests[@]}"
echo "== amtool check-config"
amtool check-config deploy/alertmanager/alertmanager.yml
echo "== bash -n"
for script in deploy/*.sh deploy/*/*.sh; do
  bash -n "$script"
done
echo "deploy checks passed"
