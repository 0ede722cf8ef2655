#!/usr/bin/env python3
"""Checks the book's code: every {{#include ...}} names a file that exists and, when an
anchor is named, the file has exactly one `ANCHOR: name` line with a matching
`ANCHOR_END: name` after it and a non-empty region between them; and every ```rust
block is an include, never hand-typed code (STYLE.md, section 7).

Usage: python3 book/check_includes.py [BOOK_DIR]   (default: the directory of this script)
Exits 1 and lists every problem if any; CI runs it from scripts/test.
"""

import re
import sys
from pathlib import Path

# The same patterns as mdBook (src/utils/string.rs and the links preprocessor).
INCLUDE = re.compile(r"\{\{\s*#(include|rustdoc_include)\s+([^}\s]+)\s*\}\}")
ANCHOR_START = re.compile(r"ANCHOR:\s*([\w_-]+)")
ANCHOR_END = re.compile(r"ANCHOR_END:\s*([\w_-]+)")


def anchors(path):
    """name -> (start line, end line or None, lines between), and duplicate names."""
    found, duplicates, open_ = {}, [], {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        end = ANCHOR_END.search(line)
        if end:
            name = end.group(1)
            if name in open_:
                start = open_.pop(name)
                found[name] = (start, number, number - start - 1)
            elif name not in found:
                found[name] = (None, number, 0)
            continue
        start = ANCHOR_START.search(line)
        if start:
            name = start.group(1)
            if name in found or name in open_:
                duplicates.append(name)
            open_[name] = number
    for name, start in open_.items():
        found[name] = (start, None, 0)
    return found, duplicates


FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w,+-]*)")


def typed_rust(md, book, text):
    """Rust code blocks whose body is anything but includes."""
    problems, fence, lang, body, start = [], None, "", [], 0
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence, lang, body, start = match.group(1), match.group(2), [], number
        elif match and match.group(1) == fence and not match.group(2):
            words = lang.split(",")
            if words[0] in ("rust", "rs"):
                code = [b for b in body if b.strip()]
                if not code or not all(INCLUDE.fullmatch(b.strip()) for b in code):
                    where = f"{md.relative_to(book.parent)}:{start}"
                    problems.append(f"{where}: a rust block must be {{{{#include ...}}}} lines only")
            fence = None
        else:
            body.append(line)
    return problems


def check(book):
    src = book / "src"
    problems, count = [], 0
    for md in sorted(src.rglob("*.md")):
        text = md.read_text(encoding="utf-8")
        problems.extend(typed_rust(md, book, text))
        for number, line in enumerate(text.splitlines(), 1):
            for match in INCLUDE.finditer(line):
                count += 1
                where = f"{md.relative_to(book.parent)}:{number}"
                target = match.group(2)
                path_part, _, selector = target.partition(":")
                path = (md.parent / path_part).resolve()
                if not path.is_file():
                    problems.append(f"{where}: no file {path_part}")
                    continue
                if not selector or re.fullmatch(r"\d*(:\d*)?", selector):
                    continue  # whole file or line numbers
                name = selector
                found, duplicates = anchors(path)
                if name not in found:
                    problems.append(f"{where}: no anchor `{name}` in {path_part}")
                    continue
                start, end, lines = found[name]
                if start is None:
                    problems.append(f"{where}: `{name}` in {path_part} has an ANCHOR_END but no ANCHOR")
                elif end is None:
                    problems.append(f"{where}: `{name}` in {path_part} has no ANCHOR_END")
                elif lines == 0:
                    problems.append(f"{where}: `{name}` in {path_part} is empty")
                if name in duplicates:
                    problems.append(f"{where}: `{name}` appears more than once in {path_part}")
    return count, problems


def main():
    book = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    count, problems = check(book.resolve())
    if problems:
        print(f"book includes: {len(problems)} problem(s) in {count} include(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    if count == 0:
        print("book includes: no {{#include}} found; is this the book directory?", file=sys.stderr)
        return 1
    print(f"book includes: {count} include(s), all files and anchors found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
