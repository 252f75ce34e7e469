"""The paths and special files git refuses, by git's own rules, so that no tree the emulator
writes fails ``git fsck --strict`` or harms a clone.

The rules are git's (read from its source; the names below are its functions):

* ``verify_path`` (read-cache.c): no empty, ``.`` or ``..`` segment, and no segment that is
  ``.git`` on any file system git protects: ``is_ntfs_dotgit`` (path.c: ``.git`` or ``git~1``,
  any case, followed only by spaces and dots, or by ``:`` and an NTFS stream name) and
  ``is_hfs_dotgit`` (utf8.c: ``.git`` with the code points HFS+ ignores, such as U+200C ZERO
  WIDTH NON-JOINER, anywhere in it).  fsck checks both whatever the platform; so do we.
* fsck.c's tree checks: a ``.gitmodules`` or ``.gitattributes`` (in any of their NTFS and
  HFS+ spellings) must be a file, not a folder;
* fsck.c's blob checks: a ``.gitmodules`` must parse as git config, with no submodule name
  that has a ``..`` component, no ``url`` or ``path`` starting with ``-``, no ``update`` that
  runs a command (``!...``), no ``url`` that decodes to a line break or climbs out of its
  root (``check_submodule_url``); a ``.gitattributes`` has no line of 2048 bytes or more.

git has no limit on a path's length, but ``fsck`` warns about a name of more than 4096 bytes,
no file system checks out a longer path, and git built with Visual C++ refuses trees nested
deeper than 512 levels (``core.maxTreeDepth``).  Hence :data:`MAX_PATH_BYTES` and
:data:`MAX_PATH_SEGMENTS`.  Two rules are stricter than git on Linux: a backslash is refused
(it separates folders on Windows), and a ``.gitmodules`` that does not parse is refused (fsck
only notes it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from mesa_emulator.git.errors import InvalidPath

__all__ = [
    "MAX_PATH_BYTES",
    "MAX_PATH_SEGMENTS",
    "file_content_problem",
    "path_parts",
    "path_problem",
]

MAX_PATH_BYTES = 4096
MAX_PATH_SEGMENTS = 256

# utf8.c next_hfs_char: the code points HFS+ ignores in a name.
_HFS_IGNORED = dict.fromkeys(
    [
        0x200C,
        0x200D,
        0x200E,
        0x200F,
        0x202A,
        0x202B,
        0x202C,
        0x202D,
        0x202E,
        *range(0x206A, 0x2070),
        0xFEFF,
    ]
)
# attr.h ATTR_MAX_LINE_LENGTH.
_MAX_ATTRIBUTES_LINE = 2048


# ---- names that are .git, .gitmodules or .gitattributes somewhere ------------------------


def _only_spaces_and_periods(rest: bytes) -> bool:
    """The tail NTFS ignores: spaces and dots, up to the end or an alternate stream (``:``)."""
    return rest.split(b":", 1)[0].strip(b" .") == b""


def _is_ntfs_dotgit(name: bytes) -> bool:
    lowered = name.lower()
    for prefix in (b".git", b"git~1"):
        if lowered.startswith(prefix):
            return _only_spaces_and_periods(name[len(prefix) :])
    return False


def _is_ntfs_dot(name: bytes, dotname: bytes, short_prefix: bytes) -> bool:
    """path.c is_ntfs_dot_generic: ``.<dotname>``, its 8.3 short name ``<first six>~1..4``,
    or the fall-back short name ``<short_prefix>~N``, each with NTFS's ignored tail."""
    lowered = name.lower()
    if lowered[:1] == b"." and lowered[1 : 1 + len(dotname)] == dotname:
        return _only_spaces_and_periods(name[1 + len(dotname) :])
    if lowered[:6] == dotname[:6] and name[6:7] == b"~" and b"1" <= name[7:8] <= b"4":
        return _only_spaces_and_periods(name[8:])
    saw_tilde = False
    i = 0
    while i < 8:
        if i >= len(name):
            return False
        c = name[i : i + 1]
        if saw_tilde:
            if not c.isdigit():
                return False
        elif c == b"~":
            i += 1
            if not b"1" <= name[i : i + 1] <= b"9":
                return False
            saw_tilde = True
        elif i >= 6 or c[0] & 0x80 or c.lower() != short_prefix[i : i + 1]:
            return False
        i += 1
    return _only_spaces_and_periods(name[8:])


