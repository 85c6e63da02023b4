#!/usr/bin/env bash
# The one test command: bash scripts/test.sh [pytest arguments]
#
# Installs the system packages (Dovecot, for the real mail server the tests use),
# creates .venv with Python >= 3.11 when missing, installs the project with its test
# extras, then runs ruff, mypy (strict, configured in pyproject.toml), lint-imports (the
# layers of the package, [tool.importlinter] in pyproject.toml) and pytest.
# Runs all four checks even when one fails; exits non-zero when any failed.
#
# The tests of the optional corpus of real-world mail, beside the checkout (where exactly:
# tests/shared_corpus.py, or $TRIAGED_CORPUS) skip when it is absent; the
# last lines then say how many were skipped, so such a run never reads as a full pass.
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
    echo "test.sh: Python >= 3.11 is needed (python3.11 or newer on PATH)" >&2
    return 1
}

# ensure_venv TARGET: .venv exists and has `pip install -e TARGET` for this pyproject.toml.
ensure_venv() {
    local target=$1 stamp=.venv/.triaged-installed want
    if [[ ! -x .venv/bin/python ]]; then
        "$(find_python)" -m venv .venv
        .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    fi
    want="$target $(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [[ ! -f $stamp ]] || ! grep -qxF "$want" "$stamp"; then
        .venv/bin/python -m pip install -q --disable-pip-version-check -e "$target"
        echo "$want" >>"$stamp"
    fi
}

bash scripts/install-system-deps.sh
ensure_venv '.[test]'

failed=()
lint_paths=()
for path in triaged tests bench; do
    [[ -e $path ]] && lint_paths+=("$path")
done
echo "== ruff" >&2
.venv/bin/ruff check "${lint_paths[@]}" || failed+=(ruff)
echo "== mypy" >&2
.venv/bin/mypy || failed+=(mypy)
echo "== lint-imports" >&2
.venv/bin/lint-imports || failed+=(lint-imports)
echo "== pytest" >&2
# pytest's JUnit report lists each skip with its reason; the corpus tests' reason starts
# with "shared corpus absent" (tests/shared_corpus.py).
report=$(mktemp --suffix=.xml)
trap 'rm -f "$report"' EXIT
.venv/bin/pytest --junitxml="$report" "$@" || failed+=(pytest)
corpus_skipped=0
if [[ -s $report ]]; then
    corpus_skipped=$( (grep -o '<skipped [^>]*message="shared corpus absent' "$report" || true) | wc -l)
fi
without_corpus=""
if [[ $corpus_skipped -gt 0 ]]; then
    echo "test.sh: shared corpus absent: $corpus_skipped corpus tests skipped;" \
        "the project's own fixtures (tests/data/mime) ran;" \
        "set TRIAGED_CORPUS to the corpus folder to run them" >&2
    without_corpus=", without the shared corpus"
fi

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "test.sh: FAILED: ${failed[*]}$without_corpus" >&2
    exit 1
fi
echo "test.sh: all checks passed$without_corpus" >&2
