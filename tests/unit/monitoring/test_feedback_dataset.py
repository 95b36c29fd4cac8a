"""The feedback loop: labelled traffic, as capture and the join keep it, written as an upload that the
dataset's own contract accepts as a dataset version holding the values the clients sent; a contract
that requires a column the model never sees quarantines it with a report naming the column; a row
is written once (the watermark), and not before `feedback.min_rows` of them are waiting."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from mlops.datasets.versioning import column_mask
from mlops.monitoring.config import FeedbackConfig
from mlops.monitoring.feedback_dataset import (
    FeedbackColumn,
    FeedbackSchema,
    FeedbackSource,
    export_feedback,
    feedback_csv,
    feedback_due,
    new_rows,
)
from mlops.monitoring.join import join_hour
from mlops.monitoring.joined import JoinedHour
from mlops.monitoring.label_store import LabelBatch
from mlops.registry.feedback_exports import FeedbackExports, FeedbackWatermark
from mlops.registry.keys import FEEDBACK_WATERMARK_SK, model_pk
from tests.unit.monitoring.feedback_support import (
    DATASET,
    HOUR_MS,
    ID_FIELD,
    JOINED_UNTIL,
    LABELLED_MS,
    START,
    START_MS,
    Platform,
    contract,
    feedback_services,
    feedback_source,
    labelled,
    serve,
    served_table,
    table,
)

COLUMNS = ["age", "spend", "plan", "member", "seen", "churned"]


@pytest.mark.parametrize("label", ["int", "bool"])
def test_labelled_traffic_becomes_a_dataset_version_holding_what_the_clients_sent(
    label: str, registry_table: Any
) -> None:
    platform = Platform(contract(label), registry_table)
    assert platform.upload("visits.csv", table(label).csv).status == "accepted"
    assert len(platform.runs) == 1, "the contract's auto_train starts a run for the team's upload"
    source = feedback_source(label, labelled(label, range(400)))
    assert source.window is not None and source.window.size > 400, "shadow copies of some requests"

    outcome = export_feedback(feedback_services(platform), source)
    assert outcome.status == "written" and outcome.rows == 400, outcome.detail
    assert outcome.versions == (3,), "each row once, as the answering champion's, not the shadow's too"
    assert outcome.key == (f"raw/{DATASET}/feedback-{DATASET}-20261201T110000000Z-20261201T110000399Z.csv"), (
        "named by the first and last label's arrival"
    )
    body = platform.raw.objects[outcome.key]
    header, first_line = body.decode().splitlines()[:2]
    assert header.split(",") == COLUMNS, "the inputs as the dataset names them, then the label; no id, no date parts"

    ingested = platform.ingest(outcome.key)
    assert ingested.status == "accepted", ingested.first_failures
    assert ingested.rows == 400
    manifest, stored = platform.stored(str(ingested.version))
    assert [c.name for c in manifest.columns] == COLUMNS
    assert manifest.source.key == outcome.key
    original = served_table(label)[2]
    for name in COLUMNS:  # the table's rows, in the order their labels arrived (table order here)
        missing = column_mask(stored, name)
        assert missing.tolist() == column_mask(original, name).tolist(), name
        ours, theirs = stored[name][~missing], original[name][~missing]
        if ours.dtype.kind in "if":
            np.testing.assert_array_equal(ours.astype(np.float64), theirs.astype(np.float64), err_msg=name)
        else:
            assert ours.tolist() == theirs.tolist(), name
    assert stored["churned"].dtype.kind == ("i" if label == "int" else "b")
    first_label = table(label).labels[0]
    spelled = str(first_label).lower() if label == "bool" else str(first_label)
    assert first_line.rsplit(",", 1)[1] == spelled, "the label as the dataset spells it: true/false, or 0/1"
    assert len(platform.runs) == 1, "a feedback upload never starts the contract's auto_train run"


def test_a_contract_requiring_a_column_the_model_never_sees_quarantines_the_upload_naming_it(
    registry_table: Any,
) -> None:
    platform = Platform(contract(id_required=True), registry_table)
    outcome = export_feedback(feedback_services(platform), feedback_source("int", labelled("int", range(120))))
    assert outcome.status == "written"
    ingested = platform.ingest(str(outcome.key))
    assert ingested.status == "rejected" and platform.versions == {}
    report = json.loads(platform.artifacts.objects[str(ingested.report_key)])
    failed = [(r["column"], r["expectation"]) for r in report["results"] if not r["success"]]
    assert failed == [("visit_id", "column.required")]
    name = "feedback-visits-20261201T110000000Z-20261201T110000119Z.csv"
    assert any(k.endswith(f"/{name}") for k in platform.quarantine.objects), "the upload, in quarantine"
    [(_, body)] = platform.mail
    assert "visit_id" in body and str(outcome.key) in body


def test_the_id_field_requests_carried_travels_through_the_join_into_feedback_a_contract_requiring_it_accepts(
    registry_table: Any,
) -> None:
    """With `monitoring.performance.id_field: visit_id`, rows carry their visit id into predict; capture
    keeps it, the join (the platform's own `join_hour`) carries it, and the feedback upload writes it."""
    trained, _, _ = served_table("int")
    rows, truth = table("int").rows[:120], table("int").labels[:120]
    ids = [str(1000 + i) for i in range(120)]  # as the uploaded table numbers its visits
    traffic = serve(trained.served, rows, ids=ids)
    by_row = {row: key for key, row in traffic.table_rows.items()}
    labels = LabelBatch(
        model=DATASET,
        hour=START,
        request_ids=np.array([by_row[r][0] for r in range(120)], dtype=str),
        rows=np.array([by_row[r][1] for r in range(120)], dtype=np.int64),
        values=np.array([str(truth[r]) for r in range(120)], dtype=str),
        received_at=START + timedelta(hours=2),
        source="api key-1",
    )
    window = join_hour(DATASET, START, [labels], traffic.batches, joined_at=START + timedelta(hours=2))
    assert window.fields[ID_FIELD] == "categorical" and ID_FIELD not in trained.served.signature.field_names
    schema = FeedbackSchema.from_signature(trained.served.signature, model=DATASET, id_field=ID_FIELD)
    assert schema.columns[0].name == ID_FIELD

    platform = Platform(contract(id_required=True), registry_table)
    outcome = export_feedback(
        feedback_services(platform), FeedbackSource(window, schema, FeedbackConfig(), JOINED_UNTIL)
    )
    assert outcome.status == "written" and outcome.rows == 120, outcome.detail
    ingested = platform.ingest(str(outcome.key))
    assert ingested.status == "accepted", ingested.first_failures
    _, stored = platform.stored(str(ingested.version))
    assert stored[ID_FIELD].tolist() == [int(i) for i in ids], "every row under the visit id its request carried"


def test_fewer_new_rows_than_min_rows_write_nothing_and_wait_for_more(registry_table: Any) -> None:
    platform = Platform(contract(), registry_table)
    services = feedback_services(platform)
    early = labelled("int", range(30))
    waiting = export_feedback(services, feedback_source("int", early, min_rows=50))
    assert waiting.status == "too_few_rows" and waiting.rows == 30 and waiting.key is None
    assert "feedback.min_rows is 50" in waiting.detail
    assert platform.raw.objects == {} and FeedbackExports(registry_table).watermark(DATASET) is None
    later = early | labelled("int", range(30, 70), at_ms=LABELLED_MS + 1000)
    written = export_feedback(services, feedback_source("int", later, min_rows=50))
    assert written.status == "written" and written.rows == 70, "the rows that waited are written with the new ones"


def test_a_rerun_writes_nothing_new_and_later_labels_only_once(registry_table: Any) -> None:
    platform = Platform(contract(), registry_table)
    services = feedback_services(platform)
    labels = labelled("int", range(100))
    first = export_feedback(services, feedback_source("int", labels))
    assert first.status == "written" and first.rows == 100
    again = export_feedback(services, feedback_source("int", labels))
    assert again.status == "nothing_new" and again.key is None
    assert again.detail == f"no new labelled rows since the last feedback upload ({first.key})"
    # Later: 60 more rows labelled, and 5 earlier labels corrected (a later arrival for the same row).
    truth = table("int").labels
    corrected = {row: (1 - truth[row], LABELLED_MS + 5000 + row) for row in range(5)}
    later = labels | labelled("int", range(100, 160), at_ms=LABELLED_MS + 1000) | corrected
    second = export_feedback(services, feedback_source("int", later))
    assert second.status == "written" and second.rows == 65 and second.key != first.key
    assert platform.ingest(str(first.key)).status == "accepted"
    accepted = platform.ingest(str(second.key))
    assert accepted.status == "accepted" and accepted.rows == 65
    _, stored = platform.stored(str(accepted.version))
    assert stored["churned"][-5:].tolist() == [1 - truth[row] for row in range(5)], "the corrections, last"


def test_a_crash_before_the_watermark_writes_the_same_upload_again_and_no_second_version(
    registry_table: Any,
) -> None:
    platform = Platform(contract(), registry_table)
    services = feedback_services(platform)
    source = feedback_source("int", labelled("int", range(80)))
    first = export_feedback(services, source)
    body = platform.raw.objects[str(first.key)]
    assert platform.ingest(str(first.key)).status == "accepted"
    # As if the export died after its upload, before it moved the watermark.
    registry_table.delete_item(Key={"pk": model_pk(DATASET), "sk": FEEDBACK_WATERMARK_SK})
    again = export_feedback(services, source)
    assert again.key == first.key and platform.raw.objects[str(first.key)] == body, "same rows, same key, same bytes"
    assert platform.ingest(str(again.key)).status == "duplicate"
    assert len(platform.versions) == 1


def test_labels_not_yet_joined_everywhere_wait_for_the_next_run(registry_table: Any) -> None:
    platform = Platform(contract(), registry_table)
    services = feedback_services(platform)
    labels = labelled("int", range(60)) | labelled("int", range(60, 120), at_ms=START_MS + 4 * HOUR_MS)
    first = export_feedback(services, feedback_source("int", labels))  # joined until START + 3 h
    assert first.rows == 60
    second = export_feedback(services, feedback_source("int", labels, until=START + timedelta(hours=5)))
    assert second.status == "written" and second.rows == 60


def test_cells_are_written_as_the_contract_reads_each_type() -> None:
    """Each kind of captured value, spelled for the column's type (checked end to end above)."""
    window = JoinedHour(
        model="m",
        hour=START,
        request_ids=np.array(["a", "a", "b"]),
        rows=np.array([0, 1, 0]),
        versions=np.array([1, 1, 1]),
        variants=np.array(["champion"] * 3),
        predictions=np.array(["True", "False", "True"]),
        probabilities=None,
        labels=np.array(["True", "False", "True"]),
        answered_ms=np.array([1, 1, 2]),
        labelled_ms=np.array([5, 6, 7]),
        classes=["False", "True"],
        fields={"n": "numeric", "x": "numeric", "flag": "numeric", "city": "categorical"},
        inputs={
            "n": np.array([3.0, np.nan, -0.0]),
            "x": np.array([0.1, 1e20, 2.0**60]),
            "flag": np.array([1.0, 0.0, np.nan]),
            "city": np.array(["Lyon", "", "Saint-Denis, Réunion"]),
        },
        missing={"city": np.array([False, True, False])},
    )
    schema = FeedbackSchema(
        "m",
        "d",
        (
            FeedbackColumn("n", "int"),
            FeedbackColumn("x", "float"),
            FeedbackColumn("flag", "bool"),
            FeedbackColumn("city", "string"),
        ),
        "label",
        (False, True),
    )
    text = feedback_csv(new_rows(window, after_ms=None, until_ms=10), schema).decode()
    assert text.splitlines() == [
        "n,x,flag,city,label",
        "3,0.1,true,Lyon,true",
        ",1e+20,false,,false",
        '0,1.152921504606847e+18,,"Saint-Denis, Réunion",true',
    ]


def test_a_regression_target_is_written_as_its_number() -> None:
    window = JoinedHour(
        model="m",
        hour=START,
        request_ids=np.array(["a", "b"]),
        rows=np.array([0, 0]),
        versions=np.array([1, 1]),
        variants=np.array(["champion", "champion"]),
        predictions=np.array([150.0, 80.0]),
        probabilities=None,
        labels=np.array([151.0, 79.25]),
        answered_ms=np.array([1, 2]),
        labelled_ms=np.array([5, 6]),
        classes=None,
        fields={"bmi": "numeric"},
        inputs={"bmi": np.array([0.0616962065186885, -0.0514740612388061])},
        missing={},
    )
    schema = FeedbackSchema("m", "d", (FeedbackColumn("bmi", "float"),), "progression", None)
    text = feedback_csv(new_rows(window, after_ms=None, until_ms=10), schema).decode()
    assert text.splitlines() == ["bmi,progression", "0.0616962065186885,151", "-0.0514740612388061,79.25"]


def test_the_schedule_asks_for_an_export_every_days_after_the_last_one_written() -> None:
    mark = FeedbackWatermark(DATASET, LABELLED_MS, "raw/visits/feedback-a.csv", 80, JOINED_UNTIL.isoformat())
    weekly = FeedbackConfig(every_days=7)
    assert feedback_due(weekly, None, JOINED_UNTIL), "never written: now"
    assert not feedback_due(weekly, mark, JOINED_UNTIL + timedelta(days=6))
    assert feedback_due(weekly, mark, JOINED_UNTIL + timedelta(days=7))
    assert not feedback_due(FeedbackConfig(), None, JOINED_UNTIL), "no schedule: only drops write feedback"
