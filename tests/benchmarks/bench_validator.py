"""Charge validator throughput: validate generated valid lines against the demo world and print lines/s.

Run: ``.venv/bin/python tests/benchmarks/bench_validator.py [--lines 200000] [--batch 10000] [--repeat 3]``.

Pure CPU, no database. The lines are the pre-parsed dicts the file readers yield (JSON parsing is not
included), generated in batches outside the timed part and validated by one validator per run (so V03 sees
every line), the rows of a batch dropped before the next as in the upload pipeline. The garbage collector
stays on. Target: ≥ 150,000 lines/s for the validator alone (the whole upload must reach ≥ 100,000 charges/s).

Shared or busy machines make absolute figures noisy, so the script also times a fixed reference loop
(``sum(range(1000))``, about 8 µs on a current desktop CPU with CPython 3.11) and prints the rate scaled to
that reference, next to the measured one.
"""

from __future__ import annotations

import argparse
import time
import timeit
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.journals.files import RawLine
from billing.journals.resolution import JournalContext, ReferenceIndex
from billing.journals.validation import ChargeValidator
from billing.reference.demo import DEMO_ACCOUNTS, build_demo_dataset
from billing.reference.validation import validate_import

World = dict[str, dict[str, dict[str, Any]]]
#: ``sum(range(1000))`` on the reference machine, in seconds.
REFERENCE_LOOP_S = 8e-6


def demo_world() -> World:
    plan = validate_import(build_demo_dataset(), {}, "replace")
    return {entity: {doc["id"]: doc for doc in docs} for entity, docs in plan.created.items()}


def journal_setup(world: World) -> tuple[JournalContext, ReferenceIndex, list[dict[str, Any]]]:
    """The first vendor's first product in USD, and the subscriptions of its unsplit USD agreements."""
    vendor = DEMO_ACCOUNTS["vendor"]
    product = next(doc for doc in world["products"].values() if doc["vendor"] == vendor)
    authorization = next(
        doc for doc in world["authorizations"].values() if doc["product"] == product["id"] and doc["currency"] == "USD"
    )
    agreements = world["agreements"]
    subscriptions = [
        sub
        for sub in world["subscriptions"].values()
        if agreements[sub["agreement"]]["product"] == product["id"]
        and agreements[sub["agreement"]]["currency"] == "USD"
        and not agreements[sub["agreement"]]["split"]
    ]
    context = JournalContext(
        journal_id="BJO-2589-1434",
        vendor_id=vendor,
        product_id=product["id"],
        authorization_id=authorization["id"],
        currency="USD",
        manual_pairs=frozenset(),
        now=datetime(2025, 6, 10, 17, 4, 53, 802000),
    )
    return context, ReferenceIndex.build(world, product["id"]), subscriptions


def generate(first: int, count: int, subscriptions: list[dict[str, Any]], items: World) -> list[RawLine]:
    """Valid §8.2 lines ``first``…: sources by id and by vendor id, items by id and SKU, some numeric strings."""
    lines = []
    for number in range(first, first + count):
        sub = subscriptions[number % len(subscriptions)]
        item = items[sub["items"][number % len(sub["items"])]]
        by_vendor = number % 2 == 0
        quantity = number % 50 + 1
        unit = Decimal("12.345678") if number % 3 else Decimal("7")
        data: dict[str, Any] = {
            "externalIds": {"vendor": f"ext-{number:08d}", "invoice": "INV12345", "reference": f"ORD-{number}"},
            "search": {
                "source": {
                    "type": "Subscription",
                    "criteria": "externalIds.vendor" if by_vendor else "id",
                    "value": sub["externalIds"]["vendor"] if by_vendor else sub["id"],
                },
                "order": {"criteria": "order.id", "value": "ORD-2413-8980-9419"},
                "item": {
                    "criteria": "item.externalIds.vendor" if by_vendor else "item.id",
                    "value": item["externalIds"]["vendor"] if by_vendor else item["id"],
                },
            },
            "period": {"start": "2025-06-01", "end": "2025-06-30T23:59:59Z"},
            "quantity": quantity,
            "price": {"unitPP": str(unit) if number % 5 == 0 else unit, "PPx1": unit * quantity, "currency": "USD"},
            "segment": "COM",
            "description": {"value1": "Standard seat", "value2": "June"},
            "attributes": {"agreementVendorId": "TENANT-77"},
        }
        lines.append(RawLine(number, data, None))
    return lines


def batches(total: int, size: int, subscriptions: list[dict[str, Any]], items: World) -> Iterator[list[RawLine]]:
    for first in range(1, total + 1, size):
        yield generate(first, min(size, total + 1 - first), subscriptions, items)


def reference_loop_s() -> float:
    return min(timeit.repeat("sum(range(1000))", number=200, repeat=3)) / 200


def run(total: int, size: int, context: JournalContext, index: ReferenceIndex, world: World) -> tuple[float, float]:
    """CPU seconds spent in `ChargeValidator.validate` for ``total`` lines (every row must be Ready), measured
    and scaled to the reference machine with the reference loop timed around each batch."""
    _, _, subscriptions = journal_setup(world)
    validator = ChargeValidator(context, index)
    elapsed = scaled = 0.0
    for batch in batches(total, size, subscriptions, world["items"]):
        validate = validator.validate
        before = reference_loop_s()
        started = time.process_time()  # CPU time: on a busy machine, wall time counts other processes' turns
        rows = [row for raw in batch for row in validate(raw)]
        spent = time.process_time() - started
        after = reference_loop_s()
        elapsed += spent
        scaled += spent * REFERENCE_LOOP_S / ((before + after) / 2)
        if len(rows) != len(batch) or any(row["upload_status"] != "Ready" for row in rows):
            raise AssertionError(f"unexpected rows: {[row['upload_errors'] for row in rows if row['upload_errors']]}")
    return elapsed, scaled


def main() -> None:
    parser = argparse.ArgumentParser(description="Charge validator throughput")
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    world = demo_world()
    started = time.perf_counter()
    context, index, _ = journal_setup(world)
    print(f"index built in {(time.perf_counter() - started) * 1000:.1f} ms")
    best = best_scaled = 0.0
    for attempt in range(1, args.repeat + 1):
        elapsed, scaled = run(args.lines, args.batch, context, index, world)
        rate, scaled_rate = args.lines / elapsed, args.lines / scaled
        best, best_scaled = max(best, rate), max(best_scaled, scaled_rate)
        print(
            f"run {attempt}: {args.lines:,} lines in {elapsed:.3f} s = {rate:,.0f} lines/s ({1e6 / rate:.2f} µs/line);"
            f" scaled to the reference machine: {scaled_rate:,.0f} lines/s"
        )
    print(f"best: {best:,.0f} lines/s measured, {best_scaled:,.0f} lines/s scaled")


if __name__ == "__main__":
    main()
