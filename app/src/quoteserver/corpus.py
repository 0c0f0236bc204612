"""The quote corpus: Debian's fortune files, or a user's JSONL/CSV of {quote, author}.

Fortune files (strfile format) hold entries separated by a line with a single `%`; the author, when there is
one, is a trailing line like `\t\t-- Groucho Marx`, possibly continued on indented lines.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Bump when parsing changes what ends up in the index: the loader's fingerprint includes it.
PARSER_VERSION = "1"
DEFAULT_FORTUNES_DIR = Path("/usr/share/games/fortunes")
UNKNOWN_AUTHOR = "Anonymous"
# Files next to the fortunes that are not fortunes: strfile indexes and the UTF-8 symlinks.
_SKIP_SUFFIXES = (".dat", ".u8", ".gz", ".sh")
_ATTRIBUTION = re.compile(r"^\s*--(?!-)\s*(\S.*?)\s*$")
_SPACES = re.compile(r"\s+")


class CorpusError(Exception):
    """The corpus cannot be read or is empty; the message says which file and line."""


@dataclass(frozen=True)
class QuoteRecord:
    quote: str
    author: str


@dataclass(frozen=True)
class Corpus:
    source: str  # "fortunes:/usr/share/games/fortunes" or "file:/path/quotes.jsonl"
    records: tuple[QuoteRecord, ...]
    files: tuple[str, ...]

    @property
    def digest(self) -> str:
        """sha256 over the parser version and every parsed record: changes when the content changes."""
        h = hashlib.sha256(f"quoteserver-corpus/{PARSER_VERSION}\n".encode())
        for record in self.records:
            h.update(record.quote.encode())
            h.update(b"\0")
            h.update(record.author.encode())
            h.update(b"\x1e")
        return h.hexdigest()


def parse_fortune_entry(text: str) -> QuoteRecord | None:
    """One entry (the text between two `%` lines) → a record, or None when it is blank."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return None
    author = UNKNOWN_AUTHOR
    # The attribution is one of the last three lines; lines after it must be indented continuations.
    for i in range(len(lines) - 1, max(len(lines) - 4, 0), -1):
        match = _ATTRIBUTION.match(lines[i])
        if match and all(line[:1].isspace() for line in lines[i + 1 :]):
            author = _SPACES.sub(" ", " ".join([match.group(1), *(line.strip() for line in lines[i + 1 :])]))
            lines = lines[:i]
            while lines and not lines[-1].strip():
                lines.pop()
            break
    quote = textwrap.dedent("\n".join(lines)).strip("\n")
    if not quote.strip():
        return None
    return QuoteRecord(quote=quote, author=author)


def parse_fortunes(text: str) -> list[QuoteRecord]:
    """A whole fortune file → its records, in file order."""
    records: list[QuoteRecord] = []
    entry: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.rstrip() == "%":
            record = parse_fortune_entry("\n".join(entry))
            if record is not None:
                records.append(record)
            entry = []
        else:
            entry.append(line)
    record = parse_fortune_entry("\n".join(entry))
    if record is not None:
        records.append(record)
    return records


def fortune_files(directory: Path) -> list[Path]:
    """The fortune files of a directory, sorted; skips .dat/.u8 companions, symlinks, subdirs (off/)."""
    if not directory.is_dir():
        raise CorpusError(
            f"fortunes directory {directory} does not exist (apt-get install fortunes fortunes-min)"
        )
    return sorted(
        path
        for path in directory.iterdir()
        if path.is_file()
        and not path.is_symlink()
        and not path.name.startswith(".")
        and not path.name.endswith(_SKIP_SUFFIXES)
    )


def read_fortunes(directory: Path = DEFAULT_FORTUNES_DIR) -> Corpus:
    files = fortune_files(directory)
    records: list[QuoteRecord] = []
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise CorpusError(f"cannot read {path}: {exc.strerror}") from None
        records.extend(parse_fortunes(text))
    if not records:
        raise CorpusError(f"no fortunes found in {directory} (apt-get install fortunes fortunes-min)")
    return Corpus(source=f"fortunes:{directory}", records=tuple(records), files=tuple(p.name for p in files))


def _record(quote: object, author: object, where: str) -> QuoteRecord:
    if not isinstance(quote, str) or not quote.strip():
        raise CorpusError(f"{where}: 'quote' must be a non-empty string")
    if author is None or (isinstance(author, str) and not author.strip()):
        author = UNKNOWN_AUTHOR
    if not isinstance(author, str):
        raise CorpusError(f"{where}: 'author' must be a string")
    return QuoteRecord(quote=quote.strip(), author=author.strip())


def _jsonl_records(lines: Iterable[str], path: Path) -> Iterator[QuoteRecord]:
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise CorpusError(f"{where}: expected an object with 'quote' and 'author'")
        yield _record(obj.get("quote"), obj.get("author"), where)


def _csv_records(lines: Iterable[str], path: Path) -> Iterator[QuoteRecord]:
    reader = csv.DictReader(lines)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "quote" not in header:
        raise CorpusError(f"{path}:1: CSV needs a header row with a 'quote' column (and optionally 'author')")
    reader.fieldnames = header
    try:
        for row in reader:
            if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
                continue
            yield _record(row.get("quote"), row.get("author"), f"{path}:{reader.line_num}")
    except csv.Error as exc:
        raise CorpusError(f"{path}:{reader.line_num}: bad CSV ({exc})") from None


def read_file(path: Path) -> Corpus:
    """A JSONL (.jsonl/.ndjson/.json, one object per line) or CSV (.csv, header row) file of quotes."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        parse = _jsonl_records
    elif suffix == ".csv":
        parse = _csv_records
    else:
        raise CorpusError(f"{path}: unknown file type {suffix or '(none)'!r}; use .jsonl or .csv")
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            records = tuple(parse(handle, path))
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
    if not records:
        raise CorpusError(f"{path}: no quotes in file")
    return Corpus(source=f"file:{path.resolve()}", records=records, files=(path.name,))


def load_corpus(source: str = "fortunes", fortunes_dir: Path = DEFAULT_FORTUNES_DIR) -> Corpus:
    """`fortunes` reads fortunes_dir; anything else is a path to a JSONL or CSV file."""
    if source == "fortunes":
        return read_fortunes(fortunes_dir)
    return read_file(Path(source))
