#!/usr/bin/env bash
# What each layer of the API's stack would cost a phone fetch, in
# nanoseconds per request (benches/phone_layers.rs), with the server's own
# log subscriber at its default level writing to /dev/null.
# Usage: bench/layers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --quiet --bench phone_layers 2>/dev/null
