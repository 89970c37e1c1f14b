#!/usr/bin/env python3
"""Every option an attribute accepts is in the option table of its rustdoc page.

Run after `cargo doc -p resilience --no-deps --all-features`:

    python3 scripts/check_docs.py [--list] [--root <workspace>]

`--list` prints the options found per attribute; `--root` reads another
checkout's sources (the pages are still read from `--root`'s target/doc).

The options are read from the macro crate, so a new option without docs
fails the check:

- the fields of each `#[derive(..., FromMeta)]` struct in
  `resilience-macros/src/layer/<layer>.rs` (a `#[darling(rename = "…")]`
  gives the key; a `#[darling(flatten)]` field adds the fields of the struct
  it names, e.g. `Common` in `args.rs`: `name`, `with`, `crate`);
- the key lists of hand-written parsers, `unknown_field_with_alts(…, &["…"])`;
- in a layer parsed by hand (no `FromMeta` struct), the words it matches
  with `Some("…")` (`#[fallback]`'s `crate` and `stale_cache`);
- and, where the schema crate exists, the keys of its tables in
  `resilience-schema/src/<layer>.rs` (the rows of `options! { key: Type,
  Kind, default, "…"; … }`, or `Spec::new("key", …)`), with those of
  `common.rs`; `stale_cache.rs` is the table of `#[fallback]`'s
  `stale_cache(…)` level, which takes none of the common options but
  `crate`.

The page is `target/doc/resilience/attr.<layer>.html`; an option counts as
documented when it is the key of a code span in the first column of one of
the page's tables (`max_attempts = 3`, `stale_cache(ttl = "10m")`, `adaptive`).

It also checks that no doc comment of the facade or the runtime names
`resilience_runtime::` (hidden `# ` lines included): users depend on
`resilience`, and the runtime's doctests see the facade as a dev-dependency.

Standard library only.
"""

import argparse
import html.parser
import pathlib
import re
import sys

ARGS = argparse.ArgumentParser(description="Every option of every attribute is in its rustdoc page's option table.")
ARGS.add_argument("--list", action="store_true", help="print the options found per attribute")
ARGS.add_argument("--root", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent.parent,
                  help="the workspace to read (default: this script's)")
OPTS = ARGS.parse_args()
ROOT = OPTS.root.resolve()
MACROS = ROOT / "resilience-macros" / "src"
SCHEMA = ROOT / "resilience-schema" / "src"
DOCS = ROOT / "target" / "doc" / "resilience"
# The schema's file for a layer whose options it keeps under another name.
SCHEMA_FILE = {"fallback": "stale_cache"}

IDENT = r"r#[A-Za-z_]\w*|[A-Za-z_]\w*"


def strip_comments(src):
    """The source without comments; strings are kept (keys live in them)."""
    out, i, n = [], 0, len(src)
    while i < n:
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif src[i] == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append(src[i : j + 1])
            i = j + 1
        elif src[i] == "'" and re.match(r"'(\\.|[^\\'])'", src[i : i + 4]):
            # A char literal (a lifetime has no closing quote).
            m = re.match(r"'(\\.|[^\\'])'", src[i : i + 4])
            out.append(m.group(0))
            i += len(m.group(0))
        else:
            out.append(src[i])
            i += 1
    return "".join(out)


def braced(src, open_at):
    """The text inside the `{ … }` whose `{` is at `open_at`."""
    depth = 0
    for j in range(open_at, len(src)):
        if src[j] == "{":
            depth += 1
        elif src[j] == "}":
            depth -= 1
            if depth == 0:
                return src[open_at + 1 : j]
    raise ValueError("unbalanced braces")


def split_top(body, sep=","):
    """`body` split at each `sep` outside brackets and strings (one item per
    field, or per row of a table)."""
    items, depth, start, in_str = [], 0, 0, False
    pairs = {"(": 1, "[": 1, "{": 1, "<": 1, ")": -1, "]": -1, "}": -1, ">": -1}
    j = 0
    while j < len(body):
        c = body[j]
        if in_str:
            if c == "\\":
                j += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in pairs and not (c == ">" and body[j - 1] == "-"):
            depth += pairs[c]
        elif c == sep and depth == 0:
            items.append(body[start:j])
            start = j + 1
        j += 1
    items.append(body[start:])
    return [item for item in items if item.strip()]


def from_meta_structs(src):
    """{struct name: [(key, flattened type or None)]} for `FromMeta` structs."""
    structs = {}
    derive = re.compile(r"#\[derive\(([^)]*)\)\]")
    for m in derive.finditer(src):
        if "FromMeta" not in m.group(1).split(",") and not re.search(
            r"\bFromMeta\b", m.group(1)
        ):
            continue
        decl = re.compile(r"\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?struct\s+(\w+)[^{;]*\{")
        d = decl.match(src, m.end())
        if not d:
            continue  # an enum or a tuple struct: no keys of its own
        fields = []
        for item in split_top(braced(src, d.end() - 1)):
            attrs = re.findall(r"#\[darling\(([^\]]*)\)\]", item)
            f = re.search(rf"(?:pub(?:\([^)]*\))?\s+)?({IDENT})\s*:\s*(.+)$", re.sub(r"#\[[^\]]*\]", "", item), re.S)
            if not f:
                continue
            key, ty = f.group(1).removeprefix("r#"), f.group(2).strip()
            flatten = None
            for a in attrs:
                r = re.search(r'\brename\s*=\s*"([^"]+)"', a)
                if r:
                    key = r.group(1)
                if re.search(r"\bflatten\b", a):
                    flatten = re.sub(r"^.*::", "", ty).strip()
                if re.search(r"\bskip\b", a):
                    key = None
            if key:
                fields.append((key, flatten))
        structs[d.group(1)] = fields
    return structs


