#!/usr/bin/env bash
# Install the benchmark's system tools (idempotent): wrk (load generator) and
# taskset (util-linux, normally present). Needs root or sudo for apt-get.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)

if [ "${#missing[@]}" -eq 0 ]; then
    echo "benchmarks/setup.sh: wrk and taskset already installed"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "benchmarks/setup.sh: installed ${missing[*]}"
