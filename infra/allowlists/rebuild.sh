#!/usr/bin/env bash
# Rebuild the generated allowlists from the real libraries (docs/allowlists.md). Each venv is a
# throwaway one with pinned versions (pip by name; torch only as torch==2.13.0 on this machine);
# `mlgate allowlist build` imports the libraries only in a separate, network-less process and
# merges the versions into one file per distribution. Review the diff before committing.
#
#   VENV_OLD=/tmp/rwB VENV_NEW=/tmp/rwA VENV_MID=/tmp/rwC bash infra/allowlists/rebuild.sh
#
# venvs used for the committed files (python 3.11):
#   VENV_OLD: pandas==1.5.3 "numpy<2" scikit-learn==1.3.2 "xgboost<2" joblib==1.2.0 scipy
#   VENV_NEW: torch==2.13.0, then transformers peft "pandas>=2.2,<2.3" scikit-learn xgboost lightgbm catboost
#             scipy joblib lz4 skops lightning accelerate keras h5py
#   VENV_MID: torch==2.13.0, then "pandas>=3" transformers==4.46.3 scikit-learn==1.5.2 joblib accelerate
set -euo pipefail
cd "$(dirname "$0")/../.."
G=policies/allowlists/generated
MLGATE=${MLGATE:-.venv/bin/mlgate}
ver() { "$1/bin/python" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$2"; }
b() {  # b VENV DIST MODULE...
  local venv=$1 dist=$2; shift 2
  local args=()
  for m in "$@"; do args+=(--module "$m"); done
  "$MLGATE" allowlist build "$dist==$(ver "$venv" "$dist")" --python "$venv/bin/python" --out "$G/$dist.json" "${args[@]}"
}
rm -f "$G"/*.json
for V in "$VENV_OLD" "$VENV_MID" "$VENV_NEW"; do
  b "$V" numpy numpy
  b "$V" pandas pandas
  b "$V" scikit-learn sklearn
  b "$V" joblib joblib
  b "$V" scipy scipy.sparse scipy.special
done
b "$VENV_OLD" xgboost xgboost
b "$VENV_NEW" xgboost xgboost
b "$VENV_NEW" lightgbm lightgbm
b "$VENV_NEW" catboost catboost
for V in "$VENV_MID" "$VENV_NEW"; do
  b "$V" torch torch.nn torch.optim
  b "$V" transformers transformers.training_args transformers.trainer_utils transformers.trainer_pt_utils \
    transformers.utils.generic transformers.configuration_utils transformers.generation.configuration_utils \
    transformers.utils.quantization_config transformers.debug_utils transformers.training_args_seq2seq
  b "$V" accelerate accelerate.state accelerate.utils.dataclasses
done
b "$VENV_NEW" peft peft.utils.peft_types peft.tuners peft.config
b "$VENV_NEW" lightning lightning.fabric.utilities lightning.pytorch.utilities
