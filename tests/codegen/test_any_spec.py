"""`python -m mesa_codegen generate` on specs other than ours: every construct it promises.

Each spec in tests/codegen/specs is generated into a temporary folder; the package is imported,
checked with `mypy --strict`, and every operation is called against respx mocks.
"""

from __future__ import annotations

import base64
import importlib
import io
import logging
import warnings
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import httpx
import pytest
import respx

from mesa_codegen.__main__ import main
from mesa_sdk._runtime.errors import InvalidOptionsError
from tests.shared import assert_mypy_strict_passes, importable

SPECS = Path(__file__).parent / "specs"
URL = "https://api.example.test/v1"
PET_ID = "00000000-0000-0000-0000-00000000000a"


def generate(spec: Path, out: Path, package: str, client_class: str = "Client") -> None:
    code = main(
        [
            "generate",
            "--spec",
            str(spec),
            "--out",
            str(out),
            "--package",
            package,
            "--client-class",
            client_class,
        ]
    )
    assert code == 0


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Each construct spec generated into its own folder (`31/`, `30/`), both importable."""
    out = tmp_path_factory.mktemp("generated")
    generate(SPECS / "constructs_3_1.yaml", out / "31", "constructs31", "Constructs")
    generate(SPECS / "constructs_3_0.yaml", out / "30", "constructs30", "Constructs")
    with importable([out / "31", out / "30"], {"constructs31", "constructs30"}):
        yield out


def load(package: str, module: str = "") -> ModuleType:
    return importlib.import_module(f"{package}.{module}" if module else package)


@pytest.fixture
def client(out_dir: Path) -> Iterator[Any]:
    client = load("constructs31").Constructs(api_key="k")
    try:
        yield client
    finally:
        client.close()


# How a user writes camelCase properties, checked by the same mypy run: snake_case keyword
# arguments and TypedDict keys; a wire-name key is not a key of the TypedDict (the unused
# `type: ignore` would fail under --strict if it were).
SNAKE_CASE_USE = """
from constructs31.models import CasedCat, Casing, CasingTypedDict

