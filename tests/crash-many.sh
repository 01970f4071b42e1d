#!/usr/bin/env bash
# kill -9 the recorder N times (default 100) at seeded random moments, restarting in between,
# then check that the manifest verifies, every clip plays, and at most ~1 s was lost per kill.
# Usage: tests/crash-many.sh [TRIALS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
PACKWITNESS_CRASH_TRIALS="${1:-100}" PACKWITNESS_CRASH_SEED="${2:-20261125}" \
  cargo test --release --test crash kill_9 -- --nocapture
