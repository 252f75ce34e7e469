"""`python -m mesa_codegen [--check]`: generate the SDK, or check its committed output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .builder import build_sdk
from .render import is_generated, render
from .settings import SettingsError, load_settings
from .spec import SpecError, load_spec


def generated_roots(module: str) -> list[str]:
    """Folders whose generated files are all ours: a generated file not rendered now is stale."""
    return [f"src/{module}/models", f"src/{module}/resources", "docs/sdks", "docs/models"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mesa_codegen", description=__doc__)
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
        print(f"mesa_codegen: {exc}", file=sys.stderr)
        return 2

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
