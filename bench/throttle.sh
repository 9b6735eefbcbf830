#!/usr/bin/env bash
# What one phone miss costs the throttle with 0, 10,000 and 100,000
# networks tracked, and at the table's bound (benches/throttle.rs).
# Usage: bench/throttle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --quiet --bench throttle
