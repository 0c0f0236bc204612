"""whiskey-report: the report of a whiskey benchmark run (results/<run_id>/, docs/results-format.md).

Exit codes of summary and compare: 0 report written, every planned run valid; 1 report written from what is
there, but some runs were invalid, failed, did not finish or were not run; 2 nothing to report (folder missing,
empty or without measured runs) or bad arguments. verdict: 0 the status document was printed (and written with
--write), whatever the verdict; 2 bad arguments or status.json could not be written.
"""

import argparse
import sys
from pathlib import Path

from whiskey_report import __version__
from whiskey_report.loader import ResultsError

EPILOG = """examples:
  whiskey-report summary results/20261124T223000Z          table, summary.csv/json, figures, report.html
  whiskey-report summary results/RUN --no-figures          table and summary files only (fast)
  whiskey-report compare results/BASE results/CONTENDER    differences, in the terminal and compare.html
  whiskey-report verdict results/RUN/6/gunicorn/1 --context ctx.json --write
                                                           judge one run: print (and write) its status.json
  whiskey-report levels --driver wrk results/RUN/6/gunicorn/1  a throughput run's raw driver files as throughput.json
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="whiskey-report",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"whiskey-report {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser(
        "summary",
        help="summary table, summary.csv/json, figures and report.html of one run",
        description="Read results/<run_id>/ and write <run_dir>/report/: summary.csv, summary.json, *.png and "
        "a self-contained report.html; print the summary table, findings and warnings.",
    )
    s.add_argument("run_dir", type=Path, help="a results/<run_id>/ folder")
    s.add_argument("--out", type=Path, help="output folder (default: RUN_DIR/report)")
    s.add_argument("--no-figures", action="store_true", help="skip the PNG figures (and their HTML section)")
    s.add_argument("--no-html", action="store_true", help="skip report.html")
    s.add_argument("--quiet", action="store_true", help="print only the output paths and warnings")
    c = sub.add_parser(
        "compare",
        help="compare two runs: differences and their significance",
        description="Match the summary rows of two runs on (workers, scenario[, concurrency]) and show absolute "
        "and %% differences with Welch's t-test significance; writes compare.html.",
    )
    c.add_argument("baseline", type=Path, help="the baseline results/<run_id>/ folder")
    c.add_argument("contender", type=Path, help="the contender results/<run_id>/ folder")
    c.add_argument("--out", type=Path, help="HTML file to write (default: CONTENDER/report/compare.html)")
    v = sub.add_parser(
        "verdict",
        help="judge one run folder: valid, invalid or failed; prints its status.json",
        description="Judge one <workers>/<scenario>/<repeat>/ run folder with the benchmark loop's context "
        "(errors, thresholds, calibration, ...; the format is in whiskey_report/verdict.py and "
        "docs/results-format.md) and print the complete status.json document as JSON. Bad or missing files "
        "are reasons in the document, never a traceback.",
    )
    v.add_argument("run_dir", type=Path, help="a results/<run_id>/<workers>/<scenario>/<repeat>/ folder")
    v.add_argument("--context", required=True, help="the loop's CONTEXT.json ('-': standard input)")
    v.add_argument(
        "--write",
        action="store_true",
        help="also write RUN_DIR/status.json (atomically), for a throughput run its throughput.json from the "
        "drivers' raw files, and with --context - the context as RUN_DIR/context.json and its probes as "
        "probe-<when>.json",
    )
    lv = sub.add_parser(
        "levels",
        help="a throughput run's raw driver files (wrk-c<N>.json, locust-c<N>_stats.csv) as throughput.json",
        description="Read the throughput levels of one run (wrk: one folder per client, summed; Locust: the "
        "master's folder) and print or write the throughput.json document (docs/results-format.md).",
    )
    lv.add_argument("dirs", nargs="+", type=Path, help="the run's folder, or one folder per client (wrk)")
    lv.add_argument("--driver", choices=["wrk", "locust"], required=True)
    lv.add_argument(
        "--level-time", type=float, default=None, help="seconds per level (Locust without a rate)"
    )
    lv.add_argument("--output", type=Path, default=None, help="file to write (default: standard output)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        if args.command == "summary":
            return _summary(args)
        if args.command == "verdict":
            return _verdict(args)
        if args.command == "levels":
            return _levels(args)
        return _compare(args)
    except ResultsError as exc:
        print(f"whiskey-report: {exc}", file=sys.stderr)
        return 2


def _summary(args) -> int:
    from whiskey_report.report import build, terminal_text

    rep = build(args.run_dir, args.out, figures=not args.no_figures, html=not args.no_html)
    if args.quiet:
        for w in rep.warnings:
            print(f"! {w}", file=sys.stderr)
    else:
        print(terminal_text(rep))
    print()
    print(f"Summary: {rep.out_dir / 'summary.csv'}, {rep.out_dir / 'summary.json'}")
    if rep.html:
        print(f"Report:  {rep.html}")
    if rep.incomplete:
        print(
            "whiskey-report: some runs were invalid, failed, did not finish or were not run: the report ranks "
            "the valid ones and lists the others as not ranked.",
            file=sys.stderr,
        )
        return 1
    return 0


def _verdict(args) -> int:
    from whiskey_report.verdict import dumps, judge, read_context, write_inputs, write_status

    context, problem = read_context(args.context)
    if problem:
        context = {"errors": [problem]}
    if args.write:
        from whiskey_report.levels import write_throughput

        if str(args.context) == "-":
            context = write_inputs(args.run_dir, context)
        problem = write_throughput(args.run_dir, context)
        if problem:
            context["errors"] = [*(context.get("errors") or []), problem]
    doc = judge(args.run_dir, context)
    print(dumps(doc))
    if args.write:
        try:
            path = write_status(args.run_dir, doc)
        except OSError as exc:
            print(
                f"whiskey-report verdict: cannot write {args.run_dir / 'status.json'}: {exc}", file=sys.stderr
            )
            return 2
        print(f"whiskey-report verdict: {doc['verdict']}, written to {path}", file=sys.stderr)
    return 0


def _levels(args) -> int:
    import json

    from whiskey_report.levels import normalise

    try:
        doc = normalise(args.dirs, args.driver, args.level_time)
    except (OSError, ValueError, KeyError) as exc:
        print(f"whiskey-report levels: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(doc, indent=2) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _compare(args) -> int:
    from whiskey_report.compare import compare, terminal_text, write_html

    cmp = compare(args.baseline, args.contender)
    print(terminal_text(cmp))
    out = args.out or (args.contender / "report" / "compare.html")
    write_html(cmp, out)
    print()
    print(f"Compare: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
