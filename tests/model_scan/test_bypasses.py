"""One regression test per published advisory, CVE or scanner issue named in TECHNIQUES.md (and a
few more published picklescan bypasses), named after it, with its link in the docstring.

Each test builds the inert sample from the corpus (``tests/model_scan/corpus/malicious.py``) into
its own temporary directory, scans it under ``policies/default.yaml`` and asserts both the
verdict and the finding that explains it (rule id and, for pickles, the global by name). The
sample's canary must not exist afterwards: nothing was executed. Nothing is loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.model_scan.corpus.malicious import MALICIOUS

from mlgate.api import scan
from mlgate.model import Report, Verdict
from mlgate.policy import Policy

SAMPLES = {s.id: s for s in MALICIOUS}

DANGEROUS = "MLG-PKL-DANGEROUS-GLOBAL"
UNKNOWN = "MLG-PKL-UNKNOWN-GLOBAL"
INDIRECT = "MLG-PKL-INDIRECT-CALL"
MALFORMED = "MLG-PKL-MALFORMED"


def run(sample_id: str, tmp_path: Path, policy: Policy) -> Report:
    sample = SAMPLES[sample_id]
    target = tmp_path / sample.id / sample.filename
    target.parent.mkdir(parents=True)
    canary = tmp_path / "canary"
    sample.build(target, canary)
    report = scan(target, policy=policy)
    assert not canary.exists(), f"{sample_id}: the payload ran"
    return report


def blocking(r: Report) -> list[tuple[str, str | None]]:
    return [(f.id, f.details.get("global")) for s in r.subjects for f in s.findings if f.blocking]


def assert_fail(r: Report, rule: str, global_name: str | None = None) -> None:
    found = blocking(r)
    assert r.verdict is Verdict.FAIL, f"{r.verdict.value}: {found}"
    if global_name is None:
        assert any(i == rule for i, _ in found), found
    else:
        assert (rule, global_name) in found, found


def assert_blocked(r: Report, *rule_prefixes: str) -> None:
    found = blocking(r)
    assert r.verdict is not Verdict.PASS, found
    assert any(i.startswith(rule_prefixes) for i, _ in found), found


# ==================================================================================================
# Advisories named in TECHNIQUES.md
# ==================================================================================================

def test_cve_2025_1716_pip_main(tmp_path: Path, default_policy: Policy) -> None:
    """pip.main as a pickle callable installs and runs a package.
    https://nvd.nist.gov/vuln/detail/CVE-2025-1716"""
    assert_fail(run("gadget-pip-main", tmp_path, default_policy), DANGEROUS, "pip.main")


def test_ghsa_cj3c_v495_4xqh_code_interactiveinterpreter_runcode(tmp_path: Path, default_policy: Policy) -> None:
    """code.InteractiveInterpreter.runcode reached through a dotted STACK_GLOBAL name.
    https://github.com/advisories/GHSA-cj3c-v495-4xqh"""
    r = run("gadget-code-interactiveinterpreter-runcode", tmp_path, default_policy)
    assert_fail(r, DANGEROUS, "code.InteractiveInterpreter.runcode")


def test_ghsa_vvpj_8cmc_gx39_pkgutil_resolve_name(tmp_path: Path, default_policy: Policy) -> None:
    """pkgutil.resolve_name('os:system') as a universal resolver, its result called.
    https://github.com/advisories/GHSA-vvpj-8cmc-gx39"""
    r = run("gadget-pkgutil-resolve-name", tmp_path, default_policy)
    assert_fail(r, DANGEROUS, "pkgutil.resolve_name")
    assert_fail(r, INDIRECT)


def test_ghsa_4675_36f9_wf6r_ctypes_cdll_methodcaller(tmp_path: Path, default_policy: Policy) -> None:
    """operator.methodcaller('system', cmd)(ctypes.CDLL(None)).
    https://github.com/advisories/GHSA-4675-36f9-wf6r"""
    r = run("gadget-ctypes-methodcaller", tmp_path, default_policy)
    assert_fail(r, DANGEROUS, "ctypes.CDLL")
    assert_fail(r, DANGEROUS, "operator.methodcaller")


def test_ghsa_955r_x9j8_7rhh_operator_attrgetter_chain(tmp_path: Path, default_policy: Policy) -> None:
    """operator.attrgetter chains (GLOBAL and STACK_GLOBAL forms).
    https://github.com/advisories/GHSA-955r-x9j8-7rhh"""
    for sid in ("gadget-operator-attrgetter-chain", "gadget-operator-attrgetter-stack-global"):
        r = run(sid, tmp_path / sid, default_policy)
        assert_fail(r, DANGEROUS, "operator.attrgetter")
        assert_fail(r, INDIRECT)


