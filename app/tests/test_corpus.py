"""Parsing fortunes (strfile format) and user JSONL/CSV files."""

from __future__ import annotations

from pathlib import Path

import pytest
from quoteserver.corpus import (
    DEFAULT_FORTUNES_DIR,
    UNKNOWN_AUTHOR,
    CorpusError,
    QuoteRecord,
    fortune_files,
    load_corpus,
    parse_fortunes,
    read_file,
    read_fortunes,
)

SAMPLE = """\
A black cat crossing your path signifies that the animal is going somewhere.
\t\t-- Groucho Marx
%
Moral:  There is no safety in numbers, or in anything else.
\t\t-- James Thurber, "The Fairly Intelligent Fly"
%

Just a quote without an author.

%
%
A long attribution
\t\t-- Someone Important, in a speech
\t\t   given long ago
%
ascii art
----------
   --- not an author
%
\tIndented first line
\tand second line.
\t\t--Anonymous Coward
"""


def test_parse_fortunes_entries_and_authors() -> None:
    records = parse_fortunes(SAMPLE)
    assert records == [
        QuoteRecord(
            "A black cat crossing your path signifies that the animal is going somewhere.", "Groucho Marx"
        ),
        QuoteRecord(
            "Moral:  There is no safety in numbers, or in anything else.",
            'James Thurber, "The Fairly Intelligent Fly"',
        ),
        QuoteRecord("Just a quote without an author.", UNKNOWN_AUTHOR),
        QuoteRecord("A long attribution", "Someone Important, in a speech given long ago"),
        QuoteRecord("ascii art\n----------\n   --- not an author", UNKNOWN_AUTHOR),
        QuoteRecord("Indented first line\nand second line.", "Anonymous Coward"),
    ]


def test_fortune_files_skip_companions(tmp_path: Path) -> None:
    (tmp_path / "wisdom").write_text("Be wise.\n\t-- Me\n%\n")
    (tmp_path / "wisdom.dat").write_bytes(b"\x00\x00\x00\x02binary")
    (tmp_path / "wisdom.u8").symlink_to(tmp_path / "wisdom")
    (tmp_path / "off").mkdir()
    (tmp_path / "off" / "rude").write_text("Rude.\n%\n")
    assert [p.name for p in fortune_files(tmp_path)] == ["wisdom"]
    corpus = read_fortunes(tmp_path)
    assert corpus.records == (QuoteRecord("Be wise.", "Me"),)
    assert corpus.source == f"fortunes:{tmp_path}"


def test_empty_or_missing_fortunes_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no fortunes found"):
        read_fortunes(tmp_path)
    with pytest.raises(CorpusError, match="does not exist"):
        read_fortunes(tmp_path / "absent")


@pytest.mark.skipif(
    not DEFAULT_FORTUNES_DIR.is_dir(),
    reason=f"{DEFAULT_FORTUNES_DIR} absent: apt-get install fortunes fortunes-min (CI installs them)",
)
def test_real_debian_fortunes() -> None:
    corpus = load_corpus("fortunes")
    names = set(corpus.files)
    assert "fortunes" in names  # from fortunes-min
    assert not any(name.endswith((".dat", ".u8")) for name in names)
    assert len(corpus.records) > 1000
    assert all(r.quote.strip() and r.author.strip() for r in corpus.records)
    assert not any(r.quote.rstrip().endswith("\n%") or r.quote == "%" for r in corpus.records)
    attributed = [r for r in corpus.records if r.author != UNKNOWN_AUTHOR]
    assert len(attributed) > len(corpus.records) / 4
    assert not any(r.author.startswith("--") for r in attributed)
    # Parsing is deterministic: the fingerprint of the corpus depends only on the files.
    assert load_corpus("fortunes").digest == corpus.digest


def test_jsonl_and_csv(tmp_path: Path) -> None:
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"quote": "One", "author": "A"}\n\n{"quote": "Two"}\n')
    assert read_file(jsonl).records == (QuoteRecord("One", "A"), QuoteRecord("Two", UNKNOWN_AUTHOR))
    csv_file = tmp_path / "q.csv"
    csv_file.write_text('Quote,Author\n"Multi\nline, with comma",B\nThree,\n')
    assert read_file(csv_file).records == (
        QuoteRecord("Multi\nline, with comma", "B"),
        QuoteRecord("Three", UNKNOWN_AUTHOR),
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"quote": "ok"}\n{not json}\n', r"bad.jsonl:2: not valid JSON"),
        ("bad.jsonl", '{"author": "no quote"}\n', r"bad.jsonl:1: 'quote' must be a non-empty string"),
        ("bad.jsonl", '["a list"]\n', r"bad.jsonl:1: expected an object"),
        ("bad.jsonl", '{"quote": "q", "author": 5}\n', r"'author' must be a string"),
        ("empty.jsonl", "\n\n", r"no quotes in file"),
        ("bad.csv", "text,who\nq,a\n", r"needs a header row with a 'quote' column"),
        ("quotes.txt", "whatever\n", r"unknown file type '.txt'"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CorpusError, match=message):
        read_file(path)


def test_not_utf8_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"quote\ncaf\xe9\n")
    with pytest.raises(CorpusError, match="not UTF-8"):
        read_file(path)
    with pytest.raises(CorpusError, match="no such file"):
        read_file(tmp_path / "absent.jsonl")
