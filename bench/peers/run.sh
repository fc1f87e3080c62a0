#!/usr/bin/env bash
# Run the scikit-learn peers on folds files written by `saring cv --folds-out FILE`.
# Creates bench/peers/.venv on first use (and again whenever requirements.txt changes), then runs peers.py
# with every argument passed through:  bench/peers/run.sh [--json] FOLDS.jsonl [...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$stamp"; then
    echo "setting up $venv ..." >&2
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi
exec "$venv/bin/python" "$here/peers.py" "$@"