def test_ghsa_84r2_jw7c_4r5q_private_operator_module(tmp_path: Path, default_policy: Policy) -> None:
    """The C module _operator (methodcaller, attrgetter on an allowlisted function's __globals__).
    https://github.com/advisories/GHSA-84r2-jw7c-4r5q"""
    assert_fail(run("gadget-_operator-methodcaller", tmp_path / "a", default_policy), DANGEROUS,
                "_operator.methodcaller")
    r = run("gadget-_operator-attrgetter-dunder", tmp_path / "b", default_policy)
    assert_fail(r, DANGEROUS, "_operator.attrgetter")


def test_modelscan_331_getattr_import_module(tmp_path: Path, default_policy: Policy) -> None:
    """builtins.getattr over importlib.import_module.
    https://github.com/protectai/modelscan/issues/331"""
    r = run("gadget-getattr-import-module", tmp_path, default_policy)
    assert_fail(r, DANGEROUS, "builtins.getattr")
    assert_fail(r, DANGEROUS, "importlib.import_module")


def test_ghsa_vqmv_47xg_9wpr_pty_spawn(tmp_path: Path, default_policy: Policy) -> None:
    """pty.spawn(argv).
    https://github.com/advisories/GHSA-vqmv-47xg-9wpr"""
    assert_fail(run("gadget-pty-spawn", tmp_path, default_policy), DANGEROUS, "pty.spawn")


def test_ghsa_g38g_8gr9_h9xp_uuid_get_command_stdout(tmp_path: Path, default_policy: Policy) -> None:
    """uuid._get_command_stdout runs a command (the uuid module is denied; uuid.UUID is allowed).
    https://github.com/advisories/GHSA-g38g-8gr9-h9xp"""
    assert_fail(run("gadget-uuid-get-command-stdout", tmp_path, default_policy), DANGEROUS,
                "uuid._get_command_stdout")


def test_modelscan_330_numpy_builtins(tmp_path: Path, default_policy: Policy) -> None:
    """numpy.__builtins__ reached through numpy globals (BUILD on numpy.size, then numpy.size(..,'eval')),
    and the older dict.get form.
    https://github.com/protectai/modelscan/issues/330 , https://github.com/protectai/modelscan/issues/89"""
    r = run("gadget-numpy-size-builtins", tmp_path / "a", default_policy)
    assert_fail(r, DANGEROUS, "numpy.__builtins__")
    assert_fail(r, "MLG-PKL-BUILD-ON-GLOBAL")
    r = run("gadget-numpy-builtins-dict-get", tmp_path / "b", default_policy)
    assert_fail(r, DANGEROUS, "numpy.__builtins__")


def test_cve_2025_10157_asyncio_subprocess(tmp_path: Path, default_policy: Policy) -> None:
    """asyncio.unix_events._UnixSubprocessTransport._start and asyncio.subprocess names.
    https://nvd.nist.gov/vuln/detail/CVE-2025-10157"""
    assert_fail(run("submodule-asyncio-unix-subprocess-start", tmp_path / "a", default_policy), DANGEROUS,
                "asyncio.unix_events._UnixSubprocessTransport._start")
    assert_fail(run("submodule-asyncio-subprocess-popen", tmp_path / "b", default_policy), DANGEROUS,
                "asyncio.subprocess.subprocess.Popen")
    assert_fail(run("submodule-asyncio-create-subprocess-shell", tmp_path / "c", default_policy), DANGEROUS,
                "asyncio.subprocess.create_subprocess_shell")


def test_picklescan_22_memo_fed_stack_global(tmp_path: Path, default_policy: Policy) -> None:
    """STACK_GLOBAL operands taken from the memo, with decoy strings in between.
    https://github.com/mmaitre314/picklescan/issues/22"""
    assert_fail(run("opcode-stack-global-memo", tmp_path, default_policy), DANGEROUS, "os.system")


def test_ghsa_9gvj_pp9x_gcfr_memo_tricks_after_payload(tmp_path: Path, default_policy: Policy) -> None:
    """Scanner-crashing memo tricks after the payload ran (missing key, type confusion) and
    STACK_GLOBAL operands at opcode index 0.
    https://github.com/advisories/GHSA-9gvj-pp9x-gcfr"""
    r = run("memo-missing-key-after-payload", tmp_path / "a", default_policy)
    assert_fail(r, DANGEROUS, "os.system")
    assert_fail(r, MALFORMED)
    r = run("memo-type-confusion-after-payload", tmp_path / "b", default_policy)
    assert_fail(r, DANGEROUS, "os.system")
    assert_fail(run("memo-stack-global-at-index-0", tmp_path / "c", default_policy), DANGEROUS, "os.system")


