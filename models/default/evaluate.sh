#!/usr/bin/env bash
# Measures the built-in default model for MODEL_CARD.md on simulated cases it never saw
# (seeds and a background not used by train.sh), and runs it on every real scan in
# ../shared/data. Needs the run folder train.sh left (for `ichscan eval`, slice level) and
# the binary built with the installed model (for `ichscan detect`, the deployed int8 graphs).
#
#   models/default/evaluate.sh [WORK_DIR]      (WORK_DIR as given to train.sh)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-$root/target/default-model}"
data="$root/../shared/data"
[ -d "$work/run" ] || { echo "needs $work/run (models/default/train.sh)" >&2; exit 2; }
eval "$("$root/scripts/setup-python")"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p ichscan
bin="$root/target/release/ichscan"
cd "$work"
mkdir -p heldout
# Phantom cases at the full 512 matrix in DICOM (training used 256 in NIfTI), and lesions
# inserted into the RSNA series, the real background training never used (it has a real
# hyperdense parenchymal lesion of its own, not in the truth: its "negatives" are not). The
# DeepBleed NIfTI cannot be a background: it was intensity-clipped (-66..320), so no
# cranial cavity can be found in it.
[ -f heldout/phantom/manifest.csv ] || "$bin" synth --cases 40 --out heldout/phantom --seed 606
if [ -d "$data/rsna/series-ID_fff502d5" ]; then
  [ -f heldout/rsna/manifest.csv ] || "$bin" synth --cases 12 --out heldout/rsna --seed 707 \
    --into "$data/rsna/series-ID_fff502d5"
fi
(cd heldout && python3 "$root/models/default/merge-manifests.py" all.csv phantom rsna)
# Slice level, per plane (the f32 models of the run).
"$bin" eval --manifest heldout/all.csv --run run --all --out heldout/eval | tee heldout/eval.txt
# Scan level and boxes: detect with the built-in model on every held-out case, then the real scans.
BIN="$bin" DATA="$data" python3 "$root/models/default/evaluate.py" heldout | tee heldout/detect.txt
