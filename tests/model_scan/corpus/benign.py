"""Realistic benign model files, produced by the real libraries (``torch.save``, ``joblib.dump``,
``pickle.dumps`` of fitted estimators, ``np.save``, ``safetensors``, ``skops.io.dump``, ``h5py``,
``gguf.GGUFWriter``), small enough to generate in seconds. Each must PASS under
``policies/default.yaml``.

Gaps (documented, not emulated): ``training_args.bin`` is pickled as an ``argparse.Namespace``
because ``transformers`` is not installed (the real file pickles
``transformers.training_args.TrainingArguments`` and enum members of
``transformers.trainer_utils``); xgboost and lz4 are not installed, so there are no xgboost
estimator pickles and no lz4-compressed joblib files.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import decimal
import fractions
import functools
import io
import json
import pickle
import random
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import Sample

BENIGN: list[Sample] = []


def benign(id: str, family: str, title: str, filename: str, *, requires: tuple[str, ...] = ()
           ) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    def deco(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        def build(target: Path, canary: Path) -> None:
            fn(target)

        BENIGN.append(Sample(id=id, family=f"benign.{family}", title=title, filename=filename, build=build,
                             malicious=False, requires=requires))
        return fn

    return deco


# -- shared fixtures (deterministic, tiny) ------------------------------------------------------------------

def _torch() -> Any:
    import torch

    torch.manual_seed(0)
    return torch


def _tiny_net() -> Any:
    """A fresh, identically initialised conv net (never shared: samples must not depend on the
    order they are generated in)."""
    torch = _torch()
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))


def _trained() -> tuple[Any, Any, Any]:
    """A tiny model after one AdamW step, with its optimizer and LR scheduler."""
    torch = _torch()
    model = _tiny_net()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / 10))
    loss = model(torch.randn(2, 1, 4, 4)).pow(2).mean()
    loss.backward()
    opt.step()
    sched.step()
    return model, opt, sched


def _transformer_sd(dtype: Any = None) -> dict[str, Any]:
    """A BERT-ish state dict with tied embeddings (two keys, one storage)."""
    torch = _torch()
    sd: dict[str, Any] = collections.OrderedDict()
    emb = torch.randn(16, 8)
    sd["embeddings.word_embeddings.weight"] = emb
    sd["embeddings.position_embeddings.weight"] = torch.randn(8, 8)
    sd["embeddings.LayerNorm.weight"] = torch.ones(8)
    sd["embeddings.LayerNorm.bias"] = torch.zeros(8)
    for i in range(2):
        for n in ("query", "key", "value"):
            sd[f"encoder.layer.{i}.attention.self.{n}.weight"] = torch.randn(8, 8)
            sd[f"encoder.layer.{i}.attention.self.{n}.bias"] = torch.zeros(8)
    sd["lm_head.weight"] = emb  # tied weights: same storage
    sd["embeddings.position_ids"] = torch.arange(8).unsqueeze(0)
    if dtype is not None:
        sd = collections.OrderedDict((k, v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items())
    return sd


def _rng_state() -> dict[str, Any]:
    import numpy as np

    torch = _torch()
    random.seed(0)
    np.random.seed(0)
    return {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}


def _xy(n: int = 40) -> tuple[Any, Any]:
    import numpy as np

    rs = np.random.RandomState(0)
    X = rs.randn(n, 4)
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


def _frame() -> Any:
    import numpy as np
    import pandas as pd

    return pd.DataFrame({
        "age": np.array([23, 35, 47, 51, 29, 62], dtype=np.int64),
        "income": [31.5, 52.0, 61.25, 75.0, 40.0, np.nan],
        "city": ["Paris", "Lyon", "Nice", "Paris", "Lyon", "Nice"],
        "segment": pd.Categorical(["a", "b", "a", "c", "b", "a"]),
        "signup": pd.to_datetime(["2021-01-04", "2021-03-15", "2022-07-01", "2022-11-30", "2023-02-14",
                                  "2024-05-05"]),
        "active": [True, False, True, True, False, True],
    })


@functools.cache
def _sk_models() -> dict[str, Any]:
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier, IsolationForest, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    X, y = _xy()
    df = _frame()
    yf = [0, 1, 0, 1, 1, 0]
    ct = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), ["age", "income"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "segment"]),
    ])
    return {
        "logreg": LogisticRegression(max_iter=200).fit(X, y),
        "random-forest": RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y),
        "gradient-boosting": GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(X, y),
        "pipeline-columntransformer": Pipeline([("prep", ct), ("clf", LogisticRegression())]).fit(df, yf),
        "pipeline-scaler-svc": Pipeline([("scale", StandardScaler()), ("svc", SVC())]).fit(X, y),
        "kmeans": KMeans(n_clusters=2, n_init=1, random_state=0).fit(X),
        "isolation-forest": IsolationForest(n_estimators=3, random_state=0).fit(X),
        "decision-tree": DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y),
        "ridge": Ridge().fit(X, X[:, 0]),
    }


# ==================================================================================================
# PyTorch (zip format)
# ==================================================================================================

@benign("torch-state-dict-fp32", "torch", "fp32 state dict of a conv net (model.state_dict())",
        "pytorch_model.bin")
def _t_fp32(target: Path) -> None:
    _torch().save(_tiny_net().state_dict(), target)


@benign("torch-state-dict-fp16", "torch", "fp16 transformer-style state dict", "model.pt")
def _t_fp16(target: Path) -> None:
    torch = _torch()
    torch.save(_transformer_sd(torch.float16), target)


@benign("torch-state-dict-bf16", "torch", "bf16 transformer-style state dict", "model.pth")
def _t_bf16(target: Path) -> None:
    torch = _torch()
    torch.save(_transformer_sd(torch.bfloat16), target)


@benign("torch-shared-storage-views", "torch", "views of one storage + tied weights", "weights.pt")
def _t_views(target: Path) -> None:
    torch = _torch()
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    torch.save({"base": base, "rows": base[1:3], "col": base[:, 2], "t": base.t(), "flat": base.view(-1),
                "tied": _transformer_sd()}, target)


@benign("torch-protocol-4", "torch", "state dict saved with pickle_protocol=4", "pytorch_model.bin")
def _t_p4(target: Path) -> None:
    _torch().save(_transformer_sd(), target, pickle_protocol=4)


@benign("torch-mixed-dtypes", "torch", "tensors of every common dtype", "tensors.pt")
def _t_dtypes(target: Path) -> None:
    torch = _torch()
    torch.save({
        "f64": torch.randn(3, dtype=torch.float64), "i64": torch.arange(4), "i32": torch.arange(3, dtype=torch.int32),
        "i16": torch.arange(3, dtype=torch.int16), "i8": torch.arange(3, dtype=torch.int8),
        "u8": torch.arange(3, dtype=torch.uint8), "bool": torch.tensor([True, False]),
        "c64": torch.randn(2, dtype=torch.complex64), "c128": torch.randn(2, dtype=torch.complex128),
        "scalar": torch.tensor(3.5), "empty": torch.empty(0, 4),
    }, target)


@benign("torch-parameters", "torch", "dict of nn.Parameter (requires_grad) values", "params.pt")
def _t_params(target: Path) -> None:
    torch = _torch()
    torch.save({n: p for n, p in _tiny_net().named_parameters()}, target)


@benign("torch-metadata-values", "torch", "tensors with torch.Size, torch.device and dtype metadata",
        "embeddings.pt")
def _t_meta(target: Path) -> None:
    torch = _torch()
    t = torch.randn(4, 3)
    torch.save({"embeddings": t, "shape": t.shape, "device": torch.device("cpu"), "dtype": t.dtype,
                "dtypes": [torch.float16, torch.bfloat16, torch.int64], "names": ["a", "b", "c", "d"]}, target)


@benign("torch-nested-containers", "torch", "lists/tuples of tensors and python scalars", "features.pt")
def _t_nested(target: Path) -> None:
    torch = _torch()
    torch.save([(torch.randn(2), 0, "cat"), (torch.randn(2), 1, "dog"), {"mean": 0.5, "std": None, "ok": True}],
               target)


@benign("torch-ema-module-prefix", "torch", "EMA weights with 'module.' prefixes (DataParallel layout)",
        "ema.pt")
def _t_ema(target: Path) -> None:
    torch = _torch()
    sd = _tiny_net().state_dict()
    torch.save({"ema": collections.OrderedDict((f"module.{k}", v.clone()) for k, v in sd.items()),
                "decay": 0.999, "updates": 1200}, target)


@benign("torch-params-with-attrs", "torch",
        "parameters carrying Python attributes (transformers' _is_hf_initialized) and a tensor subclass state",
        "pytorch_model.bin")
def _t_attrs(target: Path) -> None:
    torch = _torch()
    p = torch.nn.Parameter(torch.randn(3, 3))
    p._is_hf_initialized = True
    t = torch.randn(2)
    t.scale_hint = 0.5
    torch.save({"proj.weight": p, "proj.bias": torch.nn.Parameter(torch.zeros(3), requires_grad=False),
                "calib": t}, target)


@benign("torch-fp8-uint16", "torch", "float8_e4m3fn and uint16 tensors (UntypedStorage + _rebuild_tensor_v3)",
        "model_fp8.pt")
def _t_fp8(target: Path) -> None:
    torch = _torch()
    torch.save({"w_fp8": torch.randn(4, 4).to(torch.float8_e4m3fn), "scale": torch.tensor(0.02),
                "codes": torch.zeros(4, dtype=torch.uint16)}, target)


@benign("torch-quantized", "torch", "per-tensor quantized int8 weights", "quantized.pt")
def _t_quant(target: Path) -> None:
    torch = _torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensor creation is deprecated, files still exist
        q = torch.quantize_per_tensor(torch.randn(4, 4), scale=0.1, zero_point=0, dtype=torch.qint8)
    torch.save({"weight": q, "bias": torch.zeros(4)}, target)


@benign("torch-sparse", "torch", "sparse COO tensor", "sparse.pt")
def _t_sparse(target: Path) -> None:
    torch = _torch()
    i = torch.tensor([[0, 1, 1], [2, 0, 2]])
    adj = torch.sparse_coo_tensor(i, torch.tensor([3.0, 4.0, 5.0]), (2, 3), check_invariants=True)
    torch.save({"adj": adj}, target)


@benign("torch-many-storages", "torch", "a 240-tensor state dict of random fp32/fp16 weights (many raw storages)",
        "pytorch_model.bin")
def _t_many(target: Path) -> None:
    torch = _torch()
    g = torch.Generator().manual_seed(1234)
    sd = collections.OrderedDict()
    for i in range(120):
        sd[f"blocks.{i}.weight"] = torch.randn(4, 4, generator=g)
        sd[f"blocks.{i}.bias"] = torch.randn(4, generator=g).half()
    torch.save(sd, target)


@benign("torch-rng-state", "torch", "rng_state.pth as the HF Trainer saves it (python/numpy/torch RNG)",
        "rng_state.pth")
def _t_rng(target: Path) -> None:
    _torch().save(_rng_state(), target)


@benign("torch-optimizer-adamw", "torch", "optimizer.pt: real AdamW state_dict after one step", "optimizer.pt")
def _t_opt(target: Path) -> None:
    _model, opt, _sched = _trained()
    _torch().save(opt.state_dict(), target)


@benign("torch-scheduler-lambdalr", "torch", "scheduler.pt: LambdaLR state_dict (as the HF Trainer)", "scheduler.pt")
def _t_sched(target: Path) -> None:
    _model, _opt, sched = _trained()
    _torch().save(sched.state_dict(), target)


@benign("torch-scheduler-others", "torch", "StepLR / CosineAnnealing / OneCycle / ReduceLROnPlateau states",
        "schedulers.pt")
def _t_scheds(target: Path) -> None:
    torch = _torch()
    opt = torch.optim.SGD(_tiny_net().parameters(), lr=0.1, momentum=0.9)
    s = torch.optim.lr_scheduler
    torch.save({"step": s.StepLR(opt, 3).state_dict(), "cos": s.CosineAnnealingLR(opt, 10).state_dict(),
                "onecycle": s.OneCycleLR(opt, 0.1, total_steps=10).state_dict(),
                "plateau": s.ReduceLROnPlateau(opt).state_dict(), "sgd": opt.state_dict()}, target)


@benign("torch-training-args-namespace", "torch",
        "training_args.bin as an argparse.Namespace (stand-in: transformers is not installed)", "training_args.bin")
def _t_args(target: Path) -> None:
    ns = argparse.Namespace(output_dir="out", learning_rate=5e-5, num_train_epochs=3.0, per_device_train_batch_size=8,
                            seed=42, fp16=False, report_to=["none"], lr_scheduler_type="linear", warmup_ratio=0.0)
    _torch().save(ns, target)


# -- legacy (pre-1.6, non-zip) ----------------------------------------------------------------------------------
@benign("torch-legacy-state-dict", "torch-legacy", "legacy (non-zip) torch.save of a state dict", "model.pt")
def _tl_sd(target: Path) -> None:
    _torch().save(_tiny_net().state_dict(), target, _use_new_zipfile_serialization=False)


@benign("torch-legacy-mixed", "torch-legacy", "legacy torch.save of fp16/int64/bool tensors and shared views",
        "model.bin")
def _tl_mixed(target: Path) -> None:
    torch = _torch()
    base = torch.randn(4, 4)
    torch.save({"h": torch.randn(3).half(), "ids": torch.arange(5), "mask": torch.tensor([True, False]),
                "base": base, "view": base[2:], "meta": {"epoch": 2}}, target, _use_new_zipfile_serialization=False)


@benign("torch-legacy-checkpoint", "torch-legacy", "legacy .pth.tar checkpoint with optimizer and Namespace args",
        "checkpoint.pth.tar")
def _tl_ckpt(target: Path) -> None:
    import numpy as np

    model, opt, _ = _trained()
    _torch().save({"epoch": 5, "arch": "convnet", "state_dict": model.state_dict(), "optimizer": opt.state_dict(),
                   "best_acc1": np.float64(71.5), "args": argparse.Namespace(lr=0.1, arch="convnet")},
                  target, _use_new_zipfile_serialization=False)


# ==================================================================================================
# Checkpoint folders
# ==================================================================================================

def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


BERT_CONFIG = {"architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_size": 8, "num_hidden_layers": 2,
               "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 16, "max_position_embeddings": 8,
               "torch_dtype": "float32", "transformers_version": "4.44.0"}


@benign("hf-trainer-checkpoint", "hf-checkpoint",
        "HF Trainer checkpoint folder: weights, optimizer.pt, scheduler.pt, rng_state.pth, training_args.bin",
        "checkpoint-500")
def _hf_ckpt(target: Path) -> None:
    torch = _torch()
    target.mkdir()
    model, opt, sched = _trained()
    _write_json(target / "config.json", BERT_CONFIG)
    torch.save(model.state_dict(), target / "pytorch_model.bin")
    torch.save(opt.state_dict(), target / "optimizer.pt")
    torch.save(sched.state_dict(), target / "scheduler.pt")
    torch.save(_rng_state(), target / "rng_state.pth")
    torch.save(argparse.Namespace(output_dir="out", seed=42, learning_rate=5e-5), target / "training_args.bin")
    _write_json(target / "trainer_state.json", {"global_step": 500, "epoch": 1.0, "best_metric": None,
                                                "log_history": [{"loss": 2.31, "step": 500}]})
    _write_json(target / "generation_config.json", {"_from_model_config": True, "transformers_version": "4.44.0"})


@benign("hf-sharded-checkpoint", "hf-checkpoint", "sharded pytorch_model-0000x-of-00002.bin + index json",
        "bert-sharded")
def _hf_sharded(target: Path) -> None:
    torch = _torch()
    target.mkdir()
    sd = _transformer_sd()
    keys = list(sd)
    shards = {"pytorch_model-00001-of-00002.bin": keys[: len(keys) // 2],
              "pytorch_model-00002-of-00002.bin": keys[len(keys) // 2:]}
    weight_map = {}
    for fname, ks in shards.items():
        torch.save({k: sd[k].clone() for k in ks}, target / fname)
        weight_map.update({k: fname for k in ks})
    _write_json(target / "pytorch_model.bin.index.json", {"metadata": {"total_size": 4096}, "weight_map": weight_map})
    _write_json(target / "config.json", BERT_CONFIG)


@benign("peft-lora-adapter", "peft", "PEFT LoRA adapter: adapter_model.bin + .safetensors + adapter_config.json",
        "lora-adapter")
def _peft(target: Path) -> None:
    from safetensors.torch import save_file

    torch = _torch()
    target.mkdir()
    sd = {}
    for i in range(2):
        for n in ("q_proj", "v_proj"):
            sd[f"base_model.model.model.layers.{i}.self_attn.{n}.lora_A.weight"] = torch.randn(4, 8)
            sd[f"base_model.model.model.layers.{i}.self_attn.{n}.lora_B.weight"] = torch.zeros(8, 4)
    torch.save(sd, target / "adapter_model.bin")
    save_file(sd, target / "adapter_model.safetensors")
    _write_json(target / "adapter_config.json", {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4, "lora_alpha": 8, "lora_dropout": 0.05,
        "target_modules": ["q_proj", "v_proj"], "base_model_name_or_path": "org/tiny-llama", "bias": "none",
        "inference_mode": True, "fan_in_fan_out": False, "modules_to_save": None})
    (target / "README.md").write_text("---\nlibrary_name: peft\n---\n# LoRA adapter\n")


def _lightning_ckpt(hparams: Any) -> dict[str, Any]:
    model, opt, _ = _trained()
    torch = _torch()
    step = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    return {
        "epoch": 4, "global_step": 1250, "pytorch-lightning_version": "2.4.0",
        "state_dict": collections.OrderedDict((f"model.{k}", v) for k, v in model.state_dict().items()),
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 5, "completed": 4}}}},
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}": {
            "monitor": "val_loss", "best_model_score": torch.tensor(0.3125), "best_model_path": "ckpts/best.ckpt",
            "current_score": torch.tensor(0.3125), "dirpath": "ckpts", "best_k_models": {}, "kth_best_model_path": "",
            "kth_value": torch.tensor(float("inf")), "last_model_path": ""}},
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [step.state_dict()],
        "hparams_name": "hparams",
        "hyper_parameters": hparams,
    }


@benign("lightning-ckpt-dict-hparams", "lightning", "Lightning .ckpt, hyper_parameters as a plain dict", "last.ckpt")
def _pl_dict(target: Path) -> None:
    _torch().save(_lightning_ckpt({"lr": 1e-3, "hidden": 8, "layers": [8, 8], "dropout": 0.1, "name": "convnet"}),
                  target)


@benign("lightning-ckpt-namespace-hparams", "lightning", "Lightning .ckpt, hyper_parameters as argparse.Namespace",
        "epoch=4-step=1250.ckpt")
def _pl_ns(target: Path) -> None:
    _torch().save(_lightning_ckpt(argparse.Namespace(lr=1e-3, batch_size=32, max_epochs=10)), target)


@benign("pth-tar-namespace-numpy", "torch", ".pth.tar (ImageNet-example style): Namespace args, numpy scalars",
        "model_best.pth.tar")
def _pth_tar(target: Path) -> None:
    import numpy as np

    model, opt, sched = _trained()
    _torch().save({"epoch": 90, "arch": "resnet-tiny", "state_dict": model.state_dict(),
                   "best_acc1": np.float64(76.13), "best_epoch": np.int64(88), "val_losses": np.array([1.2, 0.9, 0.8]),
                   "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                   "args": argparse.Namespace(arch="resnet-tiny", lr=0.1, momentum=0.9, workers=4,
                                              data="/data/imagenet")}, target)


# ==================================================================================================
# scikit-learn, joblib
# ==================================================================================================

for _name in ("logreg", "random-forest", "gradient-boosting", "pipeline-columntransformer", "pipeline-scaler-svc",
              "kmeans", "isolation-forest", "decision-tree", "ridge"):
    @benign(f"sklearn-pickle-{_name}", "sklearn-pickle", f"pickle.dumps of a fitted {_name}", "model.pkl")
    def _skp(target: Path, _n: str = _name) -> None:
        target.write_bytes(pickle.dumps(_sk_models()[_n], protocol=pickle.HIGHEST_PROTOCOL))


@benign("sklearn-pickle-protocol-2", "sklearn-pickle", "LogisticRegression pickled at protocol 2", "model.pkl")
def _skp2(target: Path) -> None:
    target.write_bytes(pickle.dumps(_sk_models()["logreg"], protocol=2))


@benign("sklearn-pickle-protocol-0", "sklearn-pickle", "RandomForest pickled at protocol 0 (text)", "model.pickle")
def _skp0(target: Path) -> None:
    target.write_bytes(pickle.dumps(_sk_models()["random-forest"], protocol=0))


for _name in ("logreg", "random-forest", "gradient-boosting", "pipeline-columntransformer", "kmeans",
              "isolation-forest"):
    @benign(f"sklearn-joblib-{_name}", "sklearn-joblib", f"joblib.dump of a fitted {_name}", "model.joblib")
    def _skj(target: Path, _n: str = _name) -> None:
        import joblib

        joblib.dump(_sk_models()[_n], target)

for _comp in ("zlib", "gzip", "bz2", "lzma", "xz"):
    @benign(f"joblib-compressed-{_comp}", "joblib-compressed", f"joblib.dump(compress='{_comp}')",
            f"model.joblib.{_comp}" if _comp != "zlib" else "model.joblib")
    def _skc(target: Path, _c: str = _comp) -> None:
        import joblib

        joblib.dump({"model": _sk_models()["random-forest"], "features": ["a", "b", "c", "d"]}, target,
                    compress=(_c, 3))


@benign("joblib-arrays-and-objects", "sklearn-joblib", "joblib.dump of a dict of arrays, incl. an object array",
        "features.joblib")
def _jl_arrays(target: Path) -> None:
    import joblib
    import numpy as np

    joblib.dump({"X": np.arange(64.0).reshape(8, 8), "ids": np.arange(8, dtype=np.int32),
                 "labels": np.array(["cat", "dog", None, "cat"], dtype=object),
                 "mask": np.ones(8, dtype=bool), "fortran": np.asfortranarray(np.ones((3, 2)))}, target)


@benign("joblib-compress-int", "joblib-compressed", "joblib.dump(compress=3) of a pipeline", "pipeline.pkl")
def _jl_int(target: Path) -> None:
    import joblib

    joblib.dump(_sk_models()["pipeline-scaler-svc"], target, compress=3)


# ==================================================================================================
# pandas
# ==================================================================================================

@benign("pandas-dataframe", "pandas", "DataFrame with int/float/str/categorical/datetime/bool columns", "frame.pkl")
def _pd_df(target: Path) -> None:
    _frame().to_pickle(target)


@benign("pandas-series", "pandas", "Series with a string index", "series.pkl")
def _pd_series(target: Path) -> None:
    import pandas as pd

    pd.Series([0.1, 0.2, 0.7], index=["a", "b", "c"], name="probs").to_pickle(target)


@benign("pandas-rich-dtypes", "pandas", "tz-aware datetimes, timedeltas, nullable Int64, MultiIndex",
        "frame_rich.pkl")
def _pd_rich(target: Path) -> None:
    import pandas as pd

    idx = pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["grp", "n"])
    pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=3, tz="UTC"),
                  "dur": pd.to_timedelta([1, 2, 3], unit="h"),
                  "cnt": pd.array([1, None, 3], dtype="Int64"),
                  "obj": pd.Series(["x", None, "z"], dtype=object).values}, index=idx).to_pickle(target)


@benign("pandas-extension-arrays", "pandas",
        "nullable Float64/boolean, Period/Interval/Datetime/Categorical indexes, sparse, Timestamp/Timedelta scalars",
        "frame_ext.pkl")
def _pd_ext(target: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"f": pd.array([1.5, None, 2.0], dtype="Float64"),
                          "b": pd.array([True, None, False], dtype="boolean"),
                          "sp": pd.arrays.SparseArray([0, 0, 1]),
                          "s": pd.Series(["a", None, "c"], dtype=pd.StringDtype("python")).values},
                         index=pd.CategoricalIndex(["x", "y", "z"]))
    payload = {"frame": frame, "periods": pd.period_range("2024-01", periods=3, freq="M"),
               "bins": pd.interval_range(0, 3), "days": pd.date_range("2024-01-01", periods=3),
               "ts": pd.Timestamp("2024-01-01 12:00"), "utc": pd.Timestamp("2024-01-01", tz="UTC"),
               "td": pd.Timedelta("90min")}
    target.write_bytes(pickle.dumps(payload, protocol=5))


@benign("pandas-zoneinfo-timestamps", "pandas", "DataFrame with a tz-aware column in an IANA zone (zoneinfo)",
        "frame_tz.pkl")
def _pd_tz(target: Path) -> None:
    import pandas as pd

    pd.DataFrame({"ts": pd.date_range("2024-03-30", periods=3, freq="D", tz="Europe/Paris"),
                  "v": [1, 2, 3]}).to_pickle(target)


@benign("pandas-pickle-gzip", "pandas", "DataFrame.to_pickle(compression='gzip')", "frame.pkl.gz")
def _pd_gz(target: Path) -> None:
    _frame().to_pickle(target, compression="gzip")


@benign("pandas-pickle-bz2", "pandas", "DataFrame.to_pickle(compression='bz2')", "frame.pkl.bz2")
def _pd_bz2(target: Path) -> None:
    _frame().to_pickle(target, compression="bz2")


@benign("pandas-pickle-xz", "pandas", "DataFrame.to_pickle(compression='xz')", "frame.pkl.xz")
def _pd_xz(target: Path) -> None:
    _frame().to_pickle(target, compression="xz")


# ==================================================================================================
# numpy RNG and plain data pickles
# ==================================================================================================

@benign("numpy-randomstate", "numpy-rng", "pickled numpy.random.RandomState", "rng.pkl")
def _np_rs(target: Path) -> None:
    import numpy as np

    target.write_bytes(pickle.dumps(np.random.RandomState(42)))


@benign("numpy-generators", "numpy-rng", "pickled Generators over PCG64/MT19937/Philox/SFC64/PCG64DXSM + SeedSequence",
        "generators.pkl")
def _np_gen(target: Path) -> None:
    import numpy as np

    r = np.random
    target.write_bytes(pickle.dumps({"pcg": r.default_rng(1), "mt": r.Generator(r.MT19937(2)),
                                     "philox": r.Generator(r.Philox(3)), "sfc": r.Generator(r.SFC64(4)),
                                     "dxsm": r.Generator(r.PCG64DXSM(5)), "seq": r.SeedSequence(6)}))


@benign("numpy-get-state", "numpy-rng", "np.random.get_state() tuple, pickled at protocol 2", "np_state.pkl")
def _np_state(target: Path) -> None:
    import numpy as np

    np.random.seed(0)
    target.write_bytes(pickle.dumps(np.random.get_state(), protocol=2))


def _plain_data() -> dict[str, Any]:
    return {
        "name": "run-42", "epochs": 10, "lr": 3e-4, "betas": (0.9, 0.999), "tags": ["a", "b"],
        "labels": {"cat", "dog"}, "frozen": frozenset({1, 2}), "blob": b"\x00\x01binary", "none": None,
        "flags": [True, False], "nan": float("nan"), "big": 2**80, "neg": -5, "unicode": "h\u00e9llo \u4e16\u754c",
    }


for _p in range(6):
    @benign(f"plain-data-protocol-{_p}", "plain-pickle", f"dicts/lists/sets/bytes/floats at protocol {_p}",
            f"data_p{_p}.pkl")
    def _plain(target: Path, _pp: int = _p) -> None:
        target.write_bytes(pickle.dumps(_plain_data(), protocol=_pp))


@benign("plain-stdlib-values", "plain-pickle", "stdlib value types: datetime, Decimal, Fraction, OrderedDict, "
        "Counter, deque, defaultdict, complex, bytearray, range, slice", "values.pkl")
def _plain_std(target: Path) -> None:
    dd: collections.defaultdict[str, list[int]] = collections.defaultdict(list)
    dd["x"].append(1)
    target.write_bytes(pickle.dumps({
        "when": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC), "day": dt.date(2024, 5, 1),
        "dur": dt.timedelta(hours=3), "price": decimal.Decimal("9.99"), "ratio": fractions.Fraction(1, 3),
        "od": collections.OrderedDict(a=1), "cnt": collections.Counter("hello"), "dq": collections.deque([1, 2]),
        "dd": dd, "z": complex(1, 2), "ba": bytearray(b"xy"), "r": range(3), "s": slice(1, 5, 2),
    }, protocol=4))


@benign("plain-stacked-pickles", "plain-pickle", "two data pickles written one after the other (pickle.dump twice)",
        "log.pkl")
def _plain_stacked(target: Path) -> None:
    target.write_bytes(pickle.dumps({"step": 1, "loss": 0.5}) + pickle.dumps({"step": 2, "loss": 0.4}))


# ==================================================================================================
# .npy / .npz
# ==================================================================================================

def _npy(name: str, title: str, make: Callable[[], Any], filename: str = "array.npy") -> None:
    @benign(f"npy-{name}", "npy", title, filename)
    def _b(target: Path) -> None:
        import numpy as np

        np.save(target, make(), allow_pickle=False)


def _np() -> Any:
    import numpy as np

    return np


_npy("float32-c", "float32 2-D, C order", lambda: _np().arange(12, dtype=_np().float32).reshape(3, 4))
_npy("float64-fortran", "float64 2-D, Fortran order", lambda: _np().asfortranarray(_np().ones((3, 4))))
_npy("scalar-0d", "0-d array", lambda: _np().array(3.14))
_npy("bool", "bool mask", lambda: _np().array([True, False, True]))
_npy("complex128", "complex128", lambda: _np().array([1 + 2j, 3 - 4j]))
_npy("float16", "float16", lambda: _np().linspace(0, 1, 5, dtype=_np().float16))
_npy("big-endian", "big-endian >f8", lambda: _np().arange(4, dtype=">f8"), "be.npy")
_npy("structured", "structured dtype without object fields",
     lambda: _np().array([(1.0, 2, b"ab"), (3.0, 4, b"cd")], dtype=[("x", "<f4"), ("y", "<i8"), ("tag", "S2")]))
_npy("uint64-3d", "uint64 3-D", lambda: _np().arange(24, dtype=_np().uint64).reshape(2, 3, 4))
_npy("unicode", "fixed-width unicode strings", lambda: _np().array(["cat", "dog", "bird"]))
_npy("datetime64", "datetime64[s] values", lambda: _np().array(["2024-01-01", "2024-06-01"], dtype="datetime64[s]"))
_npy("empty", "empty array", lambda: _np().zeros((0, 3)))
_npy("int8", "int8 signed values", lambda: _np().array([-128, 0, 127], dtype=_np().int8))


@benign("npy-format-v2", "npy", "npy format version 2.0 header", "v2.npy")
def _npy_v2(target: Path) -> None:
    import numpy as np

    with target.open("wb") as f:
        np.lib.format.write_array(f, np.ones((2, 2)), version=(2, 0))


@benign("npz-savez", "npz", "np.savez of several arrays", "arrays.npz")
def _npz(target: Path) -> None:
    import numpy as np

    with target.open("wb") as f:
        np.savez(f, w=np.ones((3, 3), dtype=np.float32), b=np.zeros(3), ids=np.arange(5), mask=np.array([True]))


@benign("npz-savez-compressed", "npz", "np.savez_compressed of several arrays", "arrays_compressed.npz")
def _npz_c(target: Path) -> None:
    import numpy as np

    with target.open("wb") as f:
        np.savez_compressed(f, emb=np.random.RandomState(0).randn(16, 8), vocab=np.array(["a", "b"]))


# ==================================================================================================
# safetensors, skops, Keras, GGUF
# ==================================================================================================

@benign("safetensors-torch", "safetensors", "safetensors.torch.save_file fp32 with metadata", "model.safetensors")
def _st_torch(target: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in _tiny_net().state_dict().items()}, target, metadata={"format": "pt"})


@benign("safetensors-bf16-fp16", "safetensors", "bf16 and fp16 tensors", "model-00001-of-00001.safetensors")
def _st_half(target: Path) -> None:
    from safetensors.torch import save_file

    torch = _torch()
    save_file({"a": torch.randn(4, 4).bfloat16(), "b": torch.randn(4).half(), "i": torch.arange(3)}, target)


@benign("safetensors-numpy", "safetensors", "safetensors.numpy.save_file", "weights.safetensors")
def _st_np(target: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"w": np.ones((2, 3), dtype=np.float32), "b": np.zeros(3, dtype=np.float64)}, str(target))


@benign("safetensors-empty", "safetensors", "safetensors file with no tensors, metadata only", "empty.safetensors")
def _st_empty(target: Path) -> None:
    from safetensors.numpy import save

    target.write_bytes(save({}, metadata={"format": "np"}))


@benign("skops-logreg", "skops", "skops.io.dump of a LogisticRegression", "model.skops", requires=("skops",))
def _skops_lr(target: Path) -> None:
    import skops.io as sio

    sio.dump(_sk_models()["logreg"], target)


@benign("skops-pipeline-forest", "skops", "skops.io.dump of a scaler + random-forest pipeline", "pipeline.skops",
        requires=("skops",))
def _skops_rf(target: Path) -> None:
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _xy()
    sio.dump(Pipeline([("s", StandardScaler()), ("rf", RandomForestClassifier(n_estimators=2, max_depth=2,
                                                                              random_state=0))]).fit(X, y), target)


def _k3_dense(name: str, units: int, activation: str) -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "build_config": {"input_shape": [None, 4]},
            "config": {"name": name, "trainable": True, "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                                                   "config": {"name": "float32"},
                                                                   "registered_name": None},
                       "units": units, "activation": activation, "use_bias": True,
                       "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                              "config": {"seed": None}, "registered_name": None},
                       "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                                            "registered_name": None},
                       "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
                       "bias_constraint": None}}


KERAS3_CONFIG = {
    "module": "keras", "class_name": "Sequential", "registered_name": None,
    "build_config": {"input_shape": [None, 4]},
    "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                                     "config": {"name": "adam", "learning_rate": 0.001}, "registered_name": None},
                       "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
    "config": {"name": "sequential", "trainable": True, "dtype": "float32", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
         "config": {"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "name": "input_layer"}},
        _k3_dense("dense", 8, "relu"),
        {"module": "keras.layers", "class_name": "Dropout", "registered_name": None,
         "config": {"name": "dropout", "trainable": True, "dtype": "float32", "rate": 0.1}},
        _k3_dense("dense_1", 3, "softmax"),
    ]},
}

KERAS2_CONFIG = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32", "sparse": False,
                                            "ragged": False, "name": "dense_input"}},
    {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32", "units": 8,
                                       "activation": "relu", "use_bias": True,
                                       "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                                       "bias_initializer": {"class_name": "Zeros", "config": {}},
                                       "kernel_regularizer": None, "bias_regularizer": None,
                                       "activity_regularizer": None, "kernel_constraint": None,
                                       "bias_constraint": None}},
    {"class_name": "Dense", "config": {"name": "dense_1", "trainable": True, "dtype": "float32", "units": 3,
                                       "activation": "softmax", "use_bias": True}},
]}}


def _keras_weights(f: Any) -> None:
    import numpy as np

    rs = np.random.RandomState(0)
    layers = f.create_group("layers")
    for name, shape in (("dense", (4, 8)), ("dense_1", (8, 3))):
        v = layers.create_group(name).create_group("vars")
        v.create_dataset("0", data=rs.randn(*shape).astype(np.float32))
        v.create_dataset("1", data=np.zeros(shape[1], dtype=np.float32))
    f.create_group("optimizer").create_group("vars")


@benign("keras-v3-dense", "keras", ".keras zip: Sequential of Dense/Dropout (no Lambda)", "model.keras",
        requires=("h5py",))
def _keras3(target: Path) -> None:
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        _keras_weights(f)
    with zipfile.ZipFile(target, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0", "date_saved": "2025-01-01@00:00:00"}))
        z.writestr("config.json", json.dumps(KERAS3_CONFIG))
        z.writestr("model.weights.h5", buf.getvalue())


@benign("keras-h5-dense", "keras", "legacy Keras .h5 (h5py) with a Dense model_config and weights", "model.h5",
        requires=("h5py",))
def _keras2(target: Path) -> None:
    import h5py
    import numpy as np

    rs = np.random.RandomState(0)
    with h5py.File(target, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(KERAS2_CONFIG)
        f.attrs["training_config"] = json.dumps({"loss": "categorical_crossentropy", "metrics": ["accuracy"],
                                                 "optimizer_config": {"class_name": "Adam",
                                                                      "config": {"learning_rate": 0.001}}})
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"dense", b"dense_1"])
        for name, shape in (("dense", (4, 8)), ("dense_1", (8, 3))):
            g = mw.create_group(name)
            g.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
            inner = g.create_group(name)
            inner.create_dataset("kernel:0", data=rs.randn(*shape).astype(np.float32))
            inner.create_dataset("bias:0", data=np.zeros(shape[1], dtype=np.float32))


@benign("keras-weights-h5", "keras", "Keras 3 .weights.h5 (weights only)", "model.weights.h5", requires=("h5py",))
def _keras_w(target: Path) -> None:
    import h5py

    with h5py.File(target, "w") as f:
        _keras_weights(f)


CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA3 = ("{% set loop_messages = messages %}{% for message in loop_messages %}"
          "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
          "{{ raise_exception('Unknown role') }}{% endif %}"
          "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + "
          "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
          "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")


def _gguf(target: Path, template: str) -> None:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(target), "llama")
    w.add_name("tiny-chat")
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_chat_template(template)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<|im_start|>", "<|im_end|>", "a", "b"])
    w.add_tensor("token_embd.weight", np.random.RandomState(0).randn(4, 8).astype(np.float32))
    w.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@benign("gguf-chatml", "gguf", "GGUF with a ChatML chat template", "tiny-chat.gguf", requires=("gguf",))
def _gguf_chatml(target: Path) -> None:
    _gguf(target, CHATML)


@benign("gguf-llama3-template", "gguf", "GGUF with a Llama-3-style template (raise_exception, loop, trim)",
        "tiny-llama3.gguf", requires=("gguf",))
def _gguf_llama3(target: Path) -> None:
    _gguf(target, LLAMA3)


# ==================================================================================================
# Configs, tokenizers, MLflow folders
# ==================================================================================================

@benign("hf-tokenizer-folder", "tokenizer-config",
        "HF model folder: config, generation config, tokenizer files (ChatML template), safetensors", "tiny-chat")
def _hf_tok(target: Path) -> None:
    from safetensors.torch import save_file

    target.mkdir()
    save_file({k: v.contiguous() for k, v in _transformer_sd().items() if k != "lm_head.weight"},
              target / "model.safetensors", metadata={"format": "pt"})
    _write_json(target / "config.json", {**BERT_CONFIG, "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"})
    _write_json(target / "generation_config.json", {"bos_token_id": 0, "eos_token_id": 1, "do_sample": True,
                                                    "temperature": 0.7})
    vocab = {"<|im_start|>": 0, "<|im_end|>": 1, "a": 2, "b": 3, "ab": 4}
    _write_json(target / "tokenizer.json", {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 0, "content": "<|im_start|>", "special": True}, {"id": 1, "content": "<|im_end|>",
                                                                               "special": True}],
        "normalizer": {"type": "NFC"}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False},
        "model": {"type": "BPE", "vocab": vocab, "merges": ["a b"]}})
    _write_json(target / "vocab.json", vocab)
    (target / "merges.txt").write_text("#version: 0.2\na b\n")
    (target / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\nb\n")
    _write_json(target / "special_tokens_map.json", {"eos_token": "<|im_end|>", "pad_token": "<|im_end|>"})
    _write_json(target / "tokenizer_config.json", {
        "add_prefix_space": False, "bos_token": None, "eos_token": "<|im_end|>", "chat_template": CHATML,
        "model_max_length": 32768, "tokenizer_class": "Qwen2Tokenizer", "clean_up_tokenization_spaces": False,
        "added_tokens_decoder": {"0": {"content": "<|im_start|>", "special": True}}})
    (target / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny-chat\n")
    (target / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")


@benign("hf-named-chat-templates", "tokenizer-config", "tokenizer_config.json with named templates (default, tool_use)",
        "tokenizer-only")
def _hf_named(target: Path) -> None:
    target.mkdir()
    _write_json(target / "tokenizer_config.json", {"chat_template": [{"name": "default", "template": CHATML},
                                                                     {"name": "tool_use", "template": LLAMA3}],
                                                   "eos_token": "<|im_end|>"})
    _write_json(target / "special_tokens_map.json", {"eos_token": "<|im_end|>"})


MLMODEL_SKLEARN = """artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: {model}
    predict_fn: predict
    python_version: 3.11.9
  sklearn:
    code: null
    pickled_model: {model}
    serialization_format: {fmt}
    sklearn_version: 1.5.2
