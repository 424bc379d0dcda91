"""Deny by default: how a referenced global (a pickle ``module.name``, a skops type, a Keras module
reference) is judged.

1. The **denylist** (below, in code: it only ranks severity and explains) marks known code-reaching
   modules and names as critical. It wins over the allowlist.
2. The **allowlist** (the policy's ``allowlist.globals``, each entry with a reason) marks known-safe
   constructs.
3. Everything else is *unknown* and reported at the policy's ``unknown_globals`` severity (high by
   default, which blocks). New gadgets therefore block without anyone having listed them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from mlgate.model import Severity
from mlgate.policy import AllowEntry, Policy

# Protocol <= 2 pickles may carry Python 2 names, which the unpickler remaps (fix_imports).
PY2_MODULE_MAP = {
    "__builtin__": "builtins",
    "copy_reg": "copyreg",
    "cPickle": "pickle",
    "commands": "subprocess",
    "cStringIO": "io",
    "StringIO": "io",
    "urllib2": "urllib.request",
    "httplib": "http.client",
    "exceptions": "builtins",
    "thread": "_thread",
    "Queue": "queue",
    "SocketServer": "socketserver",
    "ConfigParser": "configparser",
    "repr": "reprlib",
    "UserDict": "collections",
    "UserList": "collections",
    "UserString": "collections",
    "whichdb": "dbm",
    "anydbm": "dbm",
    "dbhash": "dbm.bsd",
    "dumbdbm": "dbm.dumb",
    "gdbm": "dbm.gnu",
    "xmlrpclib": "xmlrpc.client",
    "_winreg": "winreg",
    "multiprocessing.process": "multiprocessing.context",
}

# module (and its submodules) -> why it reaches code, files, the network or the interpreter.
DANGEROUS_MODULES: dict[str, str] = {
    "os": "process execution and file system",
    "posix": "process execution",
    "nt": "process execution",
    "subprocess": "process execution",
    "pty": "spawns processes (GHSA-vqmv-47xg-9wpr)",
    "runpy": "runs arbitrary code (runpy._run_code)",
    "code": "interactive interpreter runs code (GHSA-cj3c-v495-4xqh)",
    "codeop": "compiles code",
    "timeit": "timeit executes code strings",
    "cProfile": "cProfile.run executes code strings",
    "profile": "profile.run executes code strings",
    "trace": "trace.Trace.run executes code",
    "doctest": "doctest.debug_script executes code",
    "pdb": "debugger executes code",
    "bdb": "debugger executes code",
    "idlelib": "IDLE runcode helpers execute code",
    "lib2to3": "Grammar.loads unpickles",
    "pydoc": "pydoc.pipepager runs a shell command",
    "distutils": "distutils.spawn runs processes",
    "setuptools": "runs build commands",
    "pip": "pip.main installs and runs code (CVE-2025-1716)",
    "webbrowser": "opens URLs / runs a browser",
    "uuid": "uuid._get_command_stdout runs a command (GHSA-g38g-8gr9-h9xp)",
    "imaplib": "IMAP4_stream runs a command",
    "smtplib": "network",
    "ftplib": "network",
    "telnetlib": "network",
    "poplib": "network",
    "nntplib": "network",
    "socket": "network",
    "ssl": "network",
    "http": "network",
    "urllib": "network (urlopen)",
    "requests": "network",
    "aiohttp": "network",
    "httpx": "network",
    "asyncio": "asyncio.subprocess / unix_events spawn processes (CVE-2025-10157)",
    "multiprocessing": "spawns processes",
    "concurrent": "spawns processes/threads",
    "threading": "threads",
    "_thread": "threads",
    "signal": "signal handlers",
    "sys": "interpreter internals",
    "gc": "interpreter internals",
    "inspect": "interpreter internals",
    "ctypes": "native code (ctypes.CDLL(None).system, GHSA-4675-36f9-wf6r)",
    "_ctypes": "native code",
    "cffi": "native code",
    "importlib": "imports arbitrary modules",
    "pkgutil": "pkgutil.resolve_name resolves any global (GHSA-vvpj-8cmc-gx39)",
    "zipimport": "imports code",
    "imp": "imports code",
    "marshal": "marshal.loads builds code objects",
    "types": "types.FunctionType / CodeType build functions",
    "pickle": "nested unpickling",
    "_pickle": "nested unpickling",
    "pickletools": "pickle internals",
    "dill": "nested unpickling of code",
    "cloudpickle": "by-value functions (code objects)",
    "shelve": "unpickles",
    "dbm": "file system",
    "shutil": "file system",
    "tempfile": "file system",
    "glob": "file system",
    "io": "file access (io.open, FileIO)",
    "_io": "file access (_io.FileIO)",
    "sqlite3": "database files (sqlite3.connect)",
    "mailcap": "mailcap.findmatch runs commands",
    "logging": "logging.FileHandler writes files",
    "operator": "attrgetter/methodcaller chains reach any attribute (GHSA-955r-x9j8-7rhh)",
    "_operator": "attrgetter/methodcaller chains (GHSA-84r2-jw7c-4r5q)",
    "functools": "partial/reduce wrap other callables",
    "hydra": "hydra.utils.instantiate/call/get_method/get_class and hydra._internal.utils._locate import and call "
             "any dotted path (a config target that chains to another target)",
    "numpy.testing": "numpy.testing._private.utils.runstring executes code",
    "numpy.f2py": "compiles and runs code",
    "numpy.distutils": "runs build commands",
    "numpy.ctypeslib": "native code",
    "numpy.lib.npyio": "numpy.load(allow_pickle=True) nests a pickle",
    "numpy.lib.format": "numpy.lib.format.read_array nests a pickle",
    "torch.hub": "downloads and runs code",
    "torch.jit": "loads TorchScript",
    "torch.package": "imports packaged code",
    "torch.utils.cpp_extension": "compiles native code",
    "torch._dynamo": "compiles code",
    "torch._inductor": "compiles code",
    "tensorflow": "file/network ops",
    "keras.utils": "keras.utils.get_file downloads files",
    "_posixsubprocess": "process execution",
    "_winapi": "process execution",
    "site": "runs .pth code",
    "readline": "interpreter",
    "rlcompleter": "interpreter",
    "xmlrpc": "network",
    "socketserver": "network",
    "smtpd": "network",
    "wsgiref": "network",
    "venv": "creates environments",
    "ensurepip": "installs packages",
    # Library objects that are I/O or process machinery, not model state (reviewed when the generated
    # allowlists were built: `mlgate allowlist build` never imports these modules).
    "joblib.memory": "joblib.Memory caches calls on disk",
    "joblib.parallel": "joblib.Parallel runs functions in worker processes",
    "joblib._parallel_backends": "process/thread pool backends",
    "joblib._store_backends": "on-disk cache store",
    "joblib.pool": "process pools",
    "joblib.executor": "process executors",
    "joblib._dask": "distributed execution",
    "joblib._memmapping_reducer": "memory-maps temporary files",
    "joblib.externals": "vendored loky/cloudpickle (processes, code pickling)",
    "xgboost.tracker": "opens sockets (Rabit tracker)",
    "xgboost.dask": "distributed execution",
    "xgboost.collective": "distributed communication",
    "xgboost.rabit": "distributed communication",
    "xgboost.compat": "LazyLoader imports modules on attribute access",
    "pandas.io": "readers and writers of files, URLs, clipboards and databases",
    "numpy.lib._datasource": "opens files and URLs",
    "numpy._pytesttester": "runs pytest",
    "numpy.core._internal": "ctypes helpers",
    "numpy._core._internal": "ctypes helpers",
    "torch.distributed": "network communication and RPC",
    "torch.multiprocessing": "spawns processes",
    "torch.utils.data": "DataLoader workers spawn processes and run user code",
    "torch.utils.tensorboard": "writes event files",
    "torch.utils.checkpoint": "re-runs functions",
    "torch.utils.hooks": "holds callables run on forward/backward",
    "torch.testing": "test helpers",
    "torch.onnx": "export machinery",
    "torch.export": "program capture and execution",
    "torch.fx": "graph code generation (GraphModule compiles Python source)",
    "torch.compiler": "compiles code",
    "torch.library": "registers operators",
    "torch.ops": "operator namespaces resolve any registered operator",
    "transformers.utils.hub": "downloads files",
    "transformers.dynamic_module_utils": "imports remote code",
    "lightning.pytorch.loggers": "loggers write files and talk to services",
    "lightning.fabric.loggers": "loggers write files",
    "zipfile": "file system",
    "tarfile": "file system",
    "fileinput": "file system",
    "linecache": "file system",
}

# (module, name) -> why; for modules that are otherwise harmless.
DANGEROUS_NAMES: dict[tuple[str, str], str] = {
    **{
        ("builtins", n): f"builtins.{n} reaches code or files"
        for n in (
            "eval",
            "exec",
            "compile",
            "__import__",
            "getattr",
            "setattr",
            "delattr",
            "open",
            "breakpoint",
            "input",
            "globals",
            "locals",
            "vars",
            "help",
            "memoryview",
            "type",
            "super",
            "classmethod",
            "staticmethod",
            "property",
            "exit",
            "quit",
            "apply",
            "execfile",
            "reload",
            "file",
        )
    },
    ("torch", "load"): "nested torch.load unpickles",
    ("torch.serialization", "load"): "nested torch.load unpickles",
    ("torch.serialization", "_load"): "nested torch.load unpickles",
    ("torch.serialization", "_legacy_load"): "nested torch.load unpickles",
    ("torch.storage", "_load_from_bytes"): "torch.load(weights_only=False) of its byte argument (nested file)",
    ("torch", "from_file"): "reads files",
    ("torch", "save"): "writes files",
    ("numpy", "load"): "numpy.load(allow_pickle=True) nests a pickle",
    ("numpy", "loadtxt"): "reads files",
    ("numpy", "fromfile"): "reads files",
    ("numpy", "memmap"): "maps files",
    ("numpy", "save"): "writes files",
    ("numpy", "__builtins__"): "reaches builtins through the numpy module (modelscan #330)",
    ("joblib", "load"): "nested joblib.load unpickles",
    ("joblib.numpy_pickle", "load"): "nested joblib.load unpickles",
    ("pandas", "read_pickle"): "nested unpickling",
    ("pandas.io.pickle", "read_pickle"): "nested unpickling",
    ("collections", "namedtuple"): "namedtuple() evaluates source code",
}


# Names inside a denied module that are plain values, admitted only when the allowlist also names
# them exactly (reviewed here, in code, because the denylist otherwise always wins).
SAFE_IN_DENIED_MODULE: dict[tuple[str, str], str] = {
    ("uuid", "UUID"): "uuid.UUID only stores an int (its __setstate__ sets int and is_safe)",
    ("uuid", "SafeUUID"): "enum value stored in a UUID's state",
}

# Usages recorded by the pickle machine: how the stream used a global.
CALLING_USAGES = frozenset({"call"})  # REDUCE / INST / OBJ: called with arguments
CONSTRUCTING_USAGES = frozenset({"new"})  # NEWOBJ / NEWOBJ_EX: cls.__new__(cls, *args), then BUILD


def usage_problem(entry: AllowEntry, usages: frozenset[str]) -> str | None:
    """Why an allowlisted object may not be used this way, or None. Entries without ``kind`` keep
    the historical meaning (any use)."""
    if entry.kind is None or entry.kind == "function":
        return None
    if entry.kind == "value" and usages & (CALLING_USAGES | CONSTRUCTING_USAGES):
        return "allowlisted as a value (a reference), but the pickle calls it"
    if entry.kind == "class" and usages & CALLING_USAGES and not entry.called:
        return ("allowlisted as a class that is only constructed (NEWOBJ/BUILD), but the pickle calls it with "
                "arguments (REDUCE)")
    return None


class GlobalStatus(str, Enum):
    DANGEROUS = "dangerous"
    ALLOWED = "allowed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class GlobalJudgement:
    status: GlobalStatus
    module: str  # after Python 2 remapping
    name: str
    severity: Severity
    reason: str
    entry: AllowEntry | None = None


def normalise_module(module: str) -> str:
    return PY2_MODULE_MAP.get(module, module)


def _dangerous(module: str, name: str) -> str | None:
    if (module, name) in SAFE_IN_DENIED_MODULE:
        return None  # still needs an exact allowlist entry: see GlobalsPolicy.judge
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in DANGEROUS_MODULES:
            return DANGEROUS_MODULES[prefix]
    top = name.split(".")[0]
    if (module, top) in DANGEROUS_NAMES:
        return DANGEROUS_NAMES[(module, top)]
    if (module, name) in DANGEROUS_NAMES:
        return DANGEROUS_NAMES[(module, name)]
    # Dunder attribute paths reach interpreter internals from any module (e.g. x.__globals__).
    if any(p.startswith("__") and p.endswith("__") and p not in ("__init__",) for p in name.split(".")[1:]):
        return "dunder attribute path reaches interpreter internals"
    if name.startswith("__builtins__") or name.startswith("__globals__"):
        return "reaches interpreter internals"
    return None


class GlobalsPolicy:
    def __init__(self, allow: tuple[AllowEntry, ...], unknown_severity: Severity) -> None:
        self.allow = allow
        self.unknown_severity = unknown_severity
        self._exact: dict[tuple[str, str], AllowEntry] = {}
        self._patterns: list[AllowEntry] = []
        for e in allow:
            if e.name == "*" or e.module.endswith(".**"):
                self._patterns.append(e)
            else:
                self._exact.setdefault((e.module, e.name), e)
        self._cache: dict[tuple[str, str, frozenset[str]], GlobalJudgement] = {}

    @classmethod
    def from_policy(cls, policy: Policy, checkpoint: str | None) -> GlobalsPolicy:
        return cls(policy.allow_entries, policy.blocking(checkpoint).unknown_globals)

    def entry_for(self, module: str, name: str) -> AllowEntry | None:
        """The allowlist entry for a (Python 3) name: exact entries first, then patterns. A name
        inside a denied module is admitted only by an exact entry (SAFE_IN_DENIED_MODULE)."""
        hit = self._exact.get((module, name))
        if hit is not None:
            return hit
        if (module, name) in SAFE_IN_DENIED_MODULE:
            return None
        return next((e for e in self._patterns if e.matches(module, name)), None)

    def judge(self, module: str, name: str, usages: frozenset[str] = frozenset()) -> GlobalJudgement:
        key = (module, name, usages)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        mod = normalise_module(module)
        why = _dangerous(mod, name)
        entry = self.entry_for(mod, name)
        if why is not None:
            j = GlobalJudgement(GlobalStatus.DANGEROUS, mod, name, Severity.CRITICAL, why)
        elif entry is not None and (problem := usage_problem(entry, usages)) is not None:
            j = GlobalJudgement(GlobalStatus.UNKNOWN, mod, name, self.unknown_severity, problem, entry)
        elif entry is not None:
            j = GlobalJudgement(GlobalStatus.ALLOWED, mod, name, Severity.INFO, entry.reason, entry)
        else:
            j = GlobalJudgement(
                GlobalStatus.UNKNOWN, mod, name, self.unknown_severity, "not on the policy's allowlist"
            )
        self._cache[key] = j
        return j
