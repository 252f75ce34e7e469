"""Public OpenAPI documents nobody here wrote, fetched at pinned commits into
`.cache/third-party-specs/` (ignored by git: nothing fetched is copied into the repository),
each checked against its pinned sha256. `test_third_party_specs.py` generates from them.

`python tests/codegen/third_party_specs.py` fetches what is missing (what
`make third-party-specs` runs); the test calls `third_party_specs()`. Each file is written to a
temporary name and renamed only once its digest matches, so a kill at any point leaves either
the verified file or nothing, and the next run fetches again what is not there.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "third-party-specs"
DOWNLOAD_TIMEOUT_S = 30

PYTHON_CLIENT = "openapi-generators/openapi-python-client"
PYTHON_CLIENT_COMMIT = "ee9a8c435b92e7425a0b68be2d42bae977bf7526"
OAI = "OAI/OpenAPI-Specification"
OAI_COMMIT = "46c1076ba6f9a7a09ecaa6b740ab603cf6cc9886"

# (repository, commit, path in the repository, sha256): the cache keeps the repository's layout
# under a folder named after it, licences next to the files they cover.
FILES = [
    (
        PYTHON_CLIENT,
        PYTHON_CLIENT_COMMIT,
        "LICENSE",
        "e1da71418a98d030776936ae46ba9846ebba05536c3d225d61e513dec1faa506",
    ),
    (
        PYTHON_CLIENT,
        PYTHON_CLIENT_COMMIT,
        "end_to_end_tests/baseline_openapi_3.0.json",
        "5f5e67d0a5083f455be5c901f8940cefd5076e3da0a49ff679074e180736d662",
    ),
    (
        PYTHON_CLIENT,
        PYTHON_CLIENT_COMMIT,
        "end_to_end_tests/baseline_openapi_3.1.yaml",
        "7a0a583e51da6152ad09090bd4743a79fe6c4579197fe219a5151b7a7f903560",
    ),
    (
        PYTHON_CLIENT,
        PYTHON_CLIENT_COMMIT,
        "end_to_end_tests/3.1_specific.openapi.yaml",
        "d3969a93a7dbf73a2c6285e2d5c2572c7265270d536518475fbddc02b084ae7d",
    ),
    (
        PYTHON_CLIENT,
        PYTHON_CLIENT_COMMIT,
        "end_to_end_tests/openapi_3.1_enums.yaml",
        "cc1f89fa2ce2f3d5c61e05e93c9ab5cd65749bb4cd4429e187bda16d2c9b5cc9",
    ),
    (
        PYTHON_CLIENT,
        PYTHON_CLIENT_COMMIT,
        "end_to_end_tests/docstrings_on_attributes.yml",
        "6ad323e6c7f6507f5203f1ac5e637060c32ef73ddd440dc440b629416197b3d0",
    ),
    (
        PYTHON_CLIENT,
        PYTHON_CLIENT_COMMIT,
        "end_to_end_tests/documents_with_errors/bad-status-code.yaml",
        "25a2c33c00f10cf40237877906246dfb1ca3c5ca735ab672344094dcc6602f9e",
    ),
    (
        PYTHON_CLIENT,
        PYTHON_CLIENT_COMMIT,
        "end_to_end_tests/documents_with_errors/circular-body-ref.yaml",
        "c06e648acdb8fb0e8955e6cc3db423199fe1c00aab9914f8be03ddd4ccdadb83",
    ),
    (
        PYTHON_CLIENT,
        PYTHON_CLIENT_COMMIT,
        "end_to_end_tests/documents_with_errors/invalid-uuid-defaults.yaml",
        "4a984123b2ba8830f9340fbcff3a29a29f44eb75a713edade971750548100ef7",
    ),
    (
        PYTHON_CLIENT,
        PYTHON_CLIENT_COMMIT,
        "end_to_end_tests/documents_with_errors/missing-body-ref.yaml",
        "da776d9fe5da82e30448722d3f90fe5d7b2a237e7c69d0e5fb1e39503d5d07d3",
    ),
    (
        PYTHON_CLIENT,
        PYTHON_CLIENT_COMMIT,
        "end_to_end_tests/documents_with_errors/optional-path-param.yaml",
        "91c76e7fef2e85d09064d5cf460845b8a4c6f0d3b11ee67a09ba814aa48d65dc",
    ),
    (
        OAI,
        OAI_COMMIT,
        "LICENSE",
        "4948367c65e1ce06690e2cadc6e86fce1a6a6db55ef874ce4b78c0f472ce5f13",
    ),
    (
        OAI,
        OAI_COMMIT,
        "_archive_/schemas/v3.0/pass/petstore.yaml",
        "598136cb904e17e8eeead51ae33dd8d401fdff455d2d74f3869c4aa5f2742266",
    ),
    (
        OAI,
        OAI_COMMIT,
        "_archive_/schemas/v3.0/pass/petstore-expanded.yaml",
        "b1633b6309c065c43d56be7c659b0f2c4be03be5a4013b7c3f74b32bd33f62eb",
    ),
]


def local_path(repository: str, path: str) -> Path:
    return CACHE / repository.split("/")[1] / path


def _fetch(repository: str, commit: str, path: str, sha256: str) -> str:
    """Downloads one file into the cache unless it is there; gives what went wrong, or ''."""
    target = local_path(repository, path)
    if target.exists():
        return ""
    url = f"https://raw.githubusercontent.com/{repository}/{commit}/{path}"
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as answer:
            data = answer.read()
    except (OSError, urllib.error.URLError) as exc:
        return f"cannot download {url}: {exc}"
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        return f"{url} has sha256 {digest}, not the pinned {sha256}"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial")  # a leftover is overwritten
    partial.write_bytes(data)
    os.replace(partial, target)
    return ""


def third_party_specs() -> tuple[Path | None, str]:
    """The cache folder with every file in it, fetched when missing; or None and the reason."""
    for repository, commit, path, sha256 in FILES:
        problem = _fetch(repository, commit, path, sha256)
        if problem:
            return None, problem
    return CACHE, ""


if __name__ == "__main__":
    folder, reason = third_party_specs()
    print(folder if folder is not None else reason)
    sys.exit(0 if folder is not None else 1)
