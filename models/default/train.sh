#!/usr/bin/env bash
# Re-trains the built-in default model (see MODEL_CARD.md) from simulated cases and
# installs it into models/default/. Needs ../shared/data for the real-scan backgrounds
# (CQ500-CT-0 and the GE scan). About an hour on 2 cores.
#
#   models/default/train.sh [WORK_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-$root/target/default-model}"
data="$root/../shared/data"
cq="$data/cq500/CQ500CT0 CQ500CT0/Unknown Study/CT 4cc sec 150cc D3D on"
ge="$data/dcm_qa_ct/GE"
[ -d "$cq" ] && [ -d "$ge" ] || { echo "needs $cq and $ge (../shared/data)" >&2; exit 2; }
eval "$("$root/scripts/setup-python")"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p ichscan
bin="$root/target/release/ichscan"
mkdir -p "$work" && cd "$work"
# Training data: 200 phantom cases and 30 insertions into each real scan. Held-out test
# cases (crates/cli/tests/detect.rs) use other seeds.
[ -f phantom/manifest.csv ] || "$bin" synth --cases 200 --out phantom --seed 101 --matrix 256 --format nifti
[ -f cq500/manifest.csv ] || "$bin" synth --cases 30 --out cq500 --seed 202 --into "$cq" --format nifti
[ -f ge/manifest.csv ] || "$bin" synth --cases 30 --out ge --seed 303 --into "$ge" --format nifti
# One scan list, paths relative to it.
python3 "$root/models/default/merge-manifests.py" all.csv phantom cq500 ge
# From scratch (no ImageNet weights can be had here): a quarter-width ResNet18 with the
# type head, learning rate 1e-3 (the method's 1e-4 is for fine-tuning), more epochs than
# the method's fine-tuning recipe (axial still improved at epoch 10 of a first run);
# batch and L2 as the method's. RESUME=1 continues an interrupted run.
common=(--manifest all.csv --out run --arch resnet18 --width 16 --types --seed 7 --lr 1e-3)
"$bin" train "${common[@]}" --plane axial --epochs 24 ${RESUME:+--resume}
"$bin" train "${common[@]}" --plane sagittal --epochs 5 --split run/split.json ${RESUME:+--resume}
"$bin" train "${common[@]}" --plane coronal --epochs 5 --split run/split.json ${RESUME:+--resume}
"$bin" export run --out deploy --int8
for p in axial sagittal coronal; do
  mkdir -p "$root/models/default/$p"
  cp "deploy/$p/model.json" "deploy/$p/model.onnx" "deploy/$p/model.int8.onnx" "deploy/$p/weights.safetensors" "$root/models/default/$p/"
done
echo "installed into $root/models/default"
