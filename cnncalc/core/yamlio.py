"""Read YAML safely and keep the line and column of every item.

PyYAML's safe composer builds a node tree with marks; this module turns it into
plain Python values (dict, list, str, int, float, bool, None) where mappings and
sequences are :class:`YMap` / :class:`YList`, which remember where each of their
keys and items stood. Only the standard YAML scalar types are built: a tag that
would construct another object is an error. Alias expansion and nesting depth
are bounded so that a small file cannot expand into a huge one.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from cnncalc.core.errors import Loc, SpecError

try:  # libyaml is several times faster; the pure-Python loader behaves the same
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 2_000_000
MAX_DEPTH = 100
MAX_INT_DIGITS = 4300  # Python's own limit for text to int (sys.get_int_max_str_digits)

_MERGE_TAG = "tag:yaml.org,2002:merge"
_COLLECTIONS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_STANDARD_SCALARS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:str",
}


class YMap(dict):
    """A YAML mapping: a dict that knows the location of itself, its keys and values."""

    loc: Loc
    key_locs: dict
    val_locs: dict

    def key_loc(self, key) -> Loc:
        return self.key_locs.get(key, self.loc)

    def val_loc(self, key) -> Loc:
        return self.val_locs.get(key, self.loc)


class YList(list):
    """A YAML sequence: a list that knows the location of itself and of each item."""

    loc: Loc
    item_locs: list

    def item_loc(self, index: int) -> Loc:
        if 0 <= index < len(self.item_locs):
            return self.item_locs[index]
        return self.loc


def loc_of(node) -> Loc:
    mark = node.start_mark
    return Loc(mark.line + 1, mark.column + 1)


_MISSING = object()


class _Builder:
    def __init__(self) -> None:
        self.constructor = yaml.constructor.SafeConstructor()
        self.count = 0
        self.scalars: dict[tuple[str, str], object] = {}

    def build(self, node, depth: int = 0):
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(
                f"the document expands to more than {MAX_NODES:,} YAML nodes",
                loc_of(node),
                kind="limit",
                help="aliases (*name) expand their anchor each time; write the structure out or use blocks",
            )
        if depth > MAX_DEPTH:
            raise SpecError(
                f"the document nests deeper than {MAX_DEPTH} levels",
                loc_of(node),
                kind="limit",
                help="flatten the structure; a recursive alias (&a [*a]) nests without end",
            )
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _COLLECTIONS:
            raise SpecError(
                f"the YAML tag '{node.tag}' is not allowed",
                loc_of(node),
                kind="syntax",
                help="specs hold plain values only: numbers, strings, booleans, lists and mappings",
            )
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, depth)
        if isinstance(node, yaml.SequenceNode):
            out = YList()
            out.loc = loc_of(node)
            out.item_locs = []
            for item in node.value:
                out.append(self.build(item, depth + 1))
                out.item_locs.append(loc_of(item))
            return out
        return self._scalar(node)

    def _scalar(self, node):
        if node.tag not in _STANDARD_SCALARS:
            raise SpecError(
                f"the YAML tag '{node.tag}' is not allowed",
                loc_of(node),
                kind="syntax",
                help="specs hold plain values only: numbers, strings, booleans, lists and mappings",
            )
        key = (node.tag, node.value)
        cached = self.scalars.get(key, _MISSING)
        if cached is not _MISSING:  # scalars are immutable: "64", "conv", "true" repeat
            return cached
        try:
            value = self.constructor.construct_object(node)
            self.scalars[key] = value
            return value
        except yaml.YAMLError as exc:  # e.g. a malformed value under an explicit tag
            raise SpecError(f"cannot read this value: {exc}", loc_of(node), kind="syntax") from None
        except ValueError:  # Python refuses integers of more than 4,300 digits
            digits = sum(c.isdigit() for c in node.value)
            raise SpecError(f"this number has {digits:,} digits; the limit is {MAX_INT_DIGITS:,}",
                            loc_of(node), kind="limit",
                            help="no size in a network has thousands of digits") from None

    def _mapping(self, node, depth: int):
        out = YMap()
        out.loc = loc_of(node)
        out.key_locs = {}
        out.val_locs = {}
        merged: list[YMap] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                value = self.build(value_node, depth + 1)
                sources = value if isinstance(value, list) else [value]
                for src in sources:
                    if not isinstance(src, YMap):
                        raise SpecError(
                            "a merge key (<<) takes a mapping or a list of mappings",
                            loc_of(value_node),
                            kind="syntax",
                        )
                    merged.append(src)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError(
                    "a mapping key must be a plain name, not a list or mapping",
                    loc_of(key_node),
                    kind="syntax",
                )
            key = self._scalar(key_node)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise SpecError(f"unsupported key {key!r}", loc_of(key_node), kind="syntax")
            if key in out:
                first = out.key_locs[key]
                raise SpecError(
                    f"duplicate key '{key}' (first given at line {first.line})",
                    loc_of(key_node),
                    kind="syntax",
                    help="YAML keeps only one of them; remove or rename the other",
                )
            out[key] = self.build(value_node, depth + 1)
            out.key_locs[key] = loc_of(key_node)
            out.val_locs[key] = loc_of(value_node)
        for src in merged:  # explicit keys win over merged ones, as in YAML 1.1
            for key, value in src.items():
                if key not in out:
                    out[key] = value
                    out.key_locs[key] = src.key_locs.get(key, src.loc)
                    out.val_locs[key] = src.val_locs.get(key, src.loc)
        return out


_ANCHOR = re.compile(r"&[^\s,\[\]{}]")  # an anchor (&name): aliases need one
_PYTHON = re.compile(r"^(?:import \w|from [\w.]+ import |def \w+\(|class \w+[(:]|#!.*python)",
                     re.MULTILINE)


def identify(data: bytes) -> tuple[str, str] | None:
    """Recognise, by content, a file that is not a YAML spec: (what it is, what to do).

    Recognised: NumPy .npy (magic \\x93NUMPY) and .npz (a ZIP of .npy members), other ZIP
    archives (PyTorch's torch.save writes one), Python pickles, HDF5 (Keras), ONNX models
    (a protobuf whose first field is ir_version), Python source, and other binary data.
    """
    head = data[:4096]
    if head.startswith(b"\x93NUMPY"):
        return ("a NumPy array (.npy), not a network spec",
                "input values go to `cnncalc run SPEC --data FILE`; the spec is a YAML file "
                "(docs/spec-format.md)")
    if head.startswith(b"PK\x03\x04"):
        if b".npy" in head[:512]:
            return ("a NumPy archive (.npz), not a network spec",
                    "weights go to `cnncalc run SPEC --weights FILE`; the spec is a YAML file "
                    "(docs/spec-format.md)")
        if b"data.pkl" in head or b"/data/" in head:
            return ("a PyTorch checkpoint (torch.save), not a network spec",
                    "cnncalc reads the architecture written as YAML (docs/spec-format.md), "
                    "not weights")
        return "a ZIP archive, not a network spec", "give the YAML spec itself (docs/spec-format.md)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return ("a Python pickle, not a network spec",
                "cnncalc reads the architecture written as YAML (docs/spec-format.md)")
    if head.startswith(b"\x89HDF"):
        return ("an HDF5 file (Keras weights?), not a network spec",
                "write the architecture as YAML (docs/spec-format.md)")
    if head[:1] == b"\x08" and len(head) > 2 and head[1] < 0x20 and \
            (head[2:3] in (b"\x12", b"\x1a", b"\x3a", b"\x42") or b"onnx" in head.lower()):
        return ("an ONNX model (binary protobuf), not a YAML spec",
                "write the network as a YAML spec (docs/spec-format.md); the shapes and counts "
                "ONNX shape inference gives can be checked against cnncalc's")
    if b"\x00" in head:
        return ("a binary file, not a YAML spec", "give the YAML spec (docs/spec-format.md)")
    text = head.decode("utf-8", errors="replace")
    if _PYTHON.search(text):
        return ("Python source, not a YAML spec",
                "write the network as YAML (docs/spec-format.md): one list item per layer, "
                "with PyTorch's parameter names (conv: {out_channels: 16, kernel_size: 3})")
    return None


def _yaml_help(text: str, line: int, column: int, problem: str) -> tuple[str, Loc, str] | None:
    """A plain message, location and fix for the YAML mistakes people make most:
    tab indentation and a list item indented differently from the one above."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines) + 1:
        return None
    here = lines[line - 1] if line <= len(lines) else ""
    indent = here[: len(here) - len(here.lstrip(" \t"))]
    if "\t" in indent or "\t" in problem or (here[column - 1: column] == "\t"):
        tab = here.find("\t") + 1 if "\t" in here else column
        return (f"YAML does not allow tabs for indentation; line {line} column {tab}",
                Loc(line, tab), "indent with spaces (two per level); most editors convert tabs "
                "to spaces on request")
    if "expected '-' indicator" in problem or "expected <block end>" in problem:
        above = next((lines[i] for i in range(line - 2, -1, -1) if lines[i].strip()
                      and not lines[i].lstrip().startswith("#")), None)
        if above is not None:
            col_here = len(here) - len(here.lstrip(" ")) + 1
            col_above = len(above) - len(above.lstrip(" ")) + 1
            if col_here != col_above:
                return (f"line {line} is indented to column {col_here}, the line above to column "
                        f"{col_above}", Loc(line, col_here),
                        "items of one list (and keys of one mapping) start in the same column; "
                        "parameters of a layer go inside it: - conv: {out_channels: 16, "
                        "kernel_size: 3}")
    return None


def parse_yaml(text: str | bytes, file: str | None = None):
    """Parse one YAML document into located values.

    Args:
        text: the document (bytes are decoded as UTF-8).
        file: the file name used in error messages.

    Returns:
        YMap / YList / scalar, or None for an empty document.

    Raises:
        SpecError: syntax errors, non-UTF-8 bytes, disallowed tags, more than one
            document, or a document over the size, node or depth limits.
    """
    if isinstance(text, bytes):
        found = identify(text)
        if found is not None:
            raise SpecError(f"this is {found[0]}", kind="input", file=file, help=found[1])
        if len(text) > MAX_FILE_BYTES:
            raise SpecError(
                f"the file is {len(text):,} bytes; the limit is {MAX_FILE_BYTES:,}",
                kind="limit",
                file=file,
                help="a spec is a page of YAML; split generated specs or use blocks and repeat",
            )
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = text[: exc.start].count(b"\n") + 1
            column = exc.start - (text.rfind(b"\n", 0, exc.start) + 1) + 1
            raise SpecError(
                f"byte 0x{text[exc.start]:02x} is not valid UTF-8",
                Loc(line, column),
                kind="syntax",
                file=file,
                help="save the file as UTF-8",
            ) from None
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Loc(mark.line + 1, mark.column + 1) if mark else None
        reason = exc.problem or str(exc)
        if exc.context:
            reason = f"{exc.context}: {reason}"
        plain = _yaml_help(text, loc.line, loc.column, reason) if loc else None
        if plain is not None:
            raise SpecError(plain[0], plain[1], kind="syntax", file=file, help=plain[2]) from None
        help = "check the brackets, quotes and indentation at this line and the one above"
        lines = text.count("\n") + 1 if isinstance(text, str) else None
        start = exc.context_mark
        if start is not None and "flow" in (exc.context or "") and (
                loc is None or (lines is not None and loc.line >= lines)):
            # an unclosed [ or {: the end of the file says nothing; point at where it opened
            opener = Loc(start.line + 1, start.column + 1)
            reason = f"the {'[' if 'sequence' in exc.context else '{'} opened here is never closed"
            raise SpecError(f"invalid YAML: {reason}", opener, kind="syntax", file=file,
                            help=f"close it with {']' if 'sequence' in exc.context else '}'} on the "
                                 "same item, or write the values as an indented block") from None
        raise SpecError(f"invalid YAML: {reason}", loc, kind="syntax", file=file, help=help) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", kind="syntax", file=file) from None
    except RecursionError:
        raise SpecError(
            "the document nests too deeply to read", kind="limit", file=file
        ) from None
    if not nodes:
        return None
    if len(nodes) > 1:
        raise SpecError(
            "the file holds more than one YAML document (---)",
            loc_of(nodes[1]),
            kind="syntax",
            file=file,
            help="one spec per file",
        )
    try:
        if _ANCHOR.search(text):  # without an anchor there is no alias: the tree is the file
            _check_expanded_size(nodes[0])
        return _Builder().build(nodes[0])
    except SpecError as exc:
        raise exc.located(file=file) from None


def _check_expanded_size(root) -> None:
    """Refuse a document whose aliases expand past MAX_NODES, before building it.

    The composed graph shares an anchored node among its aliases; its expanded
    size is counted once per distinct node (memoised), so a "billion laughs" is
    refused in time proportional to the file, not to the expansion.
    """
    sizes: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in sizes and not done:
            continue
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if not done:
            sizes[key] = -1  # in progress (a recursive alias is refused by the depth limit later)
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        total = 1 + sum(max(sizes.get(id(c), 0), 0) for c in children)
        sizes[key] = total
        if total > MAX_NODES:
            raise SpecError(
                f"the document expands to more than {MAX_NODES:,} YAML nodes",
                loc_of(node), kind="limit",
                help="aliases (*name) expand their anchor each time; write the structure out or use blocks",
            )


def flow_text(value: Any) -> str:
    """YAML flow text of a small value, as the specs cnncalc writes (``import`` from ONNX or
    PyTorch) keep one layer per line: booleans, numbers (YAML 1.1 floats, .inf/.nan),
    lists, mappings (a key whose value is None written bare) and plain or quoted strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"inf": ".inf", "-inf": "-.inf"}.get(repr(value), ".nan")
        text = repr(value)
        mantissa, e, exp = text.partition("e")
        if e and "." not in mantissa:  # YAML 1.1 reads 1e-06 as text: write 1.0e-06
            text = f"{mantissa}.0e{exp}"
        return text
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(k if v is None else f"{k}: {flow_text(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return text if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", text) else '"' + text + '"'
