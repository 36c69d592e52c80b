"""The committed protos/*_pb2* files are exactly what protos/*.proto generate (stale code fails)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROTOS = sorted(p.name for p in (REPO / "protos").glob("*.proto"))
GENERATED = [f"{p[:-6]}{suffix}" for p in PROTOS for suffix in ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("protos")
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO}",
            f"--python_out={out}", f"--grpc_python_out={out}", f"--pyi_out={out}",
            *(f"protos/{p}" for p in PROTOS),
        ],
        cwd=REPO, check=True, capture_output=True, timeout=60,
    )
    return out / "protos"


@pytest.mark.parametrize("name", GENERATED)
def test_generated_file_is_current(regenerated: Path, name: str) -> None:
    committed = (REPO / "protos" / name).read_bytes()
    fresh = (regenerated / name).read_bytes()
    assert fresh == committed, f"protos/{name} is stale: run `make protos` and commit the result"


def test_generated_module_imports_from_the_repo_root() -> None:
    from protos import link_pb2, link_pb2_grpc

    assert link_pb2.DESCRIPTOR.name == "protos/link.proto"
    assert link_pb2.DESCRIPTOR.package == "edgehub.link.v1"
    assert hasattr(link_pb2_grpc, "HubLinkServicer")
