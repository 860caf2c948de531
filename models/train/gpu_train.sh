#!/usr/bin/env bash
# Continues training both image generators side by side on a lent GPU machine (see README.md).
# Runs from the project root there, with .gpu_train/ carried: packs/ (the data, --pack-only) and,
# where there is one, checkpoints/<model>/ (compact: gan.save_compact); a model without one starts
# from its shipped ONNX file and a fresh discriminator (--from-shipped). Writes each model's compact checkpoint under
# $OUT (8 files: what a call may bring back) and the logs to standard output; here, copy them into
# $KILN_DATA_DIR/checkpoints/ and run the scripts' --export-only.
#   usage: bash models/train/gpu_train.sh MINUTES [BATCH]
set -eu
minutes=$1 batch=${2:-512}
export KILN_DATA_DIR=$PWD/.gpu_train PYTHONUNBUFFERED=1 KILN_TRAIN_THREADS=4
nvidia-smi -L || true
cd models/train
for model in textures sprites; do
  python3 "train_$model.py" --minutes "$minutes" --batch "$batch" --from-shipped --no-export --state-out "$OUT/$model" 2>&1 | sed "s/^/[$model] /" &
done
wait
