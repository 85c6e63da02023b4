#!/usr/bin/env bash
# See triaged work: bash scripts/demo.sh [demo options]
#
# Creates .venv with Python >= 3.11 when missing, installs the project (no test
# extras, no mail server: the demo brings its own Maildir and SQLite), then runs
# `triaged demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

find_python() {
    local candidate
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "demo.sh: Python >= 3.11 is needed (python3.11 or newer on PATH)" >&2
    return 1
}

# .venv exists and has the project installed for this pyproject.toml (a test install,
# which includes it, counts too).
ensure_venv() {
    local stamp=.venv/.triaged-installed hash
    if [[ ! -x .venv/bin/python ]]; then
        "$(find_python)" -m venv .venv
        .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    fi
    hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [[ ! -f $stamp ]] || ! grep -qxE "(\.|\.\[test\]) $hash" "$stamp"; then
        .venv/bin/python -m pip install -q --disable-pip-version-check -e .
        echo ". $hash" >>"$stamp"
    fi
}

ensure_venv
exec .venv/bin/triaged demo "$@"