mlflow_version: 2.16.2
model_size_bytes: 1234
model_uuid: 4f6bf5b9a1e04c1f9a9e8d3c2b1a0f9e
run_id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9
utc_time_created: '2025-01-01 00:00:00.000000'
"""
CONDA = """channels:
- conda-forge
dependencies:
- python=3.11.9
- pip<=24.2
- pip:
  - mlflow==2.16.2
  - scikit-learn==1.5.2
name: mlflow-env
"""
PYENV = """python: 3.11.9
build_dependencies:
- pip==24.2
- setuptools
- wheel
dependencies:
- -r requirements.txt
"""


def _mlflow_folder(target: Path, model_file: str, fmt: str, write: Callable[[Path], None]) -> None:
    target.mkdir()
    (target / "MLmodel").write_text(MLMODEL_SKLEARN.format(model=model_file, fmt=fmt))
    (target / "conda.yaml").write_text(CONDA)
    (target / "python_env.yaml").write_text(PYENV)
    (target / "requirements.txt").write_text("mlflow==2.16.2\nscikit-learn==1.5.2\n")
    write(target / model_file)


@benign("mlflow-sklearn-pickle", "mlflow", "MLflow sklearn model folder (MLmodel, envs, model.pkl)", "model")
def _mlflow_pkl(target: Path) -> None:
    _mlflow_folder(target, "model.pkl", "cloudpickle",
                   lambda p: p.write_bytes(pickle.dumps(_sk_models()["pipeline-scaler-svc"], protocol=4)))


@benign("mlflow-sklearn-skops", "mlflow", "MLflow sklearn model folder with model.skops", "model",
        requires=("skops",))
def _mlflow_skops(target: Path) -> None:
    import skops.io as sio

    _mlflow_folder(target, "model.skops", "skops", lambda p: sio.dump(_sk_models()["logreg"], p))


@benign("json-yaml-configs", "tokenizer-config", "assorted JSON/YAML/TXT configs beside a model", "configs")
def _configs(target: Path) -> None:
    target.mkdir()
    _write_json(target / "preprocessor_config.json", {"do_normalize": True, "image_mean": [0.5, 0.5, 0.5],
                                                      "image_std": [0.5, 0.5, 0.5], "size": {"height": 8,
                                                                                             "width": 8}})
    (target / "hparams.yaml").write_text("lr: 0.001\nbatch_size: 32\nlayers: [8, 8]\n")
    (target / "labels.txt").write_text("cat\ndog\nbird\n")
    (target / "metrics.csv").write_text("epoch,loss\n0,1.2\n1,0.9\n")
