"""State (§2.1): it survives restarts; concurrent writers serialise like one ERP database; the demo seed;
settings from config/default.toml and the environment."""

from __future__ import annotations

import threading
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
import zeep
from zeep.transports import Transport

from billing.erp_sim.app import ErpSimulator
from billing.erp_sim.seed import customers_from_reference, items_from_reference, seed_from_reference
from billing.erp_sim.settings import ErpSimSettings
from billing.erp_sim.store import Store
from billing.reference.demo import build_demo_dataset
from billing.settings import DEFAULT_CONFIG, Settings

from .sim_kit import seed, settings_for

ZEEP = zeep.Settings(strict=True, forbid_external=True, xml_huge_tree=False)


def client(sim: ErpSimulator, service: str) -> zeep.Client:
    transport = Transport(session=sim.session())
    return zeep.Client(f"{sim.base_url()}/Page/{service}", transport=transport, settings=ZEEP).service


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "restart.sqlite"
    first = ErpSimulator(settings_for(path))
    seed(first)
    created = client(first, "SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})
    first.session().patch("http://erp-sim.test/_sim/faults", json={"http_503": 0.1})
    first.advance_clock(days=2)
    first.close()

    again = ErpSimulator(settings_for(path))
    try:
        invoices = client(again, "SalesInvoice")
        assert invoices.Read(No="SI-000001").Key == created.Key  # Keys and versions persist
        assert invoices.Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"}).No == "SI-000002"  # series continue
        assert again.state.current().settings.faults.http_503 == 0.1  # run-time knobs persist
        assert again.now().isoformat() == "2025-05-03T00:00:00+00:00"  # so does the simulated time
        updated = invoices.Update(SalesInvoice={"Key": created.Key, "Your_Reference": "x"})
        assert updated.Row_Version > created.Row_Version
    finally:
        again.close()


def test_a_new_configured_clock_rate_reanchors_at_the_current_simulated_time(tmp_path: Path) -> None:
    path = tmp_path / "clock.sqlite"
    ErpSimulator(settings_for(path)).close()
    fast = ErpSimulator(settings_for(path, clock={"rate": 86400, "start": "2030-01-01T00:00:00Z"}))
    try:
        assert fast.now().year == 2025  # start only applies to a new state file
        assert fast.state.current().clock.rate == 86400
    finally:
        fast.close()


def test_concurrent_writers_stay_consistent(tmp_path: Path) -> None:
    sim = ErpSimulator(settings_for(tmp_path / "threads.sqlite", limits={"max_in_flight": 8, "queue": 100}))
    seed(sim)
    try:
        services = [client(sim, "SalesInvoice") for _ in range(6)]
        results: list[tuple[str, int]] = []
        errors: list[BaseException] = []

        def work(service, worker: int) -> None:  # type: ignore[no-untyped-def]
            try:
                for round_ in range(5):
                    created = service.Create(
                        SalesInvoice={"Sell_to_Customer_No": "C-DE", "External_Document_No": f"W{worker}-{round_}"}
                    )
                    lines = [{"Type": "Item", "No": "SKU-1", "Quantity": n + 1} for n in range(3)]
                    done = service.Update(
                        SalesInvoice={"Key": created.Key, "SalesLines": {"Sales_Invoice_Line": lines}}
                    )
                    results.append((done.No, done.Row_Version))
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=work, args=(services[i], i)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        numbers = sorted(number for number, _ in results)
        assert numbers == [f"SI-{n:06d}" for n in range(1, 31)]  # no number handed out twice
        assert len({version for _, version in results}) == 30
        listing = sim.session().get("http://erp-sim.test/_sim/documents", params={"limit": 100}).json()
        assert {d["Lines"] for d in listing["documents"]} == {3}
        assert {d["Amount"] for d in listing["documents"]} == {"75"}  # (1 + 2 + 3) × 12.5
        assert sim.session().get("http://erp-sim.test/_sim/duplicates").json()["count"] == 0
    finally:
        sim.close()


class TestDemoSeed:
    def test_one_customer_per_erp_customer_number_and_items_from_operations_numbers(self, tmp_path: Path) -> None:
        dataset = build_demo_dataset()
        numbers = {
            link["customerNo"]
            for party in dataset["buyers"] + dataset["licensees"]
            for link in party.get("erpCustomers", [])
        }
        sim = ErpSimulator(settings_for(tmp_path / "demo.sqlite"))
        try:
            counts = seed_from_reference(sim, dataset)
            assert counts["customers"] == {"created": len(numbers), "updated": 0}
            assert counts["items"]["created"] == len({i["externalIds"]["operations"] for i in dataset["items"]})
            assert seed_from_reference(sim, dataset)["customers"] == {"created": 0, "updated": len(numbers)}
            buyer = dataset["buyers"][0]
            number = buyer["erpCustomers"][0]["customerNo"]
            customer = client(sim, "Customer").Read(No=number)
            assert (customer.Name, customer.City, customer.Country_Region_Code, customer.Payment_Terms_Code) == (
                buyer["name"],
                buyer["address"]["city"],
                buyer["address"]["country"],
                "30DAYS",
            )
            licensee = dataset["licensees"][0]["erpCustomers"][0]["customerNo"]
            item = dataset["items"][0]["externalIds"]["operations"]
            invoice = client(sim, "SalesInvoice")
            created = invoice.Create(SalesInvoice={"Sell_to_Customer_No": licensee, "Bill_to_Customer_No": number})
            lines = {"Sales_Invoice_Line": [{"Type": "Item", "No": item, "Quantity": 1, "Unit_Price": 100}]}
            done = invoice.Update(SalesInvoice={"Key": created.Key, "SalesLines": lines})
            assert done.SalesLines.Sales_Invoice_Line[0].Description == dataset["items"][0]["name"]
            assert done.Amount_Including_VAT == Decimal(121)  # the demo buyers are in AR: 21 %
        finally:
            sim.close()

    def test_records_fit_the_pages(self) -> None:
        dataset = build_demo_dataset(sellers=3, clients=6)
        for record in customers_from_reference(dataset):
            assert len(record["No"]) <= 20 and record["Country_Region_Code"]
        assert all(len(record["No"]) <= 20 for record in items_from_reference(dataset))


class TestSettings:
    def test_default_toml_lists_every_default(self) -> None:
        configured = tomllib.loads(DEFAULT_CONFIG.read_text())["erp_sim"]
        defaults = ErpSimSettings().model_dump(mode="json")
        for secret in ("password", "token", "admin_token"):
            assert defaults["auth"].pop(secret) is None
        assert defaults["clock"].pop("start") is None  # commented out: the first start's real time

        def missing(expected: dict, given: dict, prefix: str = "") -> list[str]:
            gaps = []
            for key, value in expected.items():
                if key not in given:
                    gaps.append(prefix + key)
                elif isinstance(value, dict) and key != "ops":
                    gaps += missing(value, given[key], f"{prefix}{key}.")
            return gaps

        assert missing(defaults, configured) == []
        assert ErpSimSettings.model_validate(configured) == ErpSimSettings()

    def test_environment_overrides(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BILLING_ERP_SIM__FAULTS__TIMEOUT_AFTER_COMMIT", "0.3")
        monkeypatch.setenv("BILLING_ERP_SIM__LIMITS__MAX_IN_FLIGHT", "9")
        settings = Settings().erp_sim
        assert settings.faults.timeout_after_commit == 0.3 and settings.limits.max_in_flight == 9

    def test_secrets_are_refused_in_files(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from billing.settings import ConfigurationError

        config = tmp_path / "bad.toml"
        config.write_text('[erp_sim.auth]\nadmin_token = "x"\n')
        monkeypatch.setenv("BILLING_CONFIG", str(config))
        with pytest.raises(ConfigurationError, match=r"erp_sim\.auth\.admin_token"):
            Settings()

    def test_auth_needs_its_secret_and_scopes_must_be_well_formed(self) -> None:
        with pytest.raises(ValueError, match="PASSWORD"):
            ErpSimSettings.model_validate({"auth": {"mode": "basic"}})
        with pytest.raises(ValueError, match="TOKEN"):
            ErpSimSettings.model_validate({"auth": {"mode": "bearer"}})
        with pytest.raises(ValueError, match="Service"):
            ErpSimSettings.model_validate({"faults": {"ops": {"Create": {"http_500": 1}}}})


class TestRequestLog:
    def test_buffered_rows_are_written_before_a_read_and_trimmed_beyond_max_rows(self, tmp_path: Path) -> None:
        store = Store(tmp_path / "erp.sqlite")
        for n in range(250):
            store.log_request({"service": "SalesInvoice", "operation": f"Op{n}"}, max_rows=100)
        store.flush_request_log(max_rows=100)
        with store.read() as tx:
            operations = [row[0] for row in tx.execute("SELECT operation FROM request_log ORDER BY id")]
        assert len(operations) <= 100 and operations[-1] == "Op249"  # the oldest dropped, none of the newest
        assert operations == [f"Op{n}" for n in range(250 - len(operations), 250)]

    def test_close_writes_what_is_buffered(self, tmp_path: Path) -> None:
        store = Store(tmp_path / "erp.sqlite")
        store.log_request({"service": "SalesInvoice", "operation": "Create"}, max_rows=100)
        store.close()
        reopened = Store(tmp_path / "erp.sqlite")
        with reopened.read() as tx:
            assert tx.execute("SELECT COUNT(*) FROM request_log").fetchone()[0] == 1
        reopened.close()
