"""NeMo archives, executables in model folders, Flax/msgpack checkpoints, OpenVINO IR and ExecuTorch.

NeMo-style archives are built the way ``nemo.core.connectors.save_restore_connector`` writes them
(a tar, optionally gzipped, holding ``model_config.yaml``, ``model_weights.ckpt`` written by
``torch.save`` and tokenizer members); NeMo itself is not installable here. Flax checkpoints are
written with ``msgpack`` (the serializer flax.serialization uses) and flax's extension layout."""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path

import pytest

from mlgate.api import scan
from mlgate.gates.model_scan.blob import bytes_blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats.registry import sniff_model_format
from mlgate.gates.model_scan.formats.serving import analyze_flax_msgpack, analyze_openvino_xml
from mlgate.model import Report, Severity, Verdict
from mlgate.policy import Policy

from ._util import formats, ids

torch = pytest.importorskip("torch")

NEMO_CONFIG = """\
sample_rate: 16000
preprocessor:
  _target_: {target}
  sample_rate: 16000
  window_size: 0.025
optim:
  name: adamw
  lr: 0.001
target: nemo.collections.asr.models.ctc_models.EncDecCTCModel
"""


def findings(r: Report) -> list[tuple[str, str | None]]:
    return [(f.id, f.location.member) for s in r.subjects for f in s.findings if f.blocking]