def keys_of(name, structs, seen=()):
    keys = set()
    for key, flatten in structs.get(name, []):
        if flatten is None:
            keys.add(key)
        elif flatten in structs and flatten not in seen:
            keys |= keys_of(flatten, structs, seen + (name,))
        else:
            sys.exit(f"check_docs: cannot find the flattened struct `{flatten}` of `{name}`")
    return keys


def accepted_options(layer_file, shared):
    src = strip_comments(layer_file.read_text())
    own = from_meta_structs(src)
    structs = {**shared, **own}
    keys = set()
    # Structs of this file that no other struct of it flattens: the layer's options.
    nested = {f for fields in own.values() for _, f in fields if f}
    for name in own:
        if name not in nested:
            keys |= keys_of(name, structs)
    for alts in re.findall(r"unknown_field_with_alts\([^&]*&\[([^\]]*)\]", src):
        keys |= set(re.findall(r'"([^"]+)"', alts))
    layer = layer_file.stem
    schema = schema_keys(SCHEMA_FILE.get(layer, layer))
    if schema and layer not in SCHEMA_FILE:
        schema |= schema_keys("common")
    keys |= schema
    if not own and (layer in SCHEMA_FILE or not schema):
        # Parsed by hand: the words it matches.
        keys |= set(re.findall(r'Some\("(\w+)"\)', src))
    return keys


def schema_keys(stem):
    """The keys of the schema crate's table in `<stem>.rs` (empty without it)."""
    path = SCHEMA / f"{stem}.rs"
    if not path.exists():
        return set()
    src = strip_comments(path.read_text())
    keys = set(re.findall(r'Spec::new\(\s*"([^"]+)"', src))
    for m in re.finditer(r"\boptions!\s*\{", src):
        for row in split_top(braced(src, m.end() - 1), ";"):
            r = re.match(r"\s*(?:#\[[^\]]*\]\s*)*([A-Za-z_]\w*)\s*(?::|,|\[)", row)
            if r:
                keys.add(r.group(1))
    return keys


class Tables(html.parser.HTMLParser):
    """The code spans of the first cell of every table row, and all page text."""

    def __init__(self):
        super().__init__()
        self.first_cells, self.text = [], []
        self.cell = None
        self.cells_in_row = 0
        self.code = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.cells_in_row = 0
        elif tag in ("td", "th"):
            self.cells_in_row += 1
            if tag == "td" and self.cells_in_row == 1:
                self.cell = []
        elif tag == "code":
            self.code = []

    def handle_endtag(self, tag):
        if tag == "code" and self.code is not None:
            text = "".join(self.code)
            if self.cell is not None:
                self.cell.append(text)
            self.code = None
        elif tag == "td" and self.cell is not None:
            self.first_cells.append(self.cell)
            self.cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self.code is not None:
            self.code.append(data)


def documented(page):
    parser = Tables()
    parser.feed(page.read_text())
    keys = set()
    for spans in parser.first_cells:
        for span in spans:
            # `key = …`, `key`, `stale_cache(key = …)`, `window = N` / `…`
            keys |= set(re.findall(r"(?:^|\(|,\s*)([A-Za-z_]\w*)\s*(?==|\)|,|$)", span.strip()))
            m = re.match(r"([A-Za-z_]\w*)\s*\(", span.strip())
            if m:
                keys.add(m.group(1))
    return keys, " ".join(parser.text)


def runtime_paths():
    """`file:line` of every doc comment that names `resilience_runtime::`."""
    found = []
    for tree in (ROOT / "src", ROOT / "resilience-runtime" / "src"):
        for path in sorted(tree.rglob("*.rs")):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if re.match(r"\s*//[/!]", line) and "resilience_runtime::" in line:
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    return found


def main():
    listing = OPTS.list
    layers = sorted(p for p in (MACROS / "layer").glob("*.rs") if p.stem != "mod")
    if not layers:
        sys.exit(f"check_docs: no layer files under {MACROS / 'layer'}")
    shared = {}
    for path in MACROS.glob("*.rs"):
        shared.update(from_meta_structs(strip_comments(path.read_text())))
    problems = []
    for layer_file in layers:
        layer = layer_file.stem
        options = accepted_options(layer_file, shared)
        if not options:
            problems.append(f"#[{layer}]: no options found in {layer_file.relative_to(ROOT)} (has its parser changed shape?)")
            continue
        page = DOCS / f"attr.{layer}.html"
        if not page.exists():
            problems.append(f"#[{layer}]: no page {page.relative_to(ROOT)}; run `cargo doc -p resilience --no-deps --all-features` first")
            continue
        in_tables, text = documented(page)
        if listing:
            print(f"#[{layer}]: {', '.join(sorted(options))}")
        for key in sorted(options - in_tables):
            where = "mentioned on the page but not" if re.search(rf"\b{re.escape(key)}\b", text) else "not"
            problems.append(f"#[{layer}]: option `{key}` is {where} in the option table of {page.relative_to(ROOT)}")
    paths = runtime_paths()
    if paths:
        print("check_docs: doc comments that say `resilience_runtime::` (write `resilience::`, the crate users depend on):")
        for p in paths:
            print(f"  - {p}")
    if problems:
        print("check_docs: options missing from the attribute pages (document them on the re-exports in src/lib.rs):")
        for p in problems:
            print(f"  - {p}")
        return 1
    if paths:
        return 1
    print(f"check_docs: every option of {len(layers)} attributes is in its page's option table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