def _is_hfs_dot(name: str, dotname: str) -> bool:
    """utf8.c is_hfs_dot_generic: ``.<dotname>`` once the ignored code points are dropped."""
    visible = name.translate(_HFS_IGNORED)
    return visible.isascii() and visible.lower() == "." + dotname


def _is_dotgit(name: str) -> bool:
    return _is_ntfs_dotgit(name.encode("utf-8")) or _is_hfs_dot(name, "git")


def _is_dotgitmodules(name: str) -> bool:
    raw = name.encode("utf-8")
    return _is_ntfs_dot(raw, b"gitmodules", b"gi7eba") or _is_hfs_dot(name, "gitmodules")


def _is_dotgitattributes(name: str) -> bool:
    raw = name.encode("utf-8")
    return _is_ntfs_dot(raw, b"gitattributes", b"gi7d29") or _is_hfs_dot(name, "gitattributes")


def path_problem(path: str) -> str | None:
    """Why git would refuse ``path`` (a file's path, ``/``-separated), or None."""
    if not path:
        return "is empty"
    if path.startswith("/"):
        return "must be relative (no leading '/')"
    if "\x00" in path:
        return "contains a NUL character"
    if "\\" in path:
        return "contains a backslash (a folder separator on Windows)"
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8 (it holds an unpaired surrogate)"
    if size > MAX_PATH_BYTES:
        return f"is {size} bytes long; the limit is {MAX_PATH_BYTES} bytes"
    parts = path.split("/")
    if len(parts) > MAX_PATH_SEGMENTS:
        return f"has {len(parts)} segments; the limit is {MAX_PATH_SEGMENTS}"
    for depth, part in enumerate(parts, 1):
        if part in ("", ".", ".."):
            return "has an empty, '.' or '..' segment"
        if part.lower() == ".git":
            return "has a '.git' segment"
        if _is_dotgit(part):
            return f"has the segment {part!r}, which Windows or macOS would read as '.git'"
        if depth < len(parts) and (_is_dotgitmodules(part) or _is_dotgitattributes(part)):
            return f"makes {part!r} a folder; git requires it to be a file"
    return None


def path_parts(path: str, *, root_allowed: bool = False) -> list[str]:
    """The segments of ``path``, or :class:`InvalidPath` saying why git would refuse it.
    With ``root_allowed`` (reading), ``""`` is the root: no segments."""
    if not isinstance(path, str):
        raise InvalidPath(repr(path), "path must be a string")
    if root_allowed and not path:
        return []
    problem = path_problem(path)
    if problem is not None:
        raise InvalidPath(path, f"path {path[:200]!r} {problem}")
    return path.split("/")


# ---- what a .gitmodules or .gitattributes may hold --------------------------------------


def file_content_problem(path: str, data: bytes) -> str | None:
    """Why git's fsck would refuse ``data`` as the content of the file at ``path``, or None."""
    name = path.rsplit("/", 1)[-1]
    if _is_dotgitmodules(name):
        return _gitmodules_problem(data)
    if _is_dotgitattributes(name):
        for number, line in enumerate(data.split(b"\n"), 1):
            if len(line) >= _MAX_ATTRIBUTES_LINE:
                return (
                    f"has line {number} of {_MAX_ATTRIBUTES_LINE} bytes or more, which git refuses"
                )
    return None


class _ConfigSyntaxError(Exception):
    pass


def _config_entries(text: str) -> Iterator[tuple[str, str | None]]:
    """(variable, value) of each entry of git config ``text``, as config.c reads it: section
    and key lowercased, ``[section "sub"]`` and ``[section.sub]`` subsections, quoting,
    escapes and continued lines; a bare key has the value None."""
    text = text.replace("\r\n", "\n")
    end = len(text)
    i = 0
    base = ""

    def next_char() -> str:
        nonlocal i
        if i >= end:
            i += 1
            return "\n"  # git reads the end as a line end
        i += 1
        return text[i - 1]

    while i < end:
        c = next_char()
        if c.isspace():
            continue
        if c in "#;":
            while i < end and next_char() != "\n":
                pass
            continue
        if c == "[":
            base = _section(next_char)
            continue
        if not (c.isascii() and c.isalpha()):
            raise _ConfigSyntaxError
        key = c.lower()
        c = next_char()
        while c.isascii() and (c.isalnum() or c == "-"):
            key += c.lower()
            c = next_char()
        while c in " \t":
            c = next_char()
        if c == "\n":
            yield f"{base}.{key}", None
        elif c == "=":
            yield f"{base}.{key}", _value(next_char)
        else:
            raise _ConfigSyntaxError


