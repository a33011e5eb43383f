#!/usr/bin/env bash
# Type-checks agent/ and tools/ as the package `chatedit` with mypy (settings in pyproject.toml).
# The editable install maps `chatedit` to the repository root through an import hook that mypy cannot
# follow, so mypy runs in a temporary folder where `chatedit` is a link to this checkout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ln -s "$root" "$work/chatedit"
cd "$work"
mypy --config-file "$root/pyproject.toml" -p chatedit.agent -p chatedit.tools
