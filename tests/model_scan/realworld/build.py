"""Write the real-library benign corpus: small files made by the real libraries, the way ML teams
save them (pickle, joblib, torch.save, DataFrame.to_pickle, np.save, skops, Keras, Trainer).

Run it by hand (``make corpus``) with the python of a throwaway venv holding pinned library
versions; it never imports mlgate, and it never loads what it writes (no pickle.load, torch.load,
joblib.load, np.load(allow_pickle=True), keras load). Each run writes ``files/<tag>/...`` and
replaces the ``<tag>`` entries of ``MANIFEST.json`` (path, sha256, size, maker, how it was made,
the versions of the libraries in that venv)::

    /tmp/venv-a/bin/python tests/model_scan/realworld/build.py --tag a

Every maker skips itself when its library is missing, so one script serves every venv.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pickle
import platform
import sys
import tempfile
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAKERS: list[tuple[str, Callable[[Path], dict[str, str]]]] = []


def maker(name: str) -> Callable[[Callable[[Path], dict[str, str]]], Callable[[Path], dict[str, str]]]:
    def deco(fn: Callable[[Path], dict[str, str]]) -> Callable[[Path], dict[str, str]]:
        MAKERS.append((name, fn))
        return fn

    return deco


def dump(path: Path, obj: object, protocol: int | None = None) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


# --------------------------------------------------------------------------------------------- numpy
@maker("numpy")
def make_numpy(d: Path) -> dict[str, str]:
    import numpy as np

    out = {}
    rng = np.random.default_rng(0)
    np.save(d / "float.npy", rng.random((4, 3)))
    out["float.npy"] = "np.save of a float64 array"
    np.save(d / "object_strings.npy", np.array(["a", "bc", None, ("t", 1), 2.5], dtype=object), allow_pickle=True)
    out["object_strings.npy"] = "np.save(allow_pickle=True) of an object array of str/None/tuple/float"
    np.savez(d / "arrays.npz", x=np.arange(10), labels=np.array(["cat", "dog"], dtype=object))
    out["arrays.npz"] = "np.savez with an int array and an object array of strings"
    np.savez_compressed(d / "compressed.npz", w=rng.random(8).astype(np.float32))
    out["compressed.npz"] = "np.savez_compressed"
    values = {
        "matrix": np.matrix([[1, 2], [3, 4]]),
        "masked": np.ma.MaskedArray([1.0, 2.0, 3.0], mask=[0, 1, 0]),
        "scalars": [np.uint64(7), np.uint8(1), np.int16(2), np.float16(0.5), np.complex128(1j), np.bool_(True),
                    np.datetime64("2024-01-01"), np.timedelta64(3, "D"), np.str_("s")],
        "structured": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
        "randomstate": np.random.RandomState(0),
        "generator": np.random.default_rng(1),
        "ufunc": np.log1p,
    }
    for p in (2, 4, 5):
        dump(d / f"numpy_values_p{p}.pkl", values, p)
        out[f"numpy_values_p{p}.pkl"] = f"pickle.dumps(protocol={p}) of matrix, masked array, scalars, RNGs, a ufunc"
    return out


# -------------------------------------------------------------------------------------------- stdlib
@maker("stdlib")
def make_stdlib(d: Path) -> dict[str, str]:
    import collections
    import datetime
    import decimal
    import fractions
    import pathlib
    import uuid

    obj = {
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "when": datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC),
        "d": decimal.Decimal("1.5"),
        "f": fractions.Fraction(1, 3),
        "p": pathlib.PurePosixPath("/models/a"),
        "od": collections.OrderedDict(a=1),
        "set": {1, 2},
        "fs": frozenset({"x"}),
        "bytes": b"\x00\x01",
        "ba": bytearray(b"xy"),
        "cplx": 1 + 2j,
    }
    out = {}
    for p in (0, 2, 5):
        dump(d / f"stdlib_p{p}.pkl", obj, p)
        out[f"stdlib_p{p}.pkl"] = f"pickle.dumps(protocol={p}) of uuid.UUID, datetime, Decimal, Fraction, paths, sets"
    return out


# -------------------------------------------------------------------------------------------- pandas
@maker("pandas")
def make_pandas(d: Path) -> dict[str, str]:
    import numpy as np
    import pandas as pd

    out = {}
    n = 6
    df = pd.DataFrame(
        {
            "i": np.arange(n),
            "f": np.linspace(0, 1, n),
            "s": list("abcdef"),
            "c": pd.Categorical(list("xyxyxy")),
            "t": pd.date_range("2024-01-01", periods=n, freq="D"),
            "td": pd.to_timedelta(np.arange(n), unit="h"),
            "b": [True, False] * 3,
            "ni": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
        }
    )
    frames = {
        "frame": df,
        "series": pd.Series([1.5, 2.5], index=["a", "b"], name="s"),
        "multiindex": df.set_index(["s", "i"]),
        "interval": pd.DataFrame({"v": [1, 2, 3]}, index=pd.interval_range(0, 3)),
        "period": pd.Series([1, 2], index=pd.period_range("2024-01", periods=2, freq="M")),
        "tz_utc": pd.DataFrame({"t": pd.date_range("2024-01-01", periods=3, tz="UTC")}),
        "sparse": pd.DataFrame({"sp": pd.arrays.SparseArray([0, 0, 1, 0])}),
        "nullable": pd.DataFrame({"s": pd.array(["a", None], dtype="string"), "b": pd.array([True, None], dtype="boolean"),
                                  "fl": pd.array([1.0, None], dtype="Float64")}),
        "rangeindex": pd.DataFrame({"x": range(3)}),
        "categorical_index": pd.DataFrame({"x": [1, 2]}, index=pd.CategoricalIndex(["a", "b"])),
    }
    for name, obj in frames.items():
        obj.to_pickle(d / f"{name}.pkl")
        out[f"{name}.pkl"] = f"DataFrame/Series.to_pickle ({name})"
    dump(d / "frame_p2.pkl", df, 2)
    out["frame_p2.pkl"] = "pickle.dumps(protocol=2) of a mixed-dtype DataFrame"
    try:
        tzf = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=3, tz="Europe/Paris")})
        tzf.to_pickle(d / "tz_named.pkl")
        out["tz_named.pkl"] = "to_pickle of a tz-aware (Europe/Paris) frame"
    except Exception:  # no tz database
        pass
    return out


# ----------------------------------------------------------------------------------------- sklearn
@maker("sklearn")
def make_sklearn(d: Path) -> dict[str, str]:
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import make_classification
    from sklearn.decomposition import PCA
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        IsolationForest,
        RandomForestClassifier,
    )
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, LabelEncoder, OneHotEncoder, StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    models = {
        "logreg": LogisticRegression().fit(X, y),
        "linreg": LinearRegression().fit(X, y),
        "forest": RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y),
        "gbc": GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, y),
        "hgb": HistGradientBoostingClassifier(max_iter=3).fit(X, y),
        "iforest": IsolationForest(n_estimators=3, random_state=0).fit(X),
        "knn_kd": KNeighborsClassifier(algorithm="kd_tree").fit(X, y),
        "knn_ball": KNeighborsClassifier(algorithm="ball_tree").fit(X, y),
        "tree": DecisionTreeClassifier(max_depth=3).fit(X, y),
        "svc": SVC().fit(X, y),
        "kmeans": KMeans(n_clusters=2, n_init=1, random_state=0).fit(X),
        "pca": PCA(n_components=2).fit(X),
        "mlp": MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, y),
        "grid": GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(X, y),
        "log1p": Pipeline([("log", FunctionTransformer(np.log1p)), ("lr", LogisticRegression())]).fit(np.abs(X), y),
        "labelenc": LabelEncoder().fit(["a", "b", "c"]),
        "tfidf": TfidfVectorizer().fit(["a cat sat", "a dog ran", "the cat ran"]),
    }
    frame = pd.DataFrame({"num": np.arange(20.0), "cat": pd.Categorical(list("ab") * 10)})
    ty = np.array([0, 1] * 10)
    try:
        models["hgb_categorical"] = HistGradientBoostingClassifier(max_iter=3, categorical_features="from_dtype").fit(frame, ty)
    except (TypeError, ValueError):
        models["hgb_categorical"] = HistGradientBoostingClassifier(max_iter=3, categorical_features=[1]).fit(
            frame.assign(cat=frame.cat.cat.codes), ty)
    ct = ColumnTransformer([("num", StandardScaler(), ["num"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["cat"])])
    models["pipeline_ct"] = Pipeline([("ct", ct), ("lr", LogisticRegression())]).fit(frame, ty)
    out = {}
    for name, m in models.items():
        joblib.dump(m, d / f"{name}.joblib")
        out[f"{name}.joblib"] = f"joblib.dump of {type(m).__name__}"
    for name in ("forest", "pipeline_ct", "hgb_categorical", "knn_kd", "grid"):
        dump(d / f"{name}.pkl", models[name])
        out[f"{name}.pkl"] = f"pickle.dumps of {type(models[name]).__name__}"
    joblib.dump(models["forest"], d / "forest_zlib.joblib", compress=3)
    out["forest_zlib.joblib"] = "joblib.dump(compress=3) (zlib)"
    joblib.dump(models["forest"], d / "forest.joblib.gz", compress=("gzip", 3))
    out["forest.joblib.gz"] = "joblib.dump(compress=('gzip', 3))"
    try:
        import lz4  # noqa: F401

        joblib.dump(models["forest"], d / "forest.joblib.lz4", compress=("lz4", 3))
        out["forest.joblib.lz4"] = "joblib.dump(compress=('lz4', 3))"
    except ImportError:
        pass
    return out


@maker("skops")
def make_skops(d: Path) -> dict[str, str]:
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    y = np.array([0, 1, 1, 0], dtype=np.uint64)
    sio.dump(LogisticRegression().fit(X, y), d / "logreg_uint64.skops")
    sio.dump(OneHotEncoder().fit([["a"], ["b"]]), d / "onehot.skops")
    return {"logreg_uint64.skops": "skops.io.dump of LogisticRegression fit on uint64 labels",
            "onehot.skops": "skops.io.dump of OneHotEncoder"}


@maker("scipy")
def make_scipy(d: Path) -> dict[str, str]:
    import numpy as np
    import scipy.sparse as sp

    m = sp.random(5, 5, density=0.3, random_state=0, format="csr")
    obj = {"csr": m, "csc": m.tocsc(), "coo": m.tocoo(), "lil": m.tolil(), "dok": m.todok()}
    if hasattr(sp, "csr_array"):
        obj["csr_array"] = sp.csr_array(m)
    dump(d / "sparse.pkl", obj)
    sp.save_npz(d / "sparse.npz", m)
    np.save(d / "dense.npy", m.toarray())
    return {"sparse.pkl": "pickle.dumps of csr/csc/coo/lil/dok matrices", "sparse.npz": "scipy.sparse.save_npz",
            "dense.npy": "np.save of a densified scipy.sparse matrix"}


@maker("xgboost")
def make_xgboost(d: Path) -> dict[str, str]:
    import joblib
    import numpy as np
    import xgboost as xgb

    X = np.random.default_rng(0).random((30, 3))
    y = (X[:, 0] > 0.5).astype(int)
    clf = xgb.XGBClassifier(n_estimators=2, max_depth=2).fit(X, y)
    dump(d / "xgb_classifier.pkl", clf)
    joblib.dump(clf, d / "xgb_classifier.joblib")
    dump(d / "xgb_booster.pkl", clf.get_booster())
    clf.save_model(str(d / "xgb_model.json"))
    return {"xgb_classifier.pkl": "pickle.dumps of xgboost.sklearn.XGBClassifier",
            "xgb_classifier.joblib": "joblib.dump of XGBClassifier", "xgb_booster.pkl": "pickle.dumps of a Booster",
            "xgb_model.json": "XGBClassifier.save_model (JSON)"}


@maker("lightgbm")
def make_lightgbm(d: Path) -> dict[str, str]:
    import joblib
    import lightgbm as lgb
    import numpy as np

    X = np.random.default_rng(0).random((40, 3))
    y = (X[:, 0] > 0.5).astype(int)
    clf = lgb.LGBMClassifier(n_estimators=2, verbose=-1).fit(X, y)
    dump(d / "lgbm_classifier.pkl", clf)
    joblib.dump(clf, d / "lgbm_classifier.joblib")
    dump(d / "lgbm_booster.pkl", clf.booster_)
    return {"lgbm_classifier.pkl": "pickle.dumps of LGBMClassifier", "lgbm_classifier.joblib": "joblib.dump of LGBMClassifier",
            "lgbm_booster.pkl": "pickle.dumps of lightgbm.Booster"}


@maker("catboost")
def make_catboost(d: Path) -> dict[str, str]:
    import catboost as cb
    import numpy as np

    X = np.random.default_rng(0).random((40, 3))
    y = (X[:, 0] > 0.5).astype(int)
    with tempfile.TemporaryDirectory() as tmp:
        clf = cb.CatBoostClassifier(iterations=2, depth=2, verbose=False, train_dir=tmp).fit(X, y)
    dump(d / "catboost_classifier.pkl", clf)
    return {"catboost_classifier.pkl": "pickle.dumps of CatBoostClassifier"}


# --------------------------------------------------------------------------------------------- torch
@maker("torch")
def make_torch(d: Path) -> dict[str, str]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.1),
        nn.Linear(2, 3), nn.LayerNorm(3), nn.GELU(), nn.Linear(3, 2), nn.Softmax(dim=-1),
    )
    seq = nn.ModuleDict({
        "emb": nn.Embedding(10, 4), "lstm": nn.LSTM(4, 4, batch_first=True), "gru": nn.GRU(4, 4),
        "mha": nn.MultiheadAttention(4, 2),
        "enc": nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, dim_feedforward=8), num_layers=1),
        "list": nn.ModuleList([nn.Identity(), nn.Tanh(), nn.Sigmoid(), nn.SiLU(), nn.LeakyReLU()]),
    })
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1)
    out = {}
    torch.save(model.state_dict(), d / "state_dict.pt")
    out["state_dict.pt"] = "torch.save of a state_dict"
    torch.save(model, d / "full_sequential.pt")
    out["full_sequential.pt"] = "torch.save of a whole nn.Sequential (conv, bn, relu, pool, linear, norm, ...)"
    torch.save(seq, d / "full_moduledict.pt")
    out["full_moduledict.pt"] = "torch.save of a whole nn.ModuleDict (embedding, LSTM, GRU, MHA, TransformerEncoder)"
    torch.save({"epoch": 3, "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "rng": torch.get_rng_state(), "dtype": torch.float16, "device": torch.device("cpu"),
                "shape": torch.Size([2, 3])}, d / "checkpoint.pth")
    out["checkpoint.pth"] = "torch.save of a training checkpoint (model, optimizer, scheduler, rng state)"
    torch.save(model.state_dict(), d / "legacy_state_dict.pt", _use_new_zipfile_serialization=False)
    out["legacy_state_dict.pt"] = "torch.save(_use_new_zipfile_serialization=False)"
    (d / "tensor_pickle.pkl").write_bytes(pickle.dumps(torch.arange(6.0).reshape(2, 3)))
    out["tensor_pickle.pkl"] = "pickle.dumps(tensor): torch.storage._load_from_bytes around a legacy torch file"
    (d / "param_pickle.pkl").write_bytes(pickle.dumps({"w": nn.Parameter(torch.ones(2))}))
    out["param_pickle.pkl"] = "pickle.dumps of a Parameter"
    torch.save({"bf16": torch.ones(2, dtype=torch.bfloat16), "i8": torch.ones(2, dtype=torch.int8),
                "bool": torch.ones(2, dtype=torch.bool), "u8": torch.ones(2, dtype=torch.uint8)}, d / "dtypes.pt")
    out["dtypes.pt"] = "torch.save of tensors of several dtypes"
    return out


@maker("transformers")
def make_transformers(d: Path) -> dict[str, str]:
    import torch
    from transformers import BertConfig, BertModel, TrainingArguments

    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, learning_rate=1e-4, num_train_epochs=1, report_to=[],
                                 eval_strategy="steps", save_strategy="steps", lr_scheduler_type="cosine")
    torch.save(args, d / "training_args.bin")
    out = {"training_args.bin": "torch.save(TrainingArguments) as Trainer writes training_args.bin"}
    cfg = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
                     max_position_embeddings=16)
    model = BertModel(cfg)
    model.save_pretrained(d / "bert_bin", safe_serialization=False)
    out["bert_bin"] = "save_pretrained(safe_serialization=False): pytorch_model.bin + config.json"
    model.save_pretrained(d / "bert_st")
    out["bert_st"] = "save_pretrained: model.safetensors + config.json"
    try:
        from peft import LoraConfig, get_peft_model

        pm = get_peft_model(model, LoraConfig(r=2, target_modules=["query", "value"]))
        pm.save_pretrained(d / "peft_lora")
        out["peft_lora"] = "peft LoRA adapter save_pretrained"
        torch.save(pm.peft_config, d / "peft_config.bin")
        out["peft_config.bin"] = "torch.save of a peft LoraConfig dict"
    except ImportError:
        pass
    return out


@maker("lightning")
def make_lightning(d: Path) -> dict[str, str]:
    import functools

    import lightning as L
    import torch
    from torch import nn

    class Tiny(L.LightningModule):
        def __init__(self, optimizer: object = None, hidden: int = 4) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Linear(2, hidden)

    m = Tiny(optimizer=functools.partial(torch.optim.Adam, lr=1e-3, weight_decay=0.0))
    ckpt = {"epoch": 1, "global_step": 10, "pytorch-lightning_version": L.__version__, "state_dict": m.state_dict(),
            "hyper_parameters": dict(m.hparams), "hparams_name": "kwargs"}
    torch.save(ckpt, d / "lightning.ckpt")
    return {"lightning.ckpt": "a Lightning checkpoint dict whose hyper_parameters hold functools.partial(torch.optim.Adam, lr=...)"}


@maker("keras")
def make_keras(d: Path) -> dict[str, str]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    import numpy as np

    model.fit(np.ones((4, 4), dtype="float32"), np.ones((4, 1), dtype="float32"), epochs=1, verbose=0)
    model.save(d / "model.keras")
    out = {"model.keras": f"keras {keras.__version__} model.save on the {keras.backend.backend()} backend (compiled, fitted)"}
    try:
        model.save(d / "legacy.h5")
        out["legacy.h5"] = "model.save('legacy.h5'): legacy HDF5 with weights"
    except Exception:
        pass
    return out


@maker("joblib-testdata")
def copy_joblib_testdata(d: Path) -> dict[str, str]:
    import joblib

    src = Path(joblib.__file__).parent / "test" / "data"
    out = {}
    if not src.is_dir():
        return out
    for p in sorted(src.iterdir()):
        if p.suffix in (".py", ".pyc") or not p.is_file() or p.stat().st_size > 200_000:
            continue
        (d / p.name).write_bytes(p.read_bytes())
        out[p.name] = "shipped in joblib's wheel as joblib/test/data/" + p.name
    return out


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("numpy", "pandas", "scikit-learn", "scipy", "joblib", "torch", "transformers", "peft", "xgboost",
                 "lightgbm", "catboost", "skops", "lightning", "keras", "h5py", "lz4"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tag", required=True, help="name of this venv's set, e.g. 'pandas15'")
    ap.add_argument("--out", type=Path, default=HERE / "files")
    ap.add_argument("--only", nargs="*", help="run only these makers")
    args = ap.parse_args(argv)
    root = args.out / args.tag
    vers = versions()
    manifest_path = args.out.parent / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"files": {}, "sets": {}}
    manifest["files"] = {k: v for k, v in manifest["files"].items()
                         if not (k.startswith(args.tag + "/") and (not args.only or v["maker"] in args.only))}
    for name, fn in MAKERS:
        if args.only and name not in args.only:
            continue
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        try:
            made = fn(d)
        except ImportError as e:
            print(f"skip {name}: {e}")
            if not any(d.iterdir()):
                d.rmdir()
            continue
        except Exception:
            print(f"FAILED {name}:\n{traceback.format_exc()}")
            continue
        for rel, how in made.items():
            p = d / rel
            files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
            for q in files:
                key = q.relative_to(args.out).as_posix()
                data = q.read_bytes()
                manifest["files"][key] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "maker": name,
                                          "how": how, "set": args.tag}
        print(f"{name}: {len(made)} item(s)")
    manifest["sets"][args.tag] = {"python": sys.version.split()[0], "versions": vers,
                                  "command": f"python tests/model_scan/realworld/build.py --tag {args.tag}"}
    manifest["files"] = dict(sorted(manifest["files"].items()))
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
