"""Fitting HTML text into Telegram's limits: 4096 characters a message, 1024 a caption.

Telegram counts the visible text (after entities are parsed) in UTF-16 code units. Long
texts are cut at a paragraph break if possible, else a line break, else a space; only a
single word longer than the limit is cut inside. Tags open at a cut are closed at the
end of one part and reopened at the start of the next, so every part is valid HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

TOKEN = re.compile(r"<[^>]*>|&[#\w]+;|[^<&]+|[<&]")
TAG = re.compile(r"<\s*(/)?\s*([a-zA-Z][\w-]*)[^>]*>")

# Cut preference: after a blank line, after a line break, at a space.
PARAGRAPH, LINE, SPACE = 3, 2, 1


@dataclass(frozen=True)
class _Atom:
    """One visible character (or entity), or a tag (weight 0)."""

    raw: str
    weight: int
    tag: str | None = None  # tag name for tags
    closing: bool = False


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _atoms(text: str) -> list[_Atom]:
    atoms: list[_Atom] = []
    for token in TOKEN.findall(text):
        if token.startswith("<") and len(token) > 1:
            match = TAG.match(token)
            if match:
                atoms.append(_Atom(token, 0, tag=match.group(2).lower(), closing=bool(match.group(1))))
                continue
        if token.startswith("&") and token.endswith(";"):
            atoms.append(_Atom(token, 1))
            continue
        atoms.extend(_Atom(char, utf16_length(char)) for char in token)
    return atoms


def visible_length(text: str) -> int:
    return sum(atom.weight for atom in _atoms(text))


def _open_tags(atoms: list[_Atom]) -> list[tuple[_Atom, ...]]:
    """The tags open before each atom (and after the last), to close and reopen at a cut."""
    open_before: list[tuple[_Atom, ...]] = []
    stack: list[_Atom] = []
    for atom in atoms:
        open_before.append(tuple(stack))
        if atom.tag is None:
            continue
        if not atom.closing:
            stack.append(atom)
            continue
        for depth in range(len(stack) - 1, -1, -1):
            if stack[depth].tag == atom.tag:
                del stack[depth:]
                break
    open_before.append(tuple(stack))
    return open_before


def _segments(atoms: list[_Atom], limit: int) -> list[tuple[int, int, int]]:
    """(start, end of its text, where the next part starts) for each part."""
    segments: list[tuple[int, int, int]] = []
    start = 0
    while True:
        start = _skip_space(atoms, start)
        if start >= len(atoms):
            return segments
        end = _cut(atoms, start, limit)
        segments.append((start, _trim_space(atoms, start, end), end))
        start = end


def _render(atoms: list[_Atom], open_before: list[tuple[_Atom, ...]], start: int, end: int) -> str:
    prefix = "".join(tag.raw for tag in open_before[start])
    suffix = "".join(f"</{tag.tag}>" for tag in reversed(open_before[end]))
    return prefix + "".join(atom.raw for atom in atoms[start:end]) + suffix


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Parts of at most `limit` visible characters each; a text that fits comes back whole."""
    atoms = _atoms(text)
    if sum(atom.weight for atom in atoms) <= limit:
        return [text]
    open_before = _open_tags(atoms)
    parts = [_render(atoms, open_before, start, end) for start, end, _next in _segments(atoms, limit)]
    return [part for part in parts if visible_length(part) > 0]


def _cut(atoms: list[_Atom], start: int, limit: int) -> int:
    """Where the part starting at `start` ends (exclusive), preferring the best boundary."""
    weight = 0
    best: dict[int, int] = {}
    index = start
    while index < len(atoms):
        atom = atoms[index]
        if weight + atom.weight > limit:
            break
        weight += atom.weight
        if atom.raw == "\n":
            kind = PARAGRAPH if index > start and atoms[index - 1].raw == "\n" else LINE
            best[kind] = index + 1
        elif atom.raw in (" ", "\t"):
            best[SPACE] = index + 1
        index += 1
    else:
        return len(atoms)
    # The atom that did not fit may itself be the boundary (a text exactly at the limit).
    stop = atoms[index].raw
    if stop == "\n":
        paragraph = index + 1 < len(atoms) and atoms[index + 1].raw == "\n"
        best[PARAGRAPH if paragraph else LINE] = index
    elif stop in (" ", "\t"):
        best[SPACE] = index
    for kind in (PARAGRAPH, LINE, SPACE):
        if kind in best:
            return best[kind]
    # One word longer than the limit: cut inside it, but never inside a tag or entity.
    return max(index, start + 1)


def _skip_space(atoms: list[_Atom], index: int) -> int:
    while index < len(atoms) and atoms[index].raw in (" ", "\n", "\t"):
        index += 1
    return index


def _trim_space(atoms: list[_Atom], start: int, end: int) -> int:
    while end > start and atoms[end - 1].raw in (" ", "\n", "\t"):
        end -= 1
    return end


def split_caption(caption: str, limit: int = CAPTION_LIMIT) -> tuple[str, list[str]]:
    """What fits under a photo, and the rest as follow-up messages."""
    atoms = _atoms(caption)
    if sum(atom.weight for atom in atoms) <= limit:
        return caption, []
    open_before = _open_tags(atoms)
    start, end, next_start = _segments(atoms, limit)[0]
    first = _render(atoms, open_before, start, end)
    rest = "".join(tag.raw for tag in open_before[next_start]) + "".join(
        atom.raw for atom in atoms[next_start:]
    )
    return first, split_html(rest) if visible_length(rest) > 0 else []
