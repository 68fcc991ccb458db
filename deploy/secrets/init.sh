#!/bin/sh
# First start of the compose stack: the secrets its services share, generated once into
# the `secrets` volume (mounted at /run/ccpulse) and kept there:
#   metrics.token            Prometheus's token for scraping ccpulse (role metrics)
#   tokens.toml              its hash, for ccpulse (http.tokens_file)
#   grafana-admin-password   Grafana's admin password: GRAFANA_ADMIN_PASSWORD from .env,
#                            else random (read it with
#                            `docker compose exec grafana cat /run/ccpulse/grafana-admin-password`)
# The files are readable by the services that mount the volume, and by nobody else.
set -eu
dir="${SECRETS_DIR:-/run/ccpulse}"

if [ ! -s "$dir/metrics.token" ] || [ ! -s "$dir/tokens.toml" ]; then
  ccpulse token --role metrics --name prometheus --token-file "$dir/metrics.token" 2>/dev/null \
    | sed -e 's/^\[\[http\.tokens\]\]$/[[tokens]]/' > "$dir/tokens.toml"
  echo "secrets-init: issued Prometheus's metrics token"
fi

if [ ! -s "$dir/grafana-admin-password" ]; then
  if [ -n "${GRAFANA_ADMIN_PASSWORD:-}" ]; then
    printf '%s' "$GRAFANA_ADMIN_PASSWORD" > "$dir/grafana-admin-password"
    echo "secrets-init: Grafana's admin password taken from GRAFANA_ADMIN_PASSWORD"
  else
    head -c 18 /dev/urandom | base64 | tr -d '\n' > "$dir/grafana-admin-password"
    echo "secrets-init: Grafana's admin password generated; read it with"
    echo "  docker compose exec grafana cat /run/ccpulse/grafana-admin-password"
  fi
fi

chmod 0644 "$dir/metrics.token" "$dir/tokens.toml" "$dir/grafana-admin-password"
