"""The part of ``lua/lib.lua`` one script needs, put in front of it.

Every call of a script runs its whole body, and each ``local function`` of the library is a
closure Lua allocates anew on every call (about as costly as a ``redis.call`` for a handful of
them). So each script carries only the library definitions it refers to, directly or through
other definitions, in the library's order; the rest of the library is left out.

A definition is a top-level ``local function name`` or ``local name[, name] =`` of the library,
running until the next one. References are whole-word matches of the defined names in the code
with its comments removed.
"""

from __future__ import annotations

import re

_DEFINITION = re.compile(r"^local (?:function )?([A-Za-z_][\w ,]*?)\s*(?:=|\()", re.MULTILINE)
_BLOCK_COMMENT = re.compile(r"--\[(=*)\[.*?\]\1\]", re.DOTALL)
_LINE_COMMENT = re.compile(r"--[^\n]*")
_WORD = re.compile(r"[A-Za-z_]\w*")


def _words(code: str) -> set[str]:
    """The identifiers ``code`` mentions outside its comments."""
    return set(_WORD.findall(_LINE_COMMENT.sub("", _BLOCK_COMMENT.sub("", code))))


def _definitions(library: str) -> tuple[str, list[tuple[frozenset[str], str]]]:
    """The library's preamble (text before its first definition) and its definitions in order.

    Each definition is ``(names it defines, its text)``.
    """
    starts = list(_DEFINITION.finditer(library))
    if not starts:
        return library, []
    blocks = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(library)
        names = frozenset(name.strip() for name in match.group(1).split(","))
        blocks.append((names, library[match.start() : end]))
    return library[: starts[0].start()], blocks


def with_library(library: str, script: str) -> str:
    """``script`` preceded by the definitions of ``library`` it needs, in the library's order."""
    preamble, blocks = _definitions(library)
    wanted = _words(script)
    chosen: set[int] = set()
    changed = True
    while changed:
        changed = False
        for index, (names, text) in enumerate(blocks):
            if index not in chosen and names & wanted:
                chosen.add(index)
                wanted |= _words(text)
                changed = True
    kept = "".join(text for index, (_, text) in enumerate(blocks) if index in chosen)
    return f"{preamble}{kept}\n{script}"