@pytest.mark.parametrize("sample_id", ["broken-invalid-opcode-after-payload", "broken-truncated-after-payload",
                                       "broken-torch-zip-nullifai", "broken-7z-torch-nullifai"])
def test_nullifai_payload_then_broken_stream(sample_id: str, tmp_path: Path, default_policy: Policy) -> None:
    """The payload runs, then the stream breaks (and a 7z wrapper instead of zip).
    https://www.reversinglabs.com/blog/rl-identifies-malware-ml-model-hosted-on-hugging-face"""
    r = run(sample_id, tmp_path, default_policy)
    assert_fail(r, MALFORMED)
    assert any(i == DANGEROUS for i, _ in blocking(r)), blocking(r)


@pytest.mark.parametrize("sample_id", sorted(s.id for s in MALICIOUS if s.advisory == "CVE-2025-1889"))
def test_cve_2025_1889_non_standard_extensions(sample_id: str, tmp_path: Path, default_policy: Policy) -> None:
    """Pickles under non-standard or missing extensions (.txt/.md/.yaml protocol 0, .weights, none, ...).
    https://nvd.nist.gov/vuln/detail/CVE-2025-1889"""
    r = run(sample_id, tmp_path, default_policy)
    assert r.verdict is Verdict.FAIL, blocking(r)
    assert any(i == DANGEROUS for i, _ in blocking(r)), blocking(r)


@pytest.mark.parametrize("sample_id", sorted(s.id for s in MALICIOUS if s.advisory == "CVE-2025-10155"))
def test_cve_2025_10155_plain_pickle_named_like_torch(sample_id: str, tmp_path: Path, default_policy: Policy) -> None:
    """A plain pickle named .pt/.bin/.ckpt/.pth (torch reads it looking for its magic number),
    and legacy torch files with the payload past the magic number.
    https://nvd.nist.gov/vuln/detail/CVE-2025-10155"""
    assert_fail(run(sample_id, tmp_path, default_policy), DANGEROUS, "os.system")


@pytest.mark.parametrize("sample_id", ["zip-name-mismatch", "zip-name-mismatch-central"])
def test_cve_2025_1944_zip_local_central_name_mismatch(sample_id: str, tmp_path: Path, default_policy: Policy
                                                       ) -> None:
    """Local-header name differs from the central directory (zipfile refuses, torch reads).
    https://nvd.nist.gov/vuln/detail/CVE-2025-1944"""
    r = run(sample_id, tmp_path, default_policy)
    assert_fail(r, "MLG-ZIP-NAME-MISMATCH")
    assert_fail(r, DANGEROUS, "os.system")


@pytest.mark.parametrize("sample_id", ["zip-flag-encrypted", "zip-flag-bits-central-only"])
def test_cve_2025_1945_zip_flag_bits(sample_id: str, tmp_path: Path, default_policy: Policy) -> None:
    """General-purpose flag bits (encrypted / strong encryption) on a clear-text data.pkl.
    https://nvd.nist.gov/vuln/detail/CVE-2025-1945"""
    assert_blocked(run(sample_id, tmp_path, default_policy), "MLG-PKL-", "MLG-ZIP-", "MLG-ARC-")


def test_cve_2025_10156_zip_bad_crc(tmp_path: Path, default_policy: Policy) -> None:
    """A wrong CRC-32 on data.pkl (zipfile raises BadZipFile on read; loaders may not check).
    https://nvd.nist.gov/vuln/detail/CVE-2025-10156"""
    r = run("zip-bad-crc", tmp_path, default_policy)
    assert_fail(r, DANGEROUS, "os.system")
    assert_fail(r, "MLG-ZIP-CRC")


def test_modelscan_354_corrupt_unused_member_first(tmp_path: Path, default_policy: Policy) -> None:
    """A corrupt member listed first must not stop the scan of the malicious data.pkl after it.
    https://github.com/protectai/modelscan/issues/354"""
    assert_fail(run("zip-corrupt-first-member", tmp_path, default_policy), DANGEROUS, "os.system")


@pytest.mark.parametrize("sample_id", ["keras-v3-module-function", "keras-v3-module-class"])
def test_cve_2025_1550_keras_config_module_references(sample_id: str, tmp_path: Path, default_policy: Policy
                                                      ) -> None:
    """.keras config.json naming arbitrary module functions/classes (safe_mode bypass).
    https://github.com/keras-team/keras/security/advisories/GHSA-48g7-3x6r-xfhp"""
    assert_fail(run(sample_id, tmp_path, default_policy), "MLG-KERAS-DANGEROUS-REF")


