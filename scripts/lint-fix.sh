#!/usr/bin/env bash
# Brings the code to the formatter and applies the linter's safe fixes, nothing else: run once
# after merging (its own commit), then whenever `npm run lint` reports formatting. Unsafe fixes
# and findings with no fix are left for a person: they are listed at the end, and the script
# then exits non-zero, as `npm run lint` will until they are fixed.
set -uo pipefail
cd "$(dirname "$0")/.."
# --write formats and applies safe lint fixes only (no --unsafe); assist (import sorting) is off
# in biome.jsonc, so imports are not reordered.
npx --no-install biome check --write --error-on-warnings
status=$?
git diff --shortstat
exit $status
