#!/usr/bin/env bash
# The main job: install what is missing, build, and run the seed demo on a
# private local manager.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build >/dev/null
exec ./build/seed_manager