def nemo_archive(path: Path, target: str, *, gz: bool = True) -> None:
    weights = io.BytesIO()
    torch.save({"encoder.weight": torch.zeros(2, 2)}, weights)
    members = {
        "./model_config.yaml": NEMO_CONFIG.format(target=target).encode(),
        "./model_weights.ckpt": weights.getvalue(),
        "./tokenizer.vocab": b"a\nb\nc\n",
    }
    with tarfile.open(path, "w:gz" if gz else "w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("target", ["builtins.eval", "os.system", "subprocess.Popen", "pickle.loads"])
def test_cve_2025_23304_nemo_model_config_target_blocks(target: str, tmp_path: Path, default_policy: Policy) -> None:
    """NeMo restore_from instantiates model_config.yaml: a _target_ naming code runs at load.
    https://nvd.nist.gov/vuln/detail/CVE-2025-23304"""
    p = tmp_path / "model.nemo"
    nemo_archive(p, target)
    r = scan(p, policy=default_policy)
    assert r.verdict is Verdict.FAIL
    hits = [m for i, m in findings(r) if i == "MLG-CONFIG-TARGET-DANGEROUS"]
    assert any(m and m.endswith("model_config.yaml") for m in hits), findings(r)


def test_nemo_archive_every_member_is_analysed(tmp_path: Path, default_policy: Policy) -> None:
    p = tmp_path / "model.nemo"
    nemo_archive(p, "torch.nn.Identity", gz=False)
    r = scan(p, policy=default_policy)
    fmts = {c.format for s in r.subjects for c in s.coverage}
    assert {"tar", "torch-zip", "yaml"} <= fmts, fmts
    # a target outside the allowlist is unknown (high) under the default policy: deny by default
    assert [i for i, _ in findings(r)] == ["MLG-CONFIG-TARGET-UNKNOWN"], findings(r)


# model_config.yaml as NeMo's ASR recipes write it (examples/asr/conf/conformer/conformer_ctc_bpe.yaml at
# NVIDIA/NeMo 8cfedd72, 2.6.0rc0: restore_from saves the resolved cfg.model), trimmed to what matters here:
# every _target_ of the recipe, interpolations already resolved, the plain `target:` class key NeMo adds.
NEMO_CONFORMER = """\
sample_rate: 16000
log_prediction: true
ctc_reduction: mean_batch
tokenizer:
  dir: null
  type: bpe
  model_path: nemo:3f1c2e_tokenizer.model
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
  sample_rate: 16000
  normalize: per_feature
  window_size: 0.025
  window_stride: 0.01
  window: hann
  features: 80
  n_fft: 512
  log: true
  dither: 1.0e-05
spec_augment:
  _target_: nemo.collections.asr.modules.SpectrogramAugmentation
  freq_masks: 2
  time_masks: 10
  freq_width: 27
  time_width: 0.05
encoder:
  _target_: nemo.collections.asr.modules.ConformerEncoder
  feat_in: 80
  n_layers: 18
  d_model: 512
  subsampling: striding
  self_attention_model: rel_pos
  n_heads: 8
  att_context_size: [-1, -1]
  conv_kernel_size: 31
  dropout: 0.1
decoder:
  _target_: nemo.collections.asr.modules.ConvASRDecoder
  feat_in: 512
  num_classes: 128
  vocabulary: []
optim:
  name: adamw
  lr: 2.0
  betas: [0.9, 0.98]
  weight_decay: 0.001
  sched:
    name: NoamAnnealing
    d_model: 512
    warmup_steps: 10000
target: nemo.collections.asr.models.ctc_bpe_models.EncDecCTCModelBPE
nemo_version: 2.6.0rc0
"""


def nemo_tar(path: Path, config: str) -> None:
    weights = io.BytesIO()
    torch.save({"encoder.weight": torch.zeros(2, 2)}, weights)
    with tarfile.open(path, "w:") as t:
        for name, data in {"./model_config.yaml": config.encode(), "./model_weights.ckpt": weights.getvalue(),
                           "./3f1c2e_tokenizer.vocab": b"a\nb\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def test_benign_nemo_asr_config_passes(tmp_path: Path, default_policy: Policy) -> None:
    """Targets that resolve inside the reviewed NeMo namespace (policies/allowlists/nemo.yaml) pass."""
    nemo_tar(tmp_path / "asr.nemo", NEMO_CONFORMER)
    r = scan(tmp_path / "asr.nemo", policy=default_policy)
    assert r.verdict is Verdict.PASS, findings(r)
    assert any(c.format == "config-targets" for s in r.subjects for c in s.coverage)


@pytest.mark.parametrize("target", [
    "hydra.utils.call", "hydra.utils.instantiate", "hydra.utils.get_method", "hydra._internal.utils._locate",
    "builtins.eval", "os.system", "subprocess.run",
])
def test_hostile_nemo_targets_are_critical(target: str, tmp_path: Path, default_policy: Policy) -> None:
    """A Hydra chain (a target that resolves and calls another dotted path) is as dangerous as the
    target it would reach: CVE-2025-23304."""
    cfg = NEMO_CONFORMER.replace("nemo.collections.asr.modules.SpectrogramAugmentation", target)
    nemo_tar(tmp_path / "evil.nemo", cfg)
    r = scan(tmp_path / "evil.nemo", policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert any(i == "MLG-CONFIG-TARGET-DANGEROUS" for i, _ in findings(r)), findings(r)


@pytest.mark.parametrize("target", [
    "nemo.collections.asr.modules.ConformerEncoder.restore_from",  # a classmethod that reads a path
    "nemo.collections.asr.modules.BeamSearchDecoderWithLM",  # loads an LM file: not reviewed
    "nemo.collections.asr.modules.os.system",  # look-alike path under the allowlisted module
    "nemo_evil.collections.asr.modules.ConformerEncoder",
])
def test_nemo_targets_outside_the_reviewed_entries_block(target: str, tmp_path: Path, default_policy: Policy) -> None:
    cfg = NEMO_CONFORMER.replace("nemo.collections.asr.modules.ConvASRDecoder", target)
    nemo_tar(tmp_path / "x.nemo", cfg)
    r = scan(tmp_path / "x.nemo", policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert {i for i, _ in findings(r)} & {"MLG-CONFIG-TARGET-UNKNOWN", "MLG-CONFIG-TARGET-DANGEROUS"}, findings(r)


def test_nested_hostile_target_inside_an_allowlisted_one_blocks(tmp_path: Path, default_policy: Policy) -> None:
    cfg = NEMO_CONFORMER.replace("  subsampling: striding\n",
                                 "  subsampling:\n    _target_: hydra.utils.call\n    path: os.system\n"
                                 "    _args_: [id]\n")
    nemo_tar(tmp_path / "nested.nemo", cfg)
    r = scan(tmp_path / "nested.nemo", policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert any(i == "MLG-CONFIG-TARGET-DANGEROUS" for i, _ in findings(r)), findings(r)


# --------------------------------------------------------------------------------------------
# Executables
# --------------------------------------------------------------------------------------------

ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 57
PE = b"MZ" + b"\x00" * 58 + struct.pack("<I", 64) + b"PE\x00\x00" + b"\x00" * 32
APE = b"MZqFpD='\n\n\x00\x10\x00\xf8\x00" + b"\x00" * 64


@pytest.mark.parametrize(("name", "data"), [("weights.bin", ELF), ("tokenizer.model", PE), ("model.llamafile", APE),
                                             ("x", b"\xcf\xfa\xed\xfe" + b"\x00" * 60)])
def test_executables_block_whatever_their_name(name: str, data: bytes, tmp_path: Path, default_policy: Policy) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / name).write_bytes(data)
    r = scan(d, policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert ("MLG-EXEC-BINARY", None) in findings(r), findings(r)


def test_llamafile_zip_polyglot_is_an_executable(tmp_path: Path, default_policy: Policy) -> None:
    """A llamafile is an APE executable that is also a zip of its weights: the zip view must not hide it."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("weights.gguf", b"GGUF" + b"\x00" * 60)
    p = tmp_path / "model.llamafile"
    p.write_bytes(APE + buf.getvalue())
    assert sniff_model_format(bytes_blob("x", p.read_bytes()), p.read_bytes()[:4096]) == "executable"
    r = scan(p, policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert "MLG-EXEC-BINARY" in [i for i, _ in findings(r)]


# --------------------------------------------------------------------------------------------
# Flax msgpack, OpenVINO, ExecuTorch
# --------------------------------------------------------------------------------------------

def flax_bytes(ext_code: int = 1, dtype: str = "<f4") -> bytes:
    msgpack = pytest.importorskip("msgpack")
    arr = msgpack.packb([[2, 2], dtype, b"\x00" * 16])
    return msgpack.packb({"params": {"dense": {"kernel": msgpack.ExtType(ext_code, arr), "bias": 0.5}}})


def test_flax_checkpoint_passes(ctx: ScanContext) -> None:
    data = flax_bytes()
    assert sniff_model_format(bytes_blob("x", data), data) == "flax-msgpack"
    analyze_flax_msgpack(bytes_blob("ckpt.msgpack", data), ctx)
    assert ctx.findings == []
    assert "flax-msgpack" in formats(ctx)


def test_flax_unknown_extension_and_object_dtype_block(ctx: ScanContext) -> None:
    analyze_flax_msgpack(bytes_blob("a", flax_bytes(ext_code=42)), ctx)
    analyze_flax_msgpack(bytes_blob("b", flax_bytes(dtype="O")), ctx)
    assert ids(ctx) == ["MLG-SERVE-MSGPACK-EXT", "MLG-SERVE-MSGPACK-EXT"]


def test_flax_truncated_is_malformed(ctx: ScanContext) -> None:
    analyze_flax_msgpack(bytes_blob("a", flax_bytes()[:-5]), ctx)
    assert ids(ctx) == ["MLG-SERVE-MSGPACK-MALFORMED"]


OPENVINO = """<?xml version="1.0"?>
<net name="m" version="11">
  <layers>
    <layer id="0" name="x" type="Parameter" version="opset1"><data shape="1,4" element_type="f32"/></layer>
    <layer id="1" name="r" type="{type}" version="{version}"/>
    <layer id="2" name="y" type="Result" version="opset1"/>
  </layers>
</net>
"""


def test_openvino_standard_opsets_pass_and_extensions_block(ctx: ScanContext, make_ctx: object) -> None:
    ok = OPENVINO.format(type="Relu", version="opset1").encode()
    assert sniff_model_format(bytes_blob("m.xml", ok), ok) == "openvino-xml"
    analyze_openvino_xml(bytes_blob("m.xml", ok), ctx)
    assert ctx.findings == []
    bad = make_ctx()  # type: ignore[operator]
    analyze_openvino_xml(bytes_blob("m.xml", OPENVINO.format(type="Steal", version="my_extension").encode()), bad)
    assert ids(bad) == ["MLG-SERVE-OPENVINO-EXTENSION"]


def test_openvino_entities_refused(ctx: ScanContext) -> None:
    doc = '<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY a "aaaa">]>\n<net name="m">&a;</net>\n'
    analyze_openvino_xml(bytes_blob("m.xml", doc.encode()), ctx)
    assert ids(ctx) == ["MLG-SERVE-OPENVINO-MALFORMED"]


def test_executorch_is_incomplete_not_pass(tmp_path: Path, default_policy: Policy) -> None:
    p = tmp_path / "model.pte"
    p.write_bytes(b"\x1c\x00\x00\x00ET12" + b"\x00" * 120)
    r = scan(p, policy=default_policy)
    assert r.verdict is not Verdict.PASS
    assert any(f.id == "MLG-FILE-UNSUPPORTED" and "ExecuTorch" in f.message for s in r.subjects for f in s.findings)


def test_bare_mz_bytes_are_not_an_executable() -> None:
    data = b"MZ" + bytes(range(256)) * 4  # two bytes any weight file can start with
    assert sniff_model_format(bytes_blob("weights.bin", data), data) != "executable"


HANDLER = "from ts.torch_handler.base_handler import BaseHandler\n\n\nclass H(BaseHandler):\n    pass\n"


def torchserve_mar(path: Path, handler: str) -> None:
    import json
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("MAR-INF/MANIFEST.json", json.dumps({"model": {"modelName": "m", "handler": "handler.py",
                                                                  "serializedFile": "model.pt"}}))
        z.writestr("handler.py", handler)


def test_torchserve_handler_blocks_unless_its_digest_is_reviewed(tmp_path: Path, make_ctx: object) -> None:
    import hashlib

    from mlgate.gates.model_scan.analyze import analyze_blob

    p = tmp_path / "m.mar"
    torchserve_mar(p, HANDLER)
    ctx = make_ctx()  # type: ignore[operator]
    analyze_blob(bytes_blob("m.mar", p.read_bytes()), ctx)
    f = [x for x in ctx.findings if x.id == "MLG-HF-CUSTOM-CODE"]
    assert f
    assert f[0].severity is Severity.HIGH
    digest = hashlib.sha256(HANDLER.encode()).hexdigest()
    assert f[0].details["sha256"] == digest
    ok = make_ctx(reviewed_code_sha256=[digest])  # type: ignore[operator]
    analyze_blob(bytes_blob("m.mar", p.read_bytes()), ok)
    assert [x.severity for x in ok.findings if x.id == "MLG-HF-CUSTOM-CODE"] == [Severity.INFO]
    # a handler that runs commands still blocks, reviewed or not
    evil = HANDLER + "import os\nos.system('id')\n"
    torchserve_mar(p, evil)
    bad = make_ctx(reviewed_code_sha256=[hashlib.sha256(evil.encode()).hexdigest()])  # type: ignore[operator]
    analyze_blob(bytes_blob("m.mar", p.read_bytes()), bad)
    assert "MLG-HF-CODE-EXEC" in ids(bad)
