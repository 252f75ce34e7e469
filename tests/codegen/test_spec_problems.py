"""A spec the generator cannot serve stops it with exit code 2 and one line per problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mesa_codegen.__main__ import main

HEAD = """openapi: 3.1.0
info: {title: T, version: "1"}
servers: [{url: "https://api.example.test"}]
"""


Generate = Callable[..., tuple[int, list[str]]]
"""Writes a spec, generates from it; gives the exit code and the lines on stderr."""


@pytest.fixture
def generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Generate:
    def run(text: str, *extra: str) -> tuple[int, list[str]]:
        spec = tmp_path / "spec.yaml"
        spec.write_text(text)
        args = ["generate", "--spec", str(spec), "--out", str(tmp_path / "out")]
        code = main([*args, "--package", "pkg", "--client-class", "Client", *extra])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return code, err.splitlines()

    return run


def test_each_unsupported_construct_is_named_at_its_location(generate: Generate) -> None:
    code, lines = generate(
        HEAD
        + """paths:
  /pets/{id}:
    get:
      operationId: getPet
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: filter, in: query, content: {application/xml: {schema: {type: object}}}}
        - {name: X-Tags, in: header, style: form, schema: {type: array, items: {type: string}}}
      responses:
        "200": {description: ok}
  /other:
    delete:
      operationId: deletePet
      security: [{digest: []}]
      responses:
        "204": {description: gone}
    put:
      operationId: putPet
      security: [{nobody: []}]
      responses:
        "204": {description: done}
components:
  securitySchemes:
    digest: {type: http, scheme: digest}
"""
    )
    assert code == 2
    # The OpenAPI schema check warns about the style too; the generator's line names it.
    assert lines[0].startswith("mesa_codegen: warning: ")
    assert lines[1:] == [
        "mesa_codegen: paths./pets/{id}.get: parameters.1 (query filter): a parameter's"
        " `content` must be JSON to be sent, not application/xml",
        "mesa_codegen: paths./pets/{id}.get: parameters.2 (header X-Tags): style form is not"
        " allowed in the header",
        "mesa_codegen: paths./other.put: security.0: nobody is not in components.securitySchemes",
        "mesa_codegen: paths./other.delete: security: the security scheme digest"
        " (http digest) is not supported",
    ]


def test_skip_unsupported_generates_the_rest_and_lists_what_it_left_out(
    generate: Generate, tmp_path: Path
) -> None:
    code, lines = generate(
        HEAD
        + """paths:
  /a:
    get:
      operationId: getA
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: integer}}}}
    post:
      operationId: postA
      security: [{digest: []}]
      responses:
        "200": {description: ok}
components:
  securitySchemes:
    digest: {type: http, scheme: digest}
""",
        "--skip-unsupported",
    )
    assert code == 0
    assert lines == [
        "mesa_codegen: skipped paths./a.post: security: the security scheme digest (http digest)"
        " is not supported"
    ]
    resource = (tmp_path / "out/pkg/resources/a.py").read_text()
    assert "def get_a(" in resource
    assert "post_a" not in resource


def test_a_reference_to_nothing_names_the_reference(generate: Generate) -> None:
    code, lines = generate(
        HEAD
        + """paths:
  /a:
    get:
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: "#/components/schemas/Missing"}}}
"""
    )
    assert code == 2
    assert any(
        "#/components/schemas/Missing" in line and "points to nothing" in line for line in lines
    ), lines


def test_an_unreadable_or_non_openapi_3_document_is_one_line(generate: Generate) -> None:
    code, lines = generate("swagger: '2.0'\ninfo: {title: T, version: '1'}\npaths: {}\n")
    assert code == 2
    assert len(lines) == 1
    assert "openapi: expected 3.0.x or 3.1.x" in lines[0]

    code, lines = generate("openapi: [unclosed\n")
    assert code == 2
    assert len(lines) == 1


def test_a_schema_name_and_a_tag_that_are_not_identifiers_generate(
    generate: Generate, tmp_path: Path
) -> None:
    code, lines = generate(
        HEAD
        + """tags: [{name: "my tag!"}]
paths:
  /x:
    get:
      tags: ["my tag!"]
      operationId: "get-x"
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: "#/components/schemas/x.y-z"}}}
components:
  schemas:
    "x.y-z": {type: object, properties: {"a b": {type: string}}}
"""
    )
    assert code == 0, lines
    assert "class XYZ(ResponseModel)" in (tmp_path / "out/pkg/models/xyz.py").read_text()
    assert "class MyTag(BaseResource)" in (tmp_path / "out/pkg/resources/my_tag.py").read_text()


def test_a_default_of_another_type_is_not_used_as_the_docs_example(
    generate: Generate, tmp_path: Path
) -> None:
    code, lines = generate(
        HEAD
        + """paths:
  /a:
    get:
      operationId: getA
      parameters:
        - {name: code, in: query, required: true, schema: {type: string, default: 1}}
      responses:
        "204": {description: ok}
"""
    )
    assert code == 0, lines
    readme = (tmp_path / "out/docs/sdks/a/README.md").read_text()
    assert 'client.a.get_a(\n    code="string",\n)' in readme


def test_a_bad_status_an_optional_path_parameter_and_a_bad_uuid_default_are_named(
    generate: Generate,
) -> None:
    code, lines = generate(
        HEAD
        + """paths:
  /a/{id}:
    get:
      operationId: getA
      parameters:
        - {name: id, in: path, schema: {type: string}}
        - {name: since, in: query, schema: {type: string, format: uuid, default: notauuid}}
      responses:
        "200": {description: ok}
    put:
      operationId: putA
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        "ok": {description: ok}
""",
    )
    assert code == 2
    assert [line for line in lines if "warning" not in line] == [
        "mesa_codegen: paths./a/{id}.get: parameters.0 (path id): a path parameter must be"
        " `required: true`",
        "mesa_codegen: paths./a/{id}.get: parameters.1 (query since): the default 'notauuid'"
        " is not a uuid",
        "mesa_codegen: paths./a/{id}.put: responses.ok: not a status code, a range such as 4XX,"
        " or default",
    ]
