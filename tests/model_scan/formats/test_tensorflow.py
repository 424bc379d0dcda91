"""TensorFlow SavedModel / GraphDef analysis on fixtures written by the real TensorFlow
(tensorflow-cpu 2.21.0 in a throwaway venv: ``data/make_tf_fixtures.py`` says how). TensorFlow is not
a test dependency; the analyser reads the protobuf wire format itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlgate.api import scan
from mlgate.gates.model_scan.blob import bytes_blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats.registry import sniff_model_format
from mlgate.gates.model_scan.formats.tensorflow import analyze_tf_graph
from mlgate.model import Report, Severity, Verdict
from mlgate.policy import Policy

from ._util import ids, only

TF = Path(__file__).with_name("data") / "tf"


def blocking(r: Report) -> list[tuple[str, str]]:
    return [(s.subject, f.id) for s in r.subjects for f in s.findings if f.blocking]


def test_benign_saved_model_passes(default_policy: Policy) -> None:
    r = scan(TF / "benign", policy=default_policy)
    assert r.verdict is Verdict.PASS, blocking(r)
    fmts = {c.format for s in r.subjects for c in s.coverage}
    assert {"tf-savedmodel", "tf-checkpoint-index", "tf-checkpoint-data", "tf-fingerprint"} <= fmts


def test_benign_graphdef_passes(default_policy: Policy) -> None:
    r = scan(TF / "benign.pb", policy=default_policy)
    assert r.verdict is Verdict.PASS, blocking(r)


@pytest.mark.parametrize(("fixture", "op"), [("read_file", "ReadFile"), ("write_file", "WriteFile"),
                                             ("py_func", "PyFunc"), ("matching.pb", "MatchingFiles")])
def test_file_and_python_ops_block(fixture: str, op: str, default_policy: Policy) -> None:
    """TensorFlow's SECURITY.md: a SavedModel is a program; tf.io.read_file/write_file, matching_files and
    py_function/numpy_function run with the loader's rights."""
    r = scan(TF / fixture, policy=default_policy)
    assert r.verdict is Verdict.FAIL
    ops = [f.details.get("op") for s in r.subjects for f in s.findings if f.id == "MLG-TF-DANGEROUS-OP"]
    assert op in ops, blocking(r)


def test_constant_paths_are_reported(ctx: ScanContext) -> None:
    raw = (TF / "read_file" / "saved_model.pb").read_bytes()
    analyze_tf_graph(bytes_blob("saved_model.pb", raw), ctx, "savedmodel")
    f = only(ctx, "MLG-TF-FOREIGN-PATH")
    assert f, ids(ctx)
    assert f[0].details["value"] == "/etc/passwd"


def test_unknown_op_blocks(ctx: ScanContext) -> None:
    raw = (TF / "benign.pb").read_bytes()
    assert b"\x12\x04Relu" in raw
    patched = raw.replace(b"\x12\x04Relu", b"\x12\x04Relw")  # same length: still a valid GraphDef
    assert sniff_model_format(bytes_blob("x.pb", patched), patched[:4096]) == "tf-graphdef"
    analyze_tf_graph(bytes_blob("x.pb", patched), ctx, "graphdef")
    f = only(ctx, "MLG-TF-UNKNOWN-OP")
    assert [x.details["op"] for x in f] == ["Relw"]
    assert f[0].severity is Severity.HIGH


def test_truncated_saved_model_is_malformed(tmp_path: Path, default_policy: Policy) -> None:
    d = tmp_path / "m"
    shutil.copytree(TF / "benign", d)
    p = d / "saved_model.pb"
    p.write_bytes(p.read_bytes()[:-9])
    r = scan(d, policy=default_policy)
    assert r.verdict is not Verdict.PASS
    assert ("saved_model.pb", "MLG-TF-MALFORMED") in blocking(r)


def test_sentencepiece_shape_is_not_graphdef() -> None:
    # SentencePiece ModelProto: pieces (1) {piece (1) str, score (2) float}: GraphDef-shaped at the top only
    piece = b"\x0a\x03abc\x15\x00\x00\x80\x3f"
    data = (b"\x0a" + bytes([len(piece)]) + piece) * 3
    assert sniff_model_format(bytes_blob("tokenizer.model", data), data) != "tf-graphdef"


KERAS2 = Path(__file__).with_name("data") / "keras2"


def test_keras2_saved_model_benign_passes(default_policy: Policy) -> None:
    """tf-keras 2.21.0 model.save(save_format="tf"): keras_metadata.pb + saved_model.pb."""
    r = scan(KERAS2 / "benign", policy=default_policy)
    assert r.verdict is Verdict.PASS, blocking(r)
    assert {"keras-metadata", "tf-savedmodel"} <= {c.format for s in r.subjects for c in s.coverage}


def test_cve_2024_3660_keras2_lambda_in_metadata_blocks(default_policy: Policy) -> None:
    """Lambda layers carry marshalled bytecode that runs at load (no safe_mode before Keras 2.13).
    https://nvd.nist.gov/vuln/detail/CVE-2024-3660"""
    r = scan(KERAS2 / "lambda", policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert ("keras_metadata.pb", "MLG-KERAS-LAMBDA") in blocking(r)


def test_keras2_metadata_writer_version_is_checked_against_advisories(ctx: ScanContext) -> None:
    from mlgate.gates.model_scan.formats.tensorflow import analyze_keras_metadata

    raw = (KERAS2 / "benign" / "keras_metadata.pb").read_bytes()
    assert b'"keras_version": "2.21.0"' in raw
    old = raw.replace(b'"keras_version": "2.21.0"', b'"keras_version": "2.12.0"')  # same length
    analyze_keras_metadata(bytes_blob("keras_metadata.pb", old), ctx)
    f = only(ctx, "MLG-ADVISORY-LOADER")
    assert [x.details["advisory"] for x in f] == ["CVE-2024-3660"]
    assert f[0].severity is Severity.INFO
