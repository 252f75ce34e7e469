"""Git LFS through the SDK: batch upload, PUT of the bytes, a commit that references the
object, the pointer file read back, and the download."""

from __future__ import annotations

import hashlib
import os

import httpx
from e2e_support import commit, git_blob_sha, lfs_pointer, raised

from mesa_emulator.server import Emulator
from mesa_sdk import Mesa, NotFoundError
from mesa_sdk.models import FileContent, LfsBatchResponse, LfsObject, LfsObjectError


def test_upload_put_commit_pointer_and_download(client: Mesa, emu: Emulator) -> None:
    client.repos.create(body={"name": "assets"})
    data = os.urandom(300_000)
    oid = hashlib.sha256(data).hexdigest()
    spec = {"oid": oid, "size": len(data)}

    upload = client.lfs.upload(repo="assets", body={"objects": [spec]})
    assert isinstance(upload, LfsBatchResponse)
    (wanted,) = upload.objects
    assert (wanted.oid, wanted.size, wanted.exists) == (oid, len(data), False)
    assert wanted.upload_url is not None and wanted.upload_url.startswith(emu.base_url + "/_lfs/")
    assert wanted.expires_in is not None and wanted.expires_in > 0
    assert wanted.download_url is None and wanted.error is None

    # The pre-signed URL takes the bytes without the API key.
    put = httpx.put(wanted.upload_url, content=data, timeout=30)
    assert put.status_code == 200, put.text

    again = client.lfs.upload(repo="assets", body={"objects": [spec]})
    assert again == LfsBatchResponse(objects=[LfsObject(oid=oid, size=len(data), exists=True)])

    made = commit(
        client,
        "assets",
        [{"path": "media/video.bin", "action": "create", "lfs": spec}],
        message="Add video",
    )
    pointer = lfs_pointer(data)
    assert client.content.get_raw(repo="assets", path="media/video.bin", ref=made.sha) == pointer
    entry = client.content.get(repo="assets", path="media/video.bin")
    assert isinstance(entry, FileContent)
    assert (entry.size, entry.sha) == (len(pointer), git_blob_sha(pointer))

    download = client.lfs.download(repo="assets", body={"objects": [spec]})
    (found,) = download.objects
    assert (found.oid, found.size, found.exists, found.error) == (oid, len(data), True, None)
    assert found.download_url is not None and found.upload_url is None
    got = httpx.get(found.download_url, timeout=30)
    assert got.status_code == 200 and got.content == data

    # A second version replaces the pointer with an `update` edit.
    newer = os.urandom(1000)
    newer_spec = {"oid": hashlib.sha256(newer).hexdigest(), "size": len(newer)}
    (slot,) = client.lfs.upload(repo="assets", body={"objects": [newer_spec]}).objects
    assert slot.upload_url is not None
    assert httpx.put(slot.upload_url, content=newer).status_code == 200
    commit(client, "assets", [{"path": "media/video.bin", "action": "update", "lfs": newer_spec}])
    assert client.content.get_raw(repo="assets", path="media/video.bin") == lfs_pointer(newer)
    assert client.content.get_raw(repo="assets", path="media/video.bin", ref=made.sha) == pointer


def test_download_of_a_missing_object_is_a_per_object_error(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    present = b"present"
    spec = {"oid": hashlib.sha256(present).hexdigest(), "size": len(present)}
    (slot,) = client.lfs.upload(repo="r", body={"objects": [spec]}).objects
    assert slot.upload_url is not None
    assert httpx.put(slot.upload_url, content=present).status_code == 200
    missing = {"oid": "0" * 64, "size": 3}

    found, absent = client.lfs.download(repo="r", body={"objects": [spec, missing]}).objects
    assert found.exists is True and found.download_url
    assert absent.oid == "0" * 64 and absent.exists is False and absent.download_url is None
    assert isinstance(absent.error, LfsObjectError) and absent.error.code == "LFS_OBJECT_NOT_FOUND"

    # A commit cannot point at an object the server does not hold, and writes nothing.
    error = raised(
        lambda: commit(client, "r", [{"path": "x.bin", "action": "create", "lfs": missing}])
    )
    assert isinstance(error, NotFoundError) and error.code == "LFS_OBJECT_NOT_FOUND"
    assert error.details["field"] == "edits.0.lfs"
    assert client.repos.get(repo="r").head_sha is None
