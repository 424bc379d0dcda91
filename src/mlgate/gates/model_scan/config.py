"""Settings of the model scan gate (``gates.model-scan`` in a policy). Validated by pydantic, so a
wrong key or value is a policy error naming the field."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mlgate.model import Severity

GiB = 1024**3
MiB = 1024**2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    max_depth: int = Field(default=6, ge=1, le=32, description="Nested archives / compression layers.")
    max_extracted_bytes: int = Field(default=8 * GiB, ge=MiB, description="Per top-level file.")
    max_ratio: float = Field(
        default=200.0, ge=2, description="Decompressed / compressed bytes before a member is a bomb."
    )
    max_members: int = Field(default=100_000, ge=1)
    max_pickle_ops: int = Field(default=20_000_000, ge=1000, description="Opcodes per pickle stream.")
    max_memo: int = Field(default=2_000_000, ge=100)
    max_pickle_values: int = Field(
        default=4_000_000,
        ge=1000,
        description="Values the pickle machine keeps alive (stack, MARKs, container items): its memory budget.",
    )
    max_template_chars: int = Field(
        default=1024 * 1024, ge=1024, description="Chat templates longer than this are not parsed (incomplete)."
    )
    max_template_render_cost: int = Field(
        default=10_000_000,
        ge=1000,
        description="Estimated characters/iterations one render of a chat template may produce before it is a DoS finding.",
    )
    max_pickle_streams: int = Field(default=10_000, ge=10, description="Stacked pickle streams analysed per blob.")
    max_json_bytes: int = Field(default=64 * MiB, ge=1024, description="JSON/YAML/text files parsed whole.")
    max_header_bytes: int = Field(default=100 * MiB, ge=1024, description="safetensors/GGUF headers.")
    seconds_per_file: float = Field(default=600.0, gt=0)
    nested_blob_min: int = Field(
        default=16, ge=2, description="Byte strings at least this long are sniffed for nested files."
    )


class ModelscanEngine(_Strict):
    """modelscan, the optional second engine (``pip install 'mlgate[modelscan]'``, Python < 3.13)."""

    enabled: bool = Field(default=True, description="Run modelscan on every file when it is installed.")
    required: bool = Field(
        default=False,
        description="true: modelscan missing or failing to start is an error on every file (fail closed). "
        "false: files are judged by mlgate's own engine alone and the report says so; a file only "
        "modelscan could analyse stays incomplete.",
    )
    max_pickle_bytes: int = Field(
        default=256 * MiB,
        description="modelscan reads whole pickle arguments into memory; larger non-zip files are left to mlgate's engine (recorded).",
    )


class ModelScanConfig(_Strict):
    limits: Limits = Limits()
    modelscan: ModelscanEngine = ModelscanEngine()
    custom_code_severity: Severity = Field(
        default=Severity.HIGH, description="Python files / auto_map / loader modules shipped with a model."
    )
    trailing_data_severity: Severity = Field(default=Severity.MEDIUM)
    reviewed_code_sha256: tuple[str, ...] = Field(
        default=(),
        description="SHA-256 digests of reviewed code files (TorchServe handlers, modeling_*.py): reported at info "
        "instead of custom_code_severity; calls that execute code are still reported.",
    )
    exclude: tuple[str, ...] = Field(
        default=(".git/**",),
        description="fnmatch patterns (relative paths) not scanned; every excluded file is listed in the report notes.",
    )
    max_workers: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Worker processes for many-file scans (further bounded by the CPUs and memory available).",
    )
    cache_dir: str | None = Field(
        default=None,
        description=(
            "Folder of the verdict cache (also MLGATE_SCAN_CACHE): a file whose bytes, path, policy and "
            "scanner versions were analysed before is not analysed again. Off by default."
        ),
    )
    process_pool_min_files: int = Field(
        default=16,
        ge=2,
        description="Below this many files everything is analysed in the scanning process (no pool start-up).",
    )
    worker_memory_bytes: int = Field(
        default=512 * MiB,
        ge=64 * MiB,
        description="Memory set aside per worker process when deciding how many to start.",
    )
