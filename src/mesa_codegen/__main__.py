"""`python -m mesa_codegen [--check]`: generate the SDK, or check its committed output.

`python -m mesa_codegen generate --spec FILE --out DIR --package NAME --client-class NAME`
generates a package from any OpenAPI 3.0 or 3.1 document, with settings derived from it.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .builder import build_sdk
from .names import python_identifier
from .problems import SpecError
from .render import is_generated, render
from .settings import SettingsError, default_settings, load_settings
from .spec import load_spec

USAGE_ERROR = 2


def _version() -> str:
    """The version of the distribution the generator ships in."""
    try:
        return version("mesa-sdk")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


def generated_roots(module: str) -> list[str]:
    """Folders whose generated files are all ours: a generated file not rendered now is stale."""
    return [f"src/{module}/models", f"src/{module}/resources", "docs/sdks", "docs/models"]


def generate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mesa_codegen generate",
        description="Generate a typed client package from an OpenAPI 3.0 or 3.1 document.",
    )
    parser.add_argument("--spec", type=Path, required=True, help="the OpenAPI document")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write to")
    parser.add_argument("--package", required=True, help="the package's import name")
    parser.add_argument("--client-class", required=True, help="the client class's name")
    parser.add_argument(
        "--skip-unsupported",
        action="store_true",
        help="leave out (and list) operations the runtime cannot send yet, instead of stopping",
    )
    args = parser.parse_args(argv)
    if python_identifier(args.package) != args.package or not args.package.islower():
        print(
            f"mesa_codegen: --package: {args.package!r} is no lower-case module name",
            file=sys.stderr,
        )
        return USAGE_ERROR
    try:
        spec = load_spec(args.spec, strict=False)
        for line in spec.warnings:
            print(f"mesa_codegen: warning: {line}", file=sys.stderr)
        settings = default_settings(
            spec.document,
            module=args.package,
            client_class=args.client_class,
            spec=args.spec.name,
        )
        sdk = build_sdk(spec, settings, skip_unsupported=args.skip_unsupported)
        files = render(
            sdk,
            package_dir=args.package,
            sources=args.spec.name,
            how_to=f"Change {args.spec.name}, then run `python -m mesa_codegen generate` again.",
        )
    except (SettingsError, SpecError) as exc:
        for line in str(exc).splitlines():
            print(f"mesa_codegen: {line}", file=sys.stderr)
        return USAGE_ERROR
    except Exception as exc:  # one line, never a traceback, whatever the spec holds
        print(f"mesa_codegen: cannot generate from {args.spec}: {exc!r}", file=sys.stderr)
        return USAGE_ERROR
    for line in sdk.skipped:
        print(f"mesa_codegen: skipped {line}", file=sys.stderr)
    files[f"{args.package}/py.typed"] = ""
    for path, text in sorted(files.items()):
        target = args.out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    print(f"mesa_codegen: wrote {len(files)} files to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["generate"]:
        return generate(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m mesa_codegen", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mesa_codegen {_version()}")
    parser.add_argument("--config", type=Path, default=Path("gen.yaml"), help="gen.yaml to read")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="project root to write to (default: the config's folder)",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; fail if the committed output is stale"
    )
    args = parser.parse_args(argv)

    try:
        settings = load_settings(args.config)
        spec = load_spec(args.config.parent / settings.spec)
        files = render(build_sdk(spec, settings))
    except (SettingsError, SpecError) as exc:
        for line in str(exc).splitlines():
            print(f"mesa_codegen: {line}", file=sys.stderr)
        return USAGE_ERROR

    root = args.output or args.config.parent
    stale = [
        path.relative_to(root).as_posix()
        for folder in generated_roots(settings.package.module)
        if (root / folder).is_dir()
        for path in sorted((root / folder).rglob("*"))
        if path.is_file() and path.relative_to(root).as_posix() not in files and is_generated(path)
    ]

    if args.check:
        changed = [
            path
            for path, text in sorted(files.items())
            if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text
        ]
        if changed or stale:
            for path in changed:
                print(f"out of date: {path}", file=sys.stderr)
            for path in stale:
                print(f"no longer generated: {path}", file=sys.stderr)
            print(
                f"mesa_codegen: {len(changed) + len(stale)} generated files are stale;"
                " run `make generate` and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"mesa_codegen: {len(files)} generated files are up to date")
        return 0

    written = 0
    for path, text in sorted(files.items()):
        target = root / path
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written += 1
    for path in stale:
        (root / path).unlink()
    print(f"mesa_codegen: wrote {written} files, removed {len(stale)}, {len(files)} in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
