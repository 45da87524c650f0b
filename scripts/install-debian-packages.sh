#!/usr/bin/env bash
# The Debian packages the test suite needs beyond Python: chromium (the /docs page is rendered headless).
# Idempotent: installs only what is missing; run as root or with sudo available.
set -euo pipefail
PACKAGES=(chromium)
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "debian packages: all present (${PACKAGES[*]})"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "debian packages: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
