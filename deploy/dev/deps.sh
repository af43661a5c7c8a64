#!/bin/sh
# Installs the Debian packages longtask needs to build, run and test, when missing.
# As root it runs apt-get; otherwise it prints the exact command to run.
set -eu
pkgs="gcc make pkg-config libfcgi-dev libpq-dev libjansson-dev libcurl4-openssl-dev
libconfig-dev libjwt-dev libssl-dev libcmocka-dev postgresql nginx python3 python3-pytest
python3-requests python3-psycopg2 procps util-linux"
missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
line="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "longtask: missing Debian packages; run as root:" >&2
    echo "  apt-get update && $line" >&2
    exit 1
fi
echo "longtask: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
# Debian starts the packaged nginx and PostgreSQL on install; longtask runs its own.
if command -v service >/dev/null 2>&1; then
    service nginx stop >/dev/null 2>&1 || true
fi