def _section(next_char: Callable[[], str]) -> str:
    name = ""
    while True:
        c = next_char()
        if c == "]":
            return name
        if c.isspace():
            break
        if not (c.isascii() and (c.isalnum() or c in "-.")):
            raise _ConfigSyntaxError
        name += c.lower()
    while c.isspace():
        if c == "\n":
            raise _ConfigSyntaxError
        c = next_char()
    if c != '"':
        raise _ConfigSyntaxError
    sub = ""
    while (c := next_char()) != '"':
        if c == "\\":
            c = next_char()
        if c == "\n":
            raise _ConfigSyntaxError
        sub += c
    if next_char() != "]":
        raise _ConfigSyntaxError
    return f"{name}.{sub}"


_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "\\": "\\", '"': '"'}


def _value(next_char: Callable[[], str]) -> str:
    out: list[str] = []
    quoted = comment = False
    spaces = 0
    while True:
        c = next_char()
        if c == "\n":
            if quoted:
                raise _ConfigSyntaxError
            return "".join(out)
        if comment:
            continue
        if c.isspace() and not quoted:
            spaces += 1 if out else 0
            continue
        if not quoted and c in "#;":
            comment = True
            continue
        if spaces:
            out.append(" " * spaces)
            spaces = 0
        if c == "\\":
            c = next_char()
            if c == "\n":
                continue  # a continued line
            if c not in _ESCAPES:
                raise _ConfigSyntaxError
            out.append(_ESCAPES[c])
        elif c == '"':
            quoted = not quoted
        else:
            out.append(c)


_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_CURL_URL = re.compile(r"(?:(?:https?|ftps?)::)?((?:https?|ftps?)://.*)", re.DOTALL)
_URL_HOST = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?([^/:]*)")


def _url_decode(url: str) -> str:
    return _PERCENT_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), url)


def _submodule_url_problem(url: str) -> str | None:
    """submodule-config.c check_submodule_url."""
    if url.startswith("-"):
        return "starts with '-' (git would read it as an option)"
    relative = url.startswith(("./", ".\\", "../", "..\\"))
    if relative or url.startswith("git://"):
        if "\n" in _url_decode(url):
            return "holds a line break once %-decoded"
        rest, climbs = url, 0
        while rest.startswith(("./", ".\\", "../", "..\\")):
            climbs += rest.startswith("..")
            rest = rest[3:] if rest.startswith("..") else rest[2:]
        if climbs and rest[:1] in (":", "/"):
            return "climbs out of its root with '../'"
        return None
    curl = _CURL_URL.fullmatch(url)
    if curl is not None:
        host = _URL_HOST.match(curl.group(1))
        if host is None or not host.group(1):
            return "has no host"
        if "\n" in _url_decode(url):
            return "holds a line break once %-decoded"
    return None


def _submodule_name_problem(name: str) -> str | None:
    """submodule-config.c check_submodule_name."""
    if not name:
        return "is empty"
    if ".." in re.split(r"[/\\]", name):
        return "has a '..' component"
    return None


def _gitmodules_problem(data: bytes) -> str | None:
    text = data.decode("utf-8", errors="replace")
    try:
        entries = list(_config_entries(text))
    except _ConfigSyntaxError:
        return "does not parse as git config"
    for variable, value in entries:
        section, _, rest = variable.partition(".")
        name, dot, key = rest.rpartition(".")
        if section != "submodule" or not dot:
            continue
        problem = _submodule_name_problem(name)
        if problem is not None:
            return f"names a submodule {name!r}, which {problem}"
        if value is None:
            continue
        if key == "url":
            problem = _submodule_url_problem(value)
            if problem is not None:
                return f"gives submodule {name!r} the url {value!r}, which {problem}"
        if key == "path" and value.startswith("-"):
            return f"gives submodule {name!r} the path {value!r}, which starts with '-'"
        if key == "update" and value.startswith("!"):
            return f"gives submodule {name!r} 'update = {value}', which runs a command"
    return None