@pytest.mark.parametrize("sample_id", sorted(s.id for s in MALICIOUS if s.advisory == "CVE-2024-34359"))
def test_cve_2024_34359_chat_template_ssti(sample_id: str, tmp_path: Path, default_policy: Policy) -> None:
    """Jinja chat templates reaching Python internals (GGUF metadata, tokenizer_config.json).
    https://github.com/abetlen/llama-cpp-python/security/advisories/GHSA-56xg-wfcc-g829"""
    assert_fail(run(sample_id, tmp_path, default_policy), "MLG-TPL-PYTHON-INTERNALS")


# ==================================================================================================
# Further published bypasses (picklescan / modelscan advisories beyond TECHNIQUES.md)
# ==================================================================================================

@pytest.mark.parametrize("sample_id", sorted(s.id for s in MALICIOUS if s.advisory == "CVE-2024-3660"))
def test_cve_2024_3660_keras_lambda_bytecode(sample_id: str, tmp_path: Path, default_policy: Policy) -> None:
    """Lambda layers with marshalled bytecode, top level and nested (.keras and .h5).
    https://nvd.nist.gov/vuln/detail/CVE-2024-3660"""
    assert_fail(run(sample_id, tmp_path, default_policy), "MLG-KERAS-LAMBDA")


@pytest.mark.parametrize(("sample_id", "global_name"), [
    ("gadget-cprofile-run", "cProfile.run"),  # GHSA-49gj-c84q-6qm9
    ("gadget-profile-profile-run", "profile.Profile.run"),  # GHSA-x696-vm39-cp64
    ("gadget-trace-run", "trace.Trace.run"),  # GHSA-5qwp-399c-mjwf
    ("gadget-doctest-debug-script", "doctest.debug_script"),  # GHSA-fqq6-7vqf-w3fg
    ("gadget-idlelib-calltip-get-entity", "idlelib.calltip.get_entity"),  # GHSA-9xph-j2h6-g47v
    ("gadget-idlelib-run-executive-runcode", "idlelib.run.Executive.runcode"),  # GHSA-m869-42cg-3xwr
    ("gadget-lib2to3-grammar-loads", "lib2to3.pgen2.grammar.Grammar.loads"),  # GHSA-f54q-57x4-jg88
    ("deny-ensurepip-run-pip", "ensurepip._run_pip"),  # GHSA-xp4f-hrf8-rxw7
    ("deny-torch-jit-execwrapper", "torch.jit.unsupported_tensor_ops.execWrapper"),  # GHSA-vr7h-p6mm-wpmh
])
def test_picklescan_ghsa_code_runners_are_denied(sample_id: str, global_name: str, tmp_path: Path,
                                                 default_policy: Policy) -> None:
    """picklescan advisories for stdlib/torch code runners; each GHSA is in the sample's reference.
    https://github.com/mmaitre314/picklescan/security/advisories"""
    assert SAMPLES[sample_id].reference
    assert_fail(run(sample_id, tmp_path, default_policy), DANGEROUS, global_name)


@pytest.mark.parametrize(("sample_id", "global_name"), [
    ("deny-torch-collect-env-run", "torch.utils.collect_env.run"),  # GHSA-f745-w6jp-hpxx
    ("deny-torch-fx-shapeenv", "torch.fx.experimental.symbolic_shapes.ShapeEnv.evaluate_guards_expression"),
    ("deny-mlflow-run-entry-point", "mlflow.projects.backend.local._run_entry_point"),  # modelscan #338
    ("deny-pandas-read-csv-url", "pandas.io.parsers.readers.read_csv"),  # modelscan #338
    ("deny-torch-dotted-serialization-load", "torch.serialization.load"),
])
def test_unlisted_gadgets_blocked_by_default(sample_id: str, global_name: str, tmp_path: Path,
                                             default_policy: Policy) -> None:
    """Gadgets in no denylist (inside allowlisted packages: torch, pandas, mlflow) are blocked because
    they are not on the allowlist. GHSA-f745-w6jp-hpxx, GHSA-f4x7-rfwp-v3xw,
    https://github.com/protectai/modelscan/issues/338"""
    r = run(sample_id, tmp_path, default_policy)
    assert r.verdict is Verdict.FAIL, blocking(r)
    found = blocking(r)
    assert (UNKNOWN, global_name) in found or (DANGEROUS, global_name) in found, found
