#!/usr/bin/env bash
# Install the Debian packages the service tests need: a single-node SLURM
# (slurmctld, slurmd, client tools) and munge for its authentication, and
# chromium, the headless browser that reads the /dasktune dashboard page.
#
# Idempotent: does nothing when every package is already installed, and only
# runs `apt-get update` when apt has no candidate for a package (or when an
# install from the existing lists fails, e.g. because they are stale).
#
# Usage: bash ci/install-system.sh        (must run as root)
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge chromium)

die() {
    echo "install-system.sh: error: $*" >&2
    exit 1
}

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

has_candidate() {
    local candidate
    candidate="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
    [[ -n "$candidate" && "$candidate" != "(none)" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-system.sh: already installed: ${PACKAGES[*]}"
    exit 0
fi

[[ "$(id -u)" -eq 0 ]] || die "must run as root to install: ${missing[*]}"
command -v apt-get >/dev/null || die "apt-get not found; this script supports Debian/Ubuntu only"

export DEBIAN_FRONTEND=noninteractive
APT_INSTALL=(apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef
    -o Dpkg::Options::=--force-confold)

updated=0
apt_update() {
    echo "install-system.sh: apt-get update"
    apt-get update -q || die "apt-get update failed"
    updated=1
}

for pkg in "${missing[@]}"; do
    if ! has_candidate "$pkg"; then
        apt_update
        break
    fi
done

echo "install-system.sh: installing ${missing[*]}"
if ! "${APT_INSTALL[@]}" "${missing[@]}"; then
    # Package lists that are present but stale point at files the mirror no
    # longer has; one refresh is worth a retry before giving up.
    [[ $updated -eq 1 ]] && die "apt-get install ${missing[*]} failed"
    apt_update
    "${APT_INSTALL[@]}" "${missing[@]}" || die "apt-get install ${missing[*]} failed"
fi

for pkg in "${missing[@]}"; do
    is_installed "$pkg" || die "$pkg is still not installed after apt-get install"
done
for tool in slurmctld slurmd sinfo munged chromium; do
    command -v "$tool" >/dev/null || [[ -x "/usr/sbin/$tool" ]] || die "$tool not found after install"
done
echo "install-system.sh: installed ${missing[*]}"