cat: CasingTypedDict = {"total_lines": 1, "pet": {"pet_kind": "cat", "lives_left": 9}}
body: CasingTypedDict = {"total_lines": 1, "meta": "m", "http_status": 200}
wire: CasingTypedDict = {"total_lines": 1, "totalLines": 1}  # type: ignore[typeddict-unknown-key]
model = Casing(total_lines=1, foo_bar2="a", pet=CasedCat(pet_kind="cat", lives_left=9))
lines: int = model.total_lines
"""


def test_the_generated_packages_pass_mypy_strict(out_dir: Path) -> None:
    (out_dir / "31" / "snake_case_use.py").write_text(SNAKE_CASE_USE)
    assert_mypy_strict_passes(
        "31/constructs31",
        "30/constructs30",
        "31/snake_case_use.py",
        cwd=out_dir,
        options=("--no-incremental",),
    )


def test_every_generated_module_imports(out_dir: Path) -> None:
    for folder, package in (("31", "constructs31"), ("30", "constructs30")):
        for path in sorted((out_dir / folder / package).rglob("*.py")):
            parts = path.relative_to(out_dir / folder).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            importlib.import_module(name)


def test_usage_and_the_package_docstring_show_the_specs_own_operations(out_dir: Path) -> None:
    usage = (out_dir / "31/USAGE.md").read_text()
    assert "client.pet_store.list_pets_async()" in usage
    assert "client.pet_store.create_pet(" in usage
    assert "repos" not in usage
    assert "result = client.owners.get_owner(id=1)" in (load("constructs30").__doc__ or "")
    resource_doc = (out_dir / "31/docs/sdks/pet_store/README.md").read_text()
    assert "Deprecated: the API may remove this operation" in resource_doc
    assert "| `old` | `str \\| None` | no | Deprecated." in resource_doc


def test_the_server_url_takes_its_variables_defaults(client: Any) -> None:
    assert client.server_url == URL


@respx.mock
def test_query_arrays_dates_headers_and_a_top_level_array_of_inline_objects(client: Any) -> None:
    route = respx.get(f"{URL}/pets").mock(
        return_value=httpx.Response(200, json=[{"id": 1, "name": "Rex"}])
    )
    models = load("constructs31", "models")

    pets = client.pet_store.list_pets(
        tags=["a", "b"],
        born_after=datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        limit=5,
        x_trace="t-1",
    )

    assert pets == [models.ListPetsResponseItem(id=1, name="Rex")]
    request = route.calls.last.request
    assert request.url.params.multi_items() == [
        ("tags", "a"),
        ("tags", "b"),
        ("born_after", "2024-01-02T03:04:05Z"),
        ("limit", "5"),
    ]
    assert request.headers["x-trace"] == "t-1"


@respx.mock
def test_a_deprecated_parameter_warns_when_used(client: Any) -> None:
    respx.get(f"{URL}/pets").mock(return_value=httpx.Response(200, json=[]))
    with pytest.warns(DeprecationWarning, match="old is deprecated"):
        client.pet_store.list_pets(old="x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.pet_store.list_pets()


@respx.mock
def test_a_4xx_range_raises_the_client_error(client: Any) -> None:
    respx.get(f"{URL}/pets").mock(return_value=httpx.Response(404, json={"message": "no"}))
    errors = load("constructs31", "errors")
    with pytest.raises(errors.ClientError) as caught:
        client.pet_store.list_pets()
    assert caught.value.status_code == 404


@respx.mock
def test_two_success_statuses_parse_into_their_own_models(client: Any) -> None:
    models = load("constructs31", "models")
    route = respx.post(f"{URL}/pets")
    route.side_effect = [
        httpx.Response(201, json={"id": PET_ID, "name": "Rex", "status": "sold"}),
        httpx.Response(202, json={"queued": True, "position": 3}),
    ]

    created = client.pet_store.create_pet(body={"name": "Rex", "nickname": "R"})
    queued = client.pet_store.create_pet(body=models.CreatePetRequest(name="Rex"))

    assert created == models.Pet(id=UUID(PET_ID), name="Rex", status="sold")
    assert queued == models.CreatePetResponse202(queued=True, position=3)
    # allOf merged NewPet's fields with the inline ones; unset fields are left to the server.
    assert route.calls[0].request.content == b'{"name":"Rex","nickname":"R"}'


def test_all_of_with_type_object_keeps_every_field_and_applies_defaults(out_dir: Path) -> None:
    models = load("constructs31", "models")
    pet = models.Pet.model_validate(
        {"id": PET_ID, "name": "Rex", "born": "2020-05-06", "owner": None, "extra": [1]}
    )
    assert pet.status == "available"
    assert pet.born == date(2020, 5, 6)
    assert pet.owner is None
    assert pet.extra == [1]
    assert set(models.Pet.model_fields) == {
        "name",
        "status",
        "born",
        "id",
        "owner",
        "tags",
        "extra",
        "legacy_code",
    }


def test_a_deprecated_field_warns_when_read(out_dir: Path) -> None:
    pet = load("constructs31", "models").Pet(id=UUID(PET_ID), name="Rex", legacy_code="L")
    with pytest.warns(DeprecationWarning):
        assert pet.legacy_code == "L"


@respx.mock
def test_a_parameter_name_in_path_and_query_and_a_charset_response(client: Any) -> None:
    route = respx.get(f"{URL}/pets/{PET_ID}").mock(
        return_value=httpx.Response(
            200,
            content=b'{"id": "%s", "name": "Rex"}' % PET_ID.encode(),
            headers={"content-type": "application/json; charset=utf-8"},
        )
    )
    pet = client.pet_store.get_pet(pet_id=UUID(PET_ID), pet_id_query="q")
    assert pet.name == "Rex"
    assert route.calls.last.request.url.params["pet-id"] == "q"


@respx.mock
def test_a_deprecated_operation_warns_and_an_empty_answer_is_none(client: Any) -> None:
    respx.delete(f"{URL}/pets/{PET_ID}").mock(return_value=httpx.Response(204))
    with pytest.warns(DeprecationWarning, match="delete_pet is deprecated"):
        assert client.pet_store.delete_pet(pet_id=UUID(PET_ID)) is None


@respx.mock
def test_an_idempotency_key_is_checked_against_the_specs_own_rule_before_sending(
    client: Any,
) -> None:
    route = respx.post(f"{URL}/orders").mock(return_value=httpx.Response(204))
    for key, problem in (
        ("0123abcd9", "String should have at most 8 characters"),
        ("0123abc", "String should have at least 8 characters"),
        ("0123ABCD", "String should match pattern '^[0-9a-f]+$'"),
    ):
        with pytest.raises(InvalidOptionsError) as caught:
            client.bodies.place_order(request_options={"idempotency_key": key})
        assert str(caught.value) == (
            f"request_options.idempotency_key: {problem}"
            " (the Idempotency-Key header of bodies.place_order)"
        )
    assert not route.calls

    client.bodies.place_order(request_options={"idempotency_key": "0123abcd"})

    sent = route.calls.last.request.headers.raw
    assert [value for name, value in sent if name.lower() == b"idempotency-key"] == [b"0123abcd"]


@respx.mock
def test_an_idempotency_header_without_constraints_takes_any_str_key(client: Any) -> None:
    assert load("constructs31", "resources.bodies")._CANCEL_ORDERS.idempotency_key_annotation is str
    route = respx.delete(f"{URL}/orders").mock(return_value=httpx.Response(204))

    client.bodies.cancel_orders(request_options={"idempotency_key": "any key, any length"})

    assert route.calls.last.request.headers["Idempotency-Key"] == "any key, any length"


@respx.mock
def test_a_json_suffix_body_a_2xx_range_and_a_5xx_range(client: Any) -> None:
    errors = load("constructs31", "errors")
    route = respx.patch(f"{URL}/pets/{PET_ID}")
    route.side_effect = [
        httpx.Response(200, json={"id": PET_ID, "name": "Max"}),
        httpx.Response(500, json={}),
    ]

    pet = client.pet_store.patch_pet(pet_id=UUID(PET_ID), body={"name": "Max", "owner": {}})

    assert pet.name == "Max"
    assert route.calls[0].request.content == b'{"name":"Max","owner":{}}'
    with pytest.raises(errors.ServerError):
        client.pet_store.patch_pet(pet_id=UUID(PET_ID), body={})


@respx.mock
def test_a_discriminator_without_mapping_picks_each_member_by_its_const(client: Any) -> None:
    models = load("constructs31", "models")
    respx.get(f"{URL}/shapes").side_effect = [
        httpx.Response(200, json={"kind": "circle", "radius": 1.5}),
        httpx.Response(200, json={"kind": "square", "side": 2}),
        httpx.Response(200, json={"kind": "hexagon", "sides": 6}),
    ]
    # No tag and no operationId: the resource is the path's first segment, the method derived.
    assert client.shapes.get_shapes() == models.Circle(kind="circle", radius=1.5)
    assert client.shapes.get_shapes() == models.Square(kind="square", side=2)
    unknown = client.shapes.get_shapes()
    assert isinstance(unknown, models.UnknownShape)
    assert unknown.model_extra == {"sides": 6}


@respx.mock
def test_self_and_mutual_recursion_and_a_recursive_alias(client: Any) -> None:
    models = load("constructs31", "models")
    respx.get(f"{URL}/nodes/1").mock(
        return_value=httpx.Response(
            200,
            json={
                "node": {"id": 1, "children": [{"id": 2, "children": []}]},
                "a": {"b": {"a": {}}},
                "tree": {"x": [{"y": []}]},
            },
        )
    )
    answer = client.graph.get_node(id=1)
    assert answer.node == models.Node(id=1, children=[models.Node(id=2, children=[])])
    assert answer.a == models.A(b=models.B(a=models.A()))
    assert answer.tree == {"x": [{"y": []}]}


@respx.mock
def test_an_any_of_with_null_and_a_map_body_and_a_map_of_inline_objects(client: Any) -> None:
    models = load("constructs31", "models")
    respx.get(f"{URL}/values").side_effect = [
        httpx.Response(200, json="x"),
        httpx.Response(200, json=3),
        httpx.Response(200, content=b"null"),
    ]
    assert [client.graph.get_value() for _ in range(3)] == ["x", 3, None]

    route = respx.put(f"{URL}/counts").mock(
        return_value=httpx.Response(200, json={"x": {"total": 2}})
    )
    assert client.graph.put_counts(body={"a": 1}) == {"x": models.PutCountsResponseValue(total=2)}
    assert route.calls.last.request.content == b'{"a":1}'


@respx.mock
def test_names_that_are_keywords_digits_or_pydantic_attributes(client: Any) -> None:
    models = load("constructs31", "models")
    sent = {"from": "a", "schema": "s", "json": 1, "2fa": True, "my-field": "m", "_private": "p"}
    route = respx.post(f"{URL}/odd-names").mock(
        return_value=httpx.Response(200, json={**sent, "color": "blue"})
    )

    echoed = client.class_.post_odd_names(body=sent)

    assert echoed == models.Class(
        from_="a", schema_="s", json_=1, field_2fa=True, my_field="m", private="p", color="blue"
    )
    assert route.calls.last.request.content == (
        b'{"from":"a","schema":"s","json":1,"2fa":true,"my-field":"m","_private":"p"}'
    )


@respx.mock
def test_camel_pascal_and_underscored_properties_get_snake_case_attributes(client: Any) -> None:
    models = load("constructs31", "models")
    wire = {
        "totalLines": 3,
        "HTTPStatus": 200,
        "_meta": "m",
        "fooBar": "a",
        "foo_bar": "b",
        "pet": {"petKind": "cat", "livesLeft": 9},
    }
    sent = (
        b'{"totalLines":3,"HTTPStatus":200,"_meta":"m","fooBar":"a","foo_bar":"b",'
        b'"pet":{"petKind":"cat","livesLeft":9}}'
    )
    route = respx.post(f"{URL}/casing").mock(return_value=httpx.Response(200, json=wire))
    snake = {
        "total_lines": 3,
        "http_status": 200,
        "meta": "m",
        "foo_bar2": "a",
        "foo_bar": "b",
        "pet": {"pet_kind": "cat", "lives_left": 9},
    }

    echoed = client.casing.post_casing(body=snake)

    # `foo_bar` is already its own name, so `fooBar` takes the next one, whatever the order.
    assert list(models.Casing.model_fields) == [
        "total_lines",
        "http_status",
        "meta",
        "foo_bar2",
        "foo_bar",
        "pet",
    ]
    assert list(models.CasingTypedDict.__annotations__) == list(models.Casing.model_fields)
    assert echoed == models.Casing(
        total_lines=3,
        http_status=200,
        meta="m",
        foo_bar2="a",
        foo_bar="b",
        pet=models.CasedCat(pet_kind="cat", lives_left=9),
    )
    assert echoed.total_lines == 3 and echoed.pet.pet_kind == "cat"
    assert route.calls.last.request.content == sent
    # The wire names are accepted too, in a dict body as in a model's constructor.
    client.casing.post_casing(body=wire)
    assert route.calls.last.request.content == sent
    client.casing.post_casing(body=models.Casing(**wire))
    assert route.calls.last.request.content == sent
    unknown = models.Casing.model_validate({"totalLines": 1, "pet": {"petKind": "bird"}})
    assert unknown.pet == models.UnknownCasedPet(pet_kind="bird")


@respx.mock
def test_a_method_named_list_with_a_list_parameter(client: Any) -> None:
    route = respx.get(f"{URL}/things").mock(return_value=httpx.Response(200, json=3))
    assert client.things.list(ids=[1, 2]) == 3
    assert route.calls.last.request.url.query == b"ids=1&ids=2"


@respx.mock
def test_array_and_object_parameters_in_their_styles(client: Any) -> None:
    route = respx.get(f"{URL}/filters/1,2").mock(return_value=httpx.Response(204))

    client.things.filter(
        ids=[1, 2],
        sizes=["s", "m"],
        colors=["red", "blue"],
        x_point={"x": 1, "y": 2},
        x_size={"w": 3},
    )

    request = route.calls.last.request
    assert request.url.params.multi_items() == [("sizes", "s,m"), ("colors", "red|blue")]
    assert request.headers["x-point"] == "x,1,y,2"
    assert request.headers["x-size"] == "w=3"


@respx.mock
def test_openapi_3_0_nullable_and_an_all_of_reference(
    out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = load("constructs30")
    models = load("constructs30", "models")
    route = respx.get("https://api.example.test/owners/1").mock(
        return_value=httpx.Response(
            200, json={"name": None, "kind": None, "best_pet": None, "pets": [{"name": "Rex"}]}
        )
    )
    # The spec declares no security scheme: the client takes no key, reads none from the
    # environment, and sends no Authorization header.
    monkeypatch.delenv("CONSTRUCTS30_API_KEY", raising=False)
    with package.Constructs() as client:
        owner = client.owners.get_owner(id=1)
    assert owner == models.Owner(name=None, kind=None, best_pet=None, pets=[models.Pet(name="Rex")])
    assert "authorization" not in route.calls.last.request.headers


def test_a_spec_without_security_schemes_asks_for_no_key_and_says_so(out_dir: Path) -> None:
    package = load("constructs30")
    with pytest.raises(TypeError, match="api_key"):
        package.Constructs(api_key="k")
    assert "takes no credentials" in (package.Constructs.__doc__ or "")
    usage = (out_dir / "30/USAGE.md").read_text()
    assert "The API takes no credentials" in usage
    assert "api_key=" not in usage
    # A spec with a scheme keeps the key, from the argument or the environment.
    assert 'api_key="...",  # or set CONSTRUCTS31_API_KEY' in (out_dir / "31/USAGE.md").read_text()


def multipart_boundary(request: httpx.Request) -> str:
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    return content_type.removeprefix("multipart/form-data; boundary=")


@respx.mock
def test_a_multipart_body_sends_files_and_fields_in_parts(client: Any) -> None:
    models = load("constructs31", "models")
    route = respx.post(f"{URL}/uploads").mock(return_value=httpx.Response(201, json={"stored": 2}))

    stored = client.bodies.upload(
        body={
            "file": ("a.txt", b"hi\xff", "text/plain"),
            "extras": [b"x", ("b.bin", b"y")],
            "title": "T",
            "tags": ["a", "b"],
            "meta": {"size": 2},
            "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        }
    )

    assert stored == models.UploadResponse(stored=2)
    request = route.calls.last.request
    boundary = multipart_boundary(request)

    def part(headers: str, data: bytes) -> bytes:
        return f"--{boundary}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n"

    def field(name: str) -> str:
        return f'Content-Disposition: form-data; name="{name}"'

    octets = "Content-Type: application/octet-stream"
    assert request.content == b"".join(
        [
            part(f'{field("file")}; filename="a.txt"\r\nContent-Type: text/plain', b"hi\xff"),
            part(f'{field("extras")}; filename="extras"\r\n{octets}', b"x"),
            part(f'{field("extras")}; filename="b.bin"\r\n{octets}', b"y"),
            part(field("title"), b"T"),
            part(field("tags"), b"a"),
            part(field("tags"), b"b"),
            part(f"{field('meta')}\r\nContent-Type: application/json", b'{"size":2}'),
            part(field("when"), b"2024-01-02T03:04:05Z"),
            f"--{boundary}--\r\n".encode(),
        ]
    )
    # A model works as well as a dict; the boundary differs per request.
    client.bodies.upload(body=models.UploadRequest(file=b"z"))
    assert multipart_boundary(route.calls.last.request) != boundary


def test_a_multipart_body_is_checked_before_sending(client: Any) -> None:
    errors = load("constructs31", "errors")
    with pytest.raises(errors.InvalidRequestError, match=r"body\.file"):
        client.bodies.upload(body={"title": "no file"})


@respx.mock
def test_a_form_body_is_url_encoded(client: Any) -> None:
    route = respx.post(f"{URL}/forms").mock(return_value=httpx.Response(204))

    assert (
        client.bodies.submit_form(body={"name": "a b&c", "agree": True, "tags": ["x", "y"]}) is None
    )

    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.content == b"name=a+b%26c&agree=true&tags=x&tags=y"


@respx.mock
def test_a_raw_body_is_sent_as_it_is_or_streamed_and_an_optional_body_may_be_left_out(
    client: Any,
) -> None:
    models = load("constructs31", "models")
    route = respx.put(f"{URL}/blobs/b1")
    route.side_effect = [
        httpx.Response(200, json={"size": 3}),
        httpx.Response(200, json={"size": 6}),
        httpx.Response(204),
    ]

    assert client.bodies.put_blob(name="b1", body=b"abc") == models.PutBlobResponse200(size=3)
    assert client.bodies.put_blob(name="b1", body=iter([b"abc", b"def"])) == (
        models.PutBlobResponse200(size=6)
    )
    # 200 with JSON or 204 without a body: the method returns the model or None.
    assert client.bodies.put_blob(name="b1") is None

    sent, streamed, empty = (call.request for call in route.calls)
    assert (sent.content, sent.headers["content-type"]) == (b"abc", "application/octet-stream")
    assert streamed.read() == b"abcdef"
    assert streamed.headers["transfer-encoding"] == "chunked"
    assert (empty.content, "content-type" in empty.headers) == (b"", False)


@respx.mock
def test_a_streamed_body_is_not_retried(client: Any) -> None:
    errors = load("constructs31", "errors")
    route = respx.put(f"{URL}/blobs/b1").mock(return_value=httpx.Response(503, json={}))
    with pytest.raises(errors.ServerError):
        client.bodies.put_blob(
            name="b1",
            body=iter([b"abc"]),
            request_options={
                "retries": {"strategy": "backoff", "backoff": {"max_elapsed_time": 60_000}}
            },
        )
    assert route.call_count == 1


async def test_a_raw_body_streams_from_an_async_call_too(client: Any, respx_mocker: str) -> None:
    with respx.mock(using=respx_mocker) as router:
        route = router.put(f"{URL}/blobs/b1").mock(
            return_value=httpx.Response(200, json={"size": 2})
        )
        result = await client.bodies.put_blob_async(name="b1", body=[b"a", b"b"])
        assert result.size == 2
        assert await route.calls.last.request.aread() == b"ab"
        await client.bodies.put_blob_async(name="b1", body=io.BytesIO(b"file"))
        assert await route.calls.last.request.aread() == b"file"


@respx.mock
def test_a_raw_body_may_be_a_binary_file_but_not_anything_else(client: Any) -> None:
    errors = load("constructs31", "errors")
    route = respx.put(f"{URL}/blobs/b1").mock(return_value=httpx.Response(204))
    client.bodies.put_blob(name="b1", body=io.BytesIO(b"file"))
    assert route.calls.last.request.read() == b"file"
    with pytest.raises(errors.InvalidRequestError) as caught:
        client.bodies.put_blob(name="b1", body={"not": "bytes"})
    assert str(caught.value) == (
        "bodies.put_blob: body: expected bytes, str, an iterable of bytes or a file, got dict"
    )
    assert route.call_count == 1


@respx.mock
def test_a_json_body_goes_with_the_specs_own_content_type(client: Any) -> None:
    route = respx.post(f"{URL}/notes").mock(return_value=httpx.Response(204))
    client.bodies.add_note(body={"text": "hi"})
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/vnd.notes+json; charset=utf-8"
    assert request.content == b'{"text":"hi"}'

    patched = respx.patch(f"{URL}/pets/{PET_ID}").mock(
        return_value=httpx.Response(200, json={"id": PET_ID, "name": "Max"})
    )
    client.pet_store.patch_pet(pet_id=UUID(PET_ID), body={"name": "Max"})
    assert patched.calls.last.request.headers["content-type"] == "application/merge-patch+json"


@respx.mock
def test_path_styles_deep_objects_exploded_objects_cookies_and_typed_headers(
    client: Any,
) -> None:
    route = respx.get(f"{URL}/styles/.a,b%2Fc/;matrix=w,1,h,2/;exploded=1;exploded=2").mock(
        return_value=httpx.Response(204)
    )

    client.styles.styled(
        label=["a", "b/c"],
        matrix={"w": 1, "h": 2},
        exploded=[1, 2],
        session="s 1;",
        theme="dark",
        filter={"color": "red", "size": 3},
        point={"x": 1, "y": 2},
        x_count=5,
        x_flag=False,
        x_since=datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        x_tags=["a", "b"],
    )

    request = route.calls.last.request
    assert request.url.params.multi_items() == [
        ("filter[color]", "red"),
        ("filter[size]", "3"),
        ("x", "1"),
        ("y", "2"),
    ]
    assert request.headers["cookie"] == "session=s%201%3B; theme=dark"
    assert request.headers["x-count"] == "5"
    assert request.headers["x-flag"] == "false"
    assert request.headers["x-since"] == "2024-01-02T03:04:05Z"
    assert request.headers["x-tags"] == "a,b"


@respx.mock
def test_head_and_options_operations(client: Any) -> None:
    path = f"{URL}/styles/.a/;matrix=k,v/;exploded=1"
    head = respx.head(path).mock(return_value=httpx.Response(200, headers={"x-count": "7"}))
    options = respx.options(path).mock(return_value=httpx.Response(200, json=["GET", "HEAD"]))
    args = {"label": ["a"], "matrix": {"k": "v"}, "exploded": [1]}

    # The HEAD answer declares headers: the method returns them.
    assert client.styles.check_styled(**args)["X-Count"] == "7"
    assert client.styles.styled_options(**args) == ["GET", "HEAD"]
    assert head.call_count == options.call_count == 1


async def test_raw_response_of_a_head_and_of_an_empty_deprecated_answer(
    client: Any, respx_mocker: str
) -> None:
    path = f"{URL}/styles/.a/;matrix=k,v/;exploded=1"
    args = {"label": ["a"], "matrix": {"k": "v"}, "exploded": [1]}
    raw = client.styles.with_raw_response
    with respx.mock(using=respx_mocker) as router:
        router.head(path).mock(return_value=httpx.Response(200, headers={"x-count": "7"}))
        router.delete(f"{URL}/pets/{PET_ID}").mock(return_value=httpx.Response(204))

        # The raw twin of a HEAD parses to its headers; of a 204, to None, warning as the
        # method does.
        assert raw.check_styled(**args).parse()["X-Count"] == "7"
        assert (await raw.check_styled_async(**args)).parse()["X-Count"] == "7"
        with pytest.warns(DeprecationWarning, match="delete_pet is deprecated"):
            deleted = client.pet_store.with_raw_response.delete_pet(pet_id=UUID(PET_ID))
        assert (deleted.status_code, deleted.parse()) == (204, None)
        with pytest.warns(DeprecationWarning, match="delete_pet is deprecated"):
            deleted = await client.pet_store.with_raw_response.delete_pet_async(pet_id=UUID(PET_ID))
        assert (deleted.status_code, deleted.parse()) == (204, None)


KEY = "constructs-key-0123456789"
PASSWORD = "constructs-password-0123"
BASIC = "Basic " + base64.b64encode(f"ann:{PASSWORD}".encode()).decode()


@pytest.fixture
def keyed(out_dir: Path) -> Iterator[Any]:
    """A client holding an API key only."""
    with load("constructs31").Constructs(api_key=KEY) as client:
        yield client


@pytest.fixture
def with_basic(out_dir: Path) -> Iterator[Any]:
    """A client holding a username and password only."""
    with load("constructs31").Constructs(username="ann", password=PASSWORD) as client:
        yield client


def credentials_sent(request: httpx.Request) -> dict[str, object]:
    """Every place a credential may travel in, as the server got it."""
    return {
        "authorization": request.headers.get("authorization"),
        "x-api-key": request.headers.get("x-api-key"),
        "cookie": request.headers.get("cookie"),
        "query": request.url.params.multi_items(),
    }


@respx.mock
def test_each_security_scheme_sends_the_credential_where_the_spec_says(keyed: Any) -> None:
    nothing = {"authorization": None, "x-api-key": None, "cookie": None, "query": []}
    pets = respx.get(f"{URL}/pets").mock(return_value=httpx.Response(200, json=[]))
    route = respx.route(host="api.example.test").mock(return_value=httpx.Response(204))

    keyed.pet_store.list_pets(limit=1)  # the spec's top-level bearer scheme
    assert credentials_sent(pets.calls.last.request) == {
        **nothing,
        "authorization": f"Bearer {KEY}",
        "query": [("limit", "1")],
    }
    keyed.auth.key_in_header()
    assert credentials_sent(route.calls.last.request) == {**nothing, "x-api-key": KEY}
    keyed.auth.key_in_query(q="a b")
    assert credentials_sent(route.calls.last.request) == {
        **nothing,
        "query": [("q", "a b"), ("api_key", KEY)],
    }
    keyed.auth.key_in_cookie(theme="dark")
    assert credentials_sent(route.calls.last.request) == {
        **nothing,
        "cookie": f"theme=dark; session_key={KEY}",
    }
    # `security: []` sends nothing; `[{}, {keyHeader: []}]` sends the key the client holds.
    keyed.auth.no_auth()
    assert credentials_sent(route.calls.last.request) == nothing
    keyed.auth.optional()
    assert credentials_sent(route.calls.last.request) == {**nothing, "x-api-key": KEY}
    # Of [digest (unsupported), basic, keyHeader + keyQuery], a key-only client sends both keys.
    keyed.auth.either()
    assert credentials_sent(route.calls.last.request) == {
        **nothing,
        "x-api-key": KEY,
        "query": [("api_key", KEY)],
    }


@respx.mock
def test_http_basic_sends_the_username_and_password(with_basic: Any) -> None:
    route = respx.route(host="api.example.test").mock(return_value=httpx.Response(204))
    nothing = {"authorization": None, "x-api-key": None, "cookie": None, "query": []}

    with_basic.auth.basic_only()
    assert credentials_sent(route.calls.last.request) == {**nothing, "authorization": BASIC}
    with_basic.auth.either()
    assert credentials_sent(route.calls.last.request) == {**nothing, "authorization": BASIC}
    with_basic.auth.optional()  # the key is optional, and this client has none
    assert credentials_sent(route.calls.last.request) == nothing


@respx.mock
def test_a_call_whose_schemes_the_client_holds_no_credentials_for_is_not_sent(
    keyed: Any, with_basic: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = load("constructs31", "errors")
    route = respx.route(host="api.example.test").mock(return_value=httpx.Response(204))

    with pytest.raises(errors.MissingCredentialError) as caught:
        keyed.auth.basic_only()
    assert str(caught.value) == (
        "auth.basic_only needs credentials the client lacks: "
        "pass Constructs(username=..., password=...)"
    )
    with pytest.raises(errors.MissingCredentialError) as caught:
        with_basic.pet_store.list_pets()
    assert str(caught.value) == (
        "pet_store.list_pets needs credentials the client lacks: pass Constructs(api_key=...)"
    )
    assert route.call_count == 0

    monkeypatch.delenv("CONSTRUCTS31_API_KEY", raising=False)
    with pytest.raises(errors.MissingCredentialError) as caught:
        load("constructs31").Constructs()
    assert str(caught.value) == (
        "No credentials: pass Constructs(api_key=...) or set the CONSTRUCTS31_API_KEY "
        "environment variable, or pass Constructs(username=..., password=...)."
    )
    with pytest.raises(errors.MissingCredentialError, match="username and password go together"):
        load("constructs31").Constructs(api_key=KEY, username="ann")


@respx.mock
def test_no_credential_shows_in_a_repr_a_log_line_or_an_error(
    out_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    errors = load("constructs31", "errors")
    # The server echoes every credential back in its error.
    respx.route(host="api.example.test").mock(
        side_effect=lambda request: httpx.Response(
            401,
            json={"error": {"code": "NO", "message": f"bad {request.url} {dict(request.headers)}"}},
        )
    )
    texts = []
    with (
        caplog.at_level(logging.DEBUG, logger="mesa_sdk"),
        load("constructs31").Constructs(api_key=KEY, username="ann", password=PASSWORD) as client,
    ):
        texts.append(repr(client._core.settings))
        for call in (client.auth.key_in_query, client.auth.key_in_cookie, client.auth.basic_only):
            with pytest.raises(errors.ClientError) as caught:
                call()
            texts += [str(caught.value), repr(caught.value), caught.value.body]
    texts += [record.getMessage() for record in caplog.records]
    # The echoes are there, each credential in them redacted.
    for shown in ("api_key=[redacted]", "'cookie': '[redacted]'", "'Basic [redacted]'"):
        assert any(shown in text for text in texts), shown
    for secret in (KEY, PASSWORD, BASIC.removeprefix("Basic ")):
        assert not [text for text in texts if secret in text]


@respx.mock
def test_a_403_names_the_scopes_the_operation_needs(keyed: Any) -> None:
    errors = load("constructs31", "errors")
    route = respx.post(f"{URL}/auth/scoped")
    route.side_effect = [
        httpx.Response(403, json={"error": {"code": "FORBIDDEN", "message": "Not allowed."}}),
        # A server that names the scope itself is not repeated.
        httpx.Response(403, json={"error": {"message": "The token lacks pets:write, pets:read."}}),
    ]
    with pytest.raises(errors.ForbiddenError) as caught:
        keyed.auth.scoped()
    assert caught.value.message == "Not allowed. (this call needs the scopes pets:write, pets:read)"
    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
    with pytest.raises(errors.ForbiddenError) as caught:
        keyed.auth.scoped()
    assert caught.value.message == "The token lacks pets:write, pets:read."


@respx.mock
def test_parameters_described_by_json_content_are_sent_as_json_text(client: Any) -> None:
    route = respx.get(f"{URL}/content-params/%5B%22a%2Fb%22%2C%22c%22%5D").mock(
        return_value=httpx.Response(204)
    )

    client.styles.content_params(
        where=["a/b", "c"], filter={"color": "red", "size": 3}, x_meta={"n": 1}, prefs="dark"
    )

    request = route.calls.last.request
    assert request.url.params.multi_items() == [("filter", '{"color":"red","size":3}')]
    assert request.headers["x-meta"] == '{"n":1}'
    assert request.headers["cookie"] == "prefs=%22dark%22"


@respx.mock
def test_a_trace_operation(keyed: Any) -> None:
    echoed = b"TRACE /v1/auth/none HTTP/1.1\r\nHost: api.example.test\r\n\r\n"
    route = respx.route(method="TRACE", url=f"{URL}/auth/none").mock(
        return_value=httpx.Response(200, content=echoed, headers={"content-type": "message/http"})
    )
    assert keyed.auth.trace_no_auth_raw() == echoed
    request = route.calls.last.request
    assert (request.method, request.headers["accept"]) == ("TRACE", "message/http")
    assert credentials_sent(request)["authorization"] is None


@respx.mock
def test_a_spec_with_only_http_basic_takes_a_username_and_password_and_no_key(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "basic.yaml"
    spec.write_text(
        """openapi: 3.0.3
info: {title: Basic, version: "1"}
servers: [{url: "https://basic.example.test"}]
security: [{basic: []}]
paths:
  /me:
    get:
      operationId: me
      responses: {"204": {description: ok}}
components:
  securitySchemes:
    basic: {type: http, scheme: basic}
"""
    )
    generate(spec, tmp_path / "out", "basiconly", "Basic")
    with importable([tmp_path / "out"], {"basiconly"}):
        package = importlib.import_module("basiconly")
        with pytest.raises(TypeError, match="api_key"):
            package.Basic(api_key=KEY)
        with pytest.raises(package.errors.MissingCredentialError) as caught:
            package.Basic()
        assert str(caught.value) == "No credentials: pass Basic(username=..., password=...)."
        route = respx.get("https://basic.example.test/me").mock(return_value=httpx.Response(204))
        with package.Basic(username="ann", password=PASSWORD) as client:
            client.me.me()
        assert route.calls.last.request.headers["authorization"] == BASIC
