"""`mlgate allowlist build`: the real inspector, in a separate process, on a small fixture package
that holds the cases that matter (state-only classes, a reconstruction that reaches code, a
re-export of an object of a denied module, an I/O-capable class, a Cython-style unpickler)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from mlgate.gates.model_scan.allowlist_build.build import Spec, entries_from, inspect, merge, write

FIXTURE = {
    "fixturelib/__init__.py": "from fixturelib.models import Model, Plain\nVERSION = '1.0'\n",
    "fixturelib/models.py": textwrap.dedent('''
        import os
        import subprocess
        from tempfile import NamedTemporaryFile
        from multiprocessing.connection import Client

        class Plain:
            def __init__(self, a=1):
                self.a = a

        class Model(Plain):
            def __setstate__(self, state):
                self.__dict__.update(state)

        class Evil:
            def __setstate__(self, state):
                eval(state["code"])

        class Runner:
            def run(self):
                subprocess.Popen(["true"])

        class Cleaner:
            def __del__(self):
                os.remove(self.path)

        class Boom(Exception):
            pass
        '''),
}


@pytest.fixture(scope="module")
def inspected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("lib")
    for rel, text in FIXTURE.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return inspect(sys.executable, ("fixturelib",), (str(root),))


def test_state_only_classes_become_entries_under_their_defining_module(inspected: dict[str, object]) -> None:
    entries, _rejected = entries_from(inspected, Spec("fixturelib", "1.0"))
    names = {(e["module"], e["name"]): e for e in entries}
    assert ("fixturelib.models", "Plain") in names
    assert ("fixturelib.models", "Model") in names
    e = names[("fixturelib.models", "Plain")]
    assert e["kind"] == "class"
    assert e["versions"] == ["fixturelib==1.0"]
    assert "called" not in e
    assert e["reason"]
    # the package-level re-export is not an entry: the pickle names the defining module
    assert ("fixturelib", "Plain") not in names


def test_reexports_of_outside_objects_are_rejected_with_what_they_are(inspected: dict[str, object]) -> None:
    entries, rejected = entries_from(inspected, Spec("fixturelib", "1.0"), aliases=True)
    names = {(e["module"], e["name"]) for e in entries}
    assert ("fixturelib.models", "NamedTemporaryFile") not in names
    assert ("fixturelib.models", "Client") not in names
    assert "tempfile.NamedTemporaryFile" in rejected["fixturelib.models:NamedTemporaryFile"]
    assert "multiprocessing.connection.Client" in rejected["fixturelib.models:Client"]
    assert ("fixturelib", "Model") in names  # an in-package re-export, with the object it resolves to
    alias = next(e for e in entries if (e["module"], e["name"]) == ("fixturelib", "Model"))
    assert alias["object"] == "fixturelib.models:Model"


@pytest.mark.parametrize(("name", "why"), [
    ("Evil", "eval"), ("Runner", "Popen"), ("Cleaner", "remove"), ("Boom", "exception"),
])
def test_classes_that_reach_code_or_io_are_rejected(inspected: dict[str, object], name: str, why: str) -> None:
    entries, rejected = entries_from(inspected, Spec("fixturelib", "1.0"))
    assert name not in {e["name"] for e in entries}
    assert why in rejected[f"fixturelib.models:{name}"]


def test_versions_add_up_and_the_file_is_a_policy_include(inspected: dict[str, object], tmp_path: Path) -> None:
    from mlgate.policy import AllowEntry

    e1, r1 = entries_from(inspected, Spec("fixturelib", "1.0"))
    doc = merge(None, e1, r1, Spec("fixturelib", "1.0"))
    e2, r2 = entries_from(inspected, Spec("fixturelib", "1.1"))
    doc = merge(doc, e2, r2, Spec("fixturelib", "1.1"))
    out = tmp_path / "fixturelib.json"
    write(out, doc, [Spec("fixturelib", "1.0"), Spec("fixturelib", "1.1")])
    data = json.loads(out.read_text())
    plain = next(e for e in data["globals"] if e["name"] == "Plain")
    assert plain["versions"] == ["fixturelib==1.0", "fixturelib==1.1"]
    for e in data["globals"]:
        AllowEntry.model_validate(e)
    assert data["rejected"]


def test_the_inspector_never_runs_in_the_calling_process(inspected: dict[str, object]) -> None:
    assert "fixturelib" not in sys.modules
