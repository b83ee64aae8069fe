"""Charge-file reader throughput: JSONL lines/s (fast and exact-decimal paths) and XLSX rows/s.

Run: ``.venv/bin/python tests/benchmarks/bench_charge_files.py [--lines 300000] [--rows 10000] [--repeat 3]``.
Reading only (no validation, no database), from memory for JSONL and from a temporary file for XLSX. Bare
``orjson.loads`` over the same lines is printed alongside as the ceiling of the machine at hand. The JSONL
fast path (lines without fractions) targets ≥ 300,000 lines/s for typical ~400-byte charge lines.
"""

from __future__ import annotations

import argparse
import gc
import io
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import orjson
from openpyxl import Workbook

from billing.journals.files import iter_jsonl, iter_xlsx

XLSX_HEADER = [
    "Entry ID", "Source", "Source Criteria", "Source Value", "Item Search Criteria", "Item Search Value",
    "Usage Start Time", "Usage End Time", "Quantity", "Purchase Price", "Total Purchase Price", "Currency",
    "Description1", "Market Segment",
]  # fmt: skip


def jsonl_line(number: int, *, fractions: bool) -> bytes:
    """A typical charge line (~400 bytes); with ``fractions`` its numbers have decimals (the exact path)."""
    quantity, unit, total = ("10.5", "183.9829", "1931.82045") if fractions else ("10", "183", "1830")
    return (
        f'{{"externalIds":{{"vendor":"ext-2025-06-{number:07d}","invoice":"INV12345"}},'
        f'"search":{{"source":{{"type":"Subscription","criteria":"id","value":"SUB-0356-5642-8669"}},'
        f'"item":{{"criteria":"item.externalIds.vendor","value":"SKU-STD-01"}}}},'
        f'"period":{{"start":"2025-06-01","end":"2025-06-30T23:59:59Z"}},"quantity":{quantity},'
        f'"price":{{"unitPP":{unit},"PPx1":{total},"currency":"USD"}},"segment":"COM",'
        f'"description":{{"value1":"Standard seat"}}}}\n'
    ).encode()


def best_of(repeat: int, run: Callable[[], int]) -> tuple[int, float]:
    """The count returned by ``run`` and its fastest wall time over ``repeat`` runs."""
    best = float("inf")
    count = 0
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - started)
    return count, best


def bench_jsonl(lines: int, repeat: int) -> None:
    for fractions in (False, True):
        content = b"".join(jsonl_line(number, fractions=fractions) for number in range(lines))
        split = content.splitlines()
        read, elapsed = best_of(repeat, lambda: sum(1 for _ in iter_jsonl(io.BytesIO(content))))  # noqa: B023
        _, bare = best_of(repeat, lambda: len([orjson.loads(line) for line in split]))  # noqa: B023
        label = "exact path (fractions)" if fractions else "fast path (integers)"
        print(
            f"JSONL {label:24} {read:>9,} lines of {len(content) // lines} B: {read / elapsed:>11,.0f} lines/s"
            f"   (bare orjson.loads: {lines / bare:,.0f}/s)"
        )


def bench_xlsx(rows: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "charges.xlsx"
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet()
        sheet.append(XLSX_HEADER)
        start, end = datetime(2025, 6, 1), datetime(2025, 6, 30, 23, 59, 59)
        for number in range(rows):
            sheet.append([
                f"ext-{number:07d}", "Subscription", "id", "SUB-0356-5642-8669", "item.externalIds.vendor",
                "SKU-STD-01", start, end, 10, 183.9829, 1839.829, "USD", "Standard seat", "COM",
            ])  # fmt: skip
        workbook.save(path)
        read, elapsed = best_of(repeat, lambda: sum(1 for _ in iter_xlsx(path)))
        print(f"XLSX  {read:>9,} rows x {len(XLSX_HEADER)} columns: {read / elapsed:>11,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    bench_jsonl(options.lines, options.repeat)
    bench_xlsx(options.rows, options.repeat)


if __name__ == "__main__":
    main()
