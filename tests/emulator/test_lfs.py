"""LFS: batch upload/download, pre-signed URLs, verification, pointer commits."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
from emulator_helpers import Api, assert_error
from tests.shared import AUTHOR

from mesa_emulator.server import Emulator


def spec(data: bytes) -> dict[str, object]:
    return {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}


def upload_url(http: httpx.Client, org: str, data: bytes) -> str:
    response = http.post(f"/{org}/r/lfs/objects", json={"objects": [spec(data)]})
    assert response.status_code == 200, response.text
    (obj,) = response.json()["objects"]
    return str(obj["upload_url"])


def test_upload_download_and_commit(http: httpx.Client, org: str, api: Api, emu: Emulator) -> None:
    api.repo()
    data = b"large binary \x00\x01" * 1000
    other = b"second object"
    batch = http.post(f"/{org}/r/lfs/objects", json={"objects": [spec(data), spec(other)]})
    assert batch.status_code == 200
    objects = batch.json()["objects"]
    assert [o["oid"] for o in objects] == [spec(data)["oid"], spec(other)["oid"]]
    for obj in objects:
        assert set(obj) == {"oid", "size", "exists", "upload_url", "expires_in"}
        assert obj["exists"] is False and obj["expires_in"] > 0
        assert obj["upload_url"].startswith(f"{emu.base_url}/_lfs/")

    # The upload URL needs no API key.
    put = httpx.put(objects[0]["upload_url"], content=data)
    assert put.status_code == 200, put.text

    again = http.post(f"/{org}/r/lfs/objects", json={"objects": [spec(data)]}).json()["objects"][0]
    assert again == {"oid": spec(data)["oid"], "size": len(data), "exists": True}

    down = http.post(f"/{org}/r/lfs/objects/download", json={"objects": [spec(data), spec(other)]})
    found, missing = down.json()["objects"]
    assert set(found) == {"oid", "size", "exists", "download_url", "expires_in"}
    assert found["exists"] is True
    got = httpx.get(found["download_url"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-length"] == str(len(data))
    assert set(missing) == {"oid", "size", "exists", "error"}
    assert missing["exists"] is False and missing["error"]["code"] == "LFS_OBJECT_NOT_FOUND"

    made = api.commit(
        "r",
        [
            {
                "path": "assets/big.bin",
                "action": "create",
                "lfs": {"oid": found["oid"], "size": len(data)},
            }
        ],
    )
    pointer = http.get(
        f"/{org}/r/content",
        params={"path": "assets/big.bin", "ref": made["sha"]},
        headers={"Accept": "application/octet-stream"},
    ).content
    expected = "version https://git-lfs.github.com/spec/v1\n"
    expected += f"oid sha256:{found['oid']}\nsize {len(data)}\n"
    assert pointer == expected.encode()
    # An unknown object (or a wrong size) is 404 and nothing is committed.
    for lfs in ({"oid": "0" * 64, "size": 3}, {"oid": found["oid"], "size": len(data) + 1}):
        response = http.post(
            f"/{org}/r/commits",
            json={
                "branch": "main",
                "message": "m",
                "author": AUTHOR,
                "edits": [{"path": "x.bin", "action": "create", "lfs": lfs}],
            },
        )
        assert_error(response, 404, "LFS_OBJECT_NOT_FOUND")
    assert api.head("r") == made["sha"]


def test_upload_is_verified(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    data = b"exactly these bytes"
    url = upload_url(http, org, data)
    for wrong in (b"other bytes, same size", data + b"!", data[:-1], b"exactly these bytez"):
        response = httpx.put(url, content=wrong)
        assert_error(response, 422, "LFS_VERIFICATION_FAILED")
    down = http.post(f"/{org}/r/lfs/objects/download", json={"objects": [spec(data)]})
    assert down.json()["objects"][0]["exists"] is False
    assert httpx.put(url, content=data).status_code == 200


def test_bad_signatures_are_403(http: httpx.Client, org: str, api: Api, emu: Emulator) -> None:
    api.repo()
    data = b"payload"
    url = upload_url(http, org, data)
    parsed = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    base = f"{parsed.scheme}://{parsed.netloc}{parsed.path}"

    def with_query(**changes: str) -> str:
        return f"{base}?{urlencode({**query, **changes})}"

    for bad in (
        with_query(sig="A" * 43),
        with_query(expires=str(int(query["expires"]) + 10)),
        with_query(size="999"),
        with_query(op="download"),
        base,
        with_query(expires="1", sig=query["sig"]),
    ):
        assert_error(httpx.put(bad, content=data), 403, "FORBIDDEN")
    assert_error(httpx.get(url), 403, "FORBIDDEN")  # an upload URL cannot download
    assert_error(httpx.put(f"{emu.base_url}/_lfs/x/y", content=data), 404, "NOT_FOUND")


def test_lfs_batch_errors(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    post = lambda body: http.post(f"/{org}/r/lfs/objects", json=body)  # noqa: E731
    assert_error(post({"objects": []}), 400, "INVALID_REQUEST", field="objects")
    assert_error(
        post({"objects": [{"oid": "xyz", "size": 1}]}),
        400,
        "INVALID_REQUEST",
        field="objects.0.oid",
    )
    assert_error(
        post({"objects": [{"oid": "a" * 64, "size": -1}]}),
        400,
        "INVALID_REQUEST",
        field="objects.0.size",
    )
    assert_error(post({"objects": [{"oid": "a" * 64, "size": 1}] * 101}), 400, "INVALID_REQUEST")
    assert_error(
        http.post(f"/{org}/nope/lfs/objects", json={"objects": [spec(b"x")]}), 404, "REPO_NOT_FOUND"
    )


def test_objects_belong_to_their_repository(http: httpx.Client, org: str, api: Api) -> None:
    api.repo("one")
    api.repo("two")
    data = b"per repo"
    url = http.post(f"/{org}/one/lfs/objects", json={"objects": [spec(data)]}).json()["objects"][0][
        "upload_url"
    ]
    assert httpx.put(url, content=data).status_code == 200
    assert (
        http.post(f"/{org}/two/lfs/objects", json={"objects": [spec(data)]}).json()["objects"][0][
            "exists"
        ]
        is False
    )
