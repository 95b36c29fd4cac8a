"""Batch scoring in parts: a file past the threshold, scored slice by slice through the state machine's
steps, writes the same parts and `_SUCCESS.json`, byte for byte, as one invocation writes for the same
file, however it is sliced (quoted newlines, blank lines, bad rows, JSON Lines, gzip split first);
every child uses the version pinned at the start; a failed part fails the file naming the part."""

from __future__ import annotations

import csv
import gzip
import io
import json
from typing import Any

import numpy as np
import pytest

from mlops.record_cuts import RecordCuts
from mlops.serving.batch import BatchUpload, score_upload
from mlops.serving.batch import parts as steps
from mlops.serving.models import ServedVersion, load_version
from tests.unit.serving.parts_support import MemoryBucket, PartsMachine, resolver, score_in_parts
from tests.unit.serving.support import Registered, breast_cancer

KEY = "batch/breast-cancer/ward.csv"
PREFIX = "batch/breast-cancer/ward.predictions/"
TIMING = ("seconds", "finished_at")  # when it ran: the only fields that differ between two runs


def _served(registered: Registered) -> ServedVersion:
    return load_version(registered.record["model"], registered.model_version, registered.artifacts.__getitem__)


def _records(count: int) -> list[dict[str, Any]]:
    registered = breast_cancer()
    rows = np.resize(registered.prepared.splits.rows_test, count)
    return registered.records(rows)


def ward_csv(count: int = 150) -> bytes:
    """A file as a hospital exports it: an id, a note that is often quoted with newlines, commas and
    doubled quotes in it, blank lines between some rows, a cell of text where a number belongs and a
    ragged row."""
    records = _records(count)
    notes = ["plain", 'said "no"\nthen left', "line one\nline two", "a, b", ""]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = list(records[0])
    writer.writerow(["id", "note", *columns])
    for i, record in enumerate(records):
        values = [repr(v) for v in record.values()]
        if i == 40:
            values[0] = "n/a"
        if i == 77:
            values = values[:-1]
        writer.writerow([f"p-{i}", notes[i % len(notes)], *values])
        if i % 23 == 0:
            out.write("\n")
    return out.getvalue().encode()


def ward_jsonl(count: int = 120) -> bytes:
    """JSON Lines whose rows add columns the model ignores as they go, with blank and broken lines."""
    lines = []
    for i, record in enumerate(_records(count)):
        extra = {f"extra_{i // 10}": i} if i % 10 == 3 else {}
        lines.append(json.dumps({"row_id": i, **record, **extra}))
        if i == 55:
            lines.append("{not json")
        if i % 17 == 0:
            lines.append("   ")
    return ("\n".join(lines) + "\n").encode()


def single(data: bytes, key: str = KEY, chunk_rows: int = 7) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The outputs one invocation writes: its parts, and its `_SUCCESS.json` without the timing."""
    bucket = MemoryBucket()
    outcome = score_upload(bucket.upload(key, data), bucket, resolver(_served(breast_cancer())), chunk_rows=chunk_rows)
    assert outcome.status == "scored", outcome.summary
    return _outputs(bucket, key)


def in_parts(
    data: bytes, slice_bytes: int, key: str = KEY, chunk_rows: int = 7
) -> tuple[dict[str, bytes], dict[str, Any], PartsMachine]:
    served = _served(breast_cancer())
    machine = PartsMachine(MemoryBucket(), MemoryBucket(), {1: served}, slice_bytes)
    outcome = score_in_parts(machine, machine.raw.upload(key, data), served, chunk_rows=chunk_rows)
    assert outcome.status == "scored", outcome.summary
    parts, success = _outputs(machine.raw, key)
    return parts, success, machine


def _outputs(bucket: MemoryBucket, key: str) -> tuple[dict[str, bytes], dict[str, Any]]:
    prefix = key.rsplit(".", 2 if key.endswith(".gz") else 1)[0] + ".predictions/"
    found = bucket.under(prefix)
    success = json.loads(found.pop(prefix + "_SUCCESS.json"))
    success["source"].pop("version_id")  # each bucket numbers its own versions
    return found, {k: v for k, v in success.items() if k not in TIMING}


# -- byte-identical to one invocation -----------------------------------------------------------------


@pytest.mark.parametrize("slice_bytes", [900, 2_500, 7_000, 1_000_000])
def test_a_csv_scored_in_parts_is_byte_identical_to_one_invocation_however_it_is_sliced(slice_bytes: int) -> None:
    data = ward_csv()
    parts, success, machine = in_parts(data, slice_bytes)
    expected_parts, expected_success = single(data)
    assert parts == expected_parts and success == expected_success
    assert success["rows"] == 150 and success["rows_with_errors"] == 2 and success["ignored_columns"] == ["note"]
    assert len(parts) == 22  # 150 rows in parts of 7: part boundaries by row count, not by slice
    slices = len(machine.work.text(f"{steps.WorkFolder(machine.runs[0]).prefix}slices.jsonl").splitlines())
    if slice_bytes < len(data):  # cut where asked: each slice at least `slice_bytes`, whole records
        assert 1 < slices <= len(data) // slice_bytes + 1
    else:
        assert slices == 1


def test_row_numbers_and_ids_run_on_across_slices() -> None:
    parts, _, _ = in_parts(ward_csv(), 900)
    rows = [row for body in parts.values() for row in csv.DictReader(io.StringIO(body.decode()))]
    assert [int(r["row"]) for r in rows] == list(range(1, 151))
    assert [r["id"] for r in rows] == [f"p-{i}" for i in range(150)]
    assert rows[40]["error"].startswith("mean_radius: expected a number")


def test_json_lines_in_parts_name_the_ignored_columns_in_the_order_one_reader_finds_them() -> None:
    data = ward_jsonl()
    parts, success, _ = in_parts(data, 1_500, key="batch/breast-cancer/ward.jsonl")
    assert (parts, success) == single(data, key="batch/breast-cancer/ward.jsonl")
    assert success["ignored_columns"] == [f"extra_{i}" for i in range(12)] and success["rows_with_errors"] == 1


def test_a_gzip_input_is_split_into_plain_pieces_first_and_scores_identically() -> None:
    plain = ward_csv()
    data = gzip.compress(plain, mtime=0)
    parts, success, machine = in_parts(data, 2_000, key="batch/breast-cancer/ward.csv.gz")
    assert (parts, success) == single(data, key="batch/breast-cancer/ward.csv.gz")
    pieces = machine.work.under(f"{steps.WorkFolder(machine.runs[0]).prefix}pieces/")
    assert len(pieces) > 5 and b"".join(pieces.values()) == plain, "plain pieces, whole records, in order"
    jsonl = gzip.compress(ward_jsonl(), mtime=0)
    parts, success, _ = in_parts(jsonl, 2_000, key="batch/breast-cancer/night.jsonl.gz")
    assert (parts, success) == single(jsonl, key="batch/breast-cancer/night.jsonl.gz")


def test_an_empty_file_past_the_threshold_gets_its_header_part_as_one_invocation_writes() -> None:
    data = b"id," + ",".join(_records(1)[0]).encode() + b"\n"
    assert in_parts(data, 100)[:2] == single(data)


# -- the cut and the numbering ---------------------------------------------------------------------


def test_the_streaming_cutter_finds_the_cuts_the_whole_file_plan_finds() -> None:
    data = ward_csv()
    whole = RecordCuts(1_000)
    expected = whole.feed(data)
    streamed = RecordCuts(1_000)
    found = [cut for start in range(0, len(data), 333) for cut in streamed.feed(data[start : start + 333])]
    assert found == expected and streamed.header_stop == whole.header_stop
    assert all(data[: cut.offset].count(b'"') % 2 == 0 for cut in found)
    line = b'{"a": "say \\"hi\\""}\n'  # an odd number of quote characters on every line
    json_cuts = RecordCuts(500, quoted=False).feed(line * 100)
    assert json_cuts and all(cut.offset % len(line) == 0 for cut in json_cuts), "JSON Lines: any newline ends one"


def test_each_part_goes_to_the_slice_its_first_row_is_in_and_reads_on_into_the_next() -> None:
    run = steps.PartsRun("r", BatchUpload("raw", KEY, "v1"), 1, "sha", 10, 0.0, 1_000)
    work = MemoryBucket()
    services = steps.PartsServices(MemoryBucket(), MemoryBucket(), work, lambda m, v: _served(breast_cancer()))
    folder = steps.WorkFolder(run)
    slices = [steps.InputSlice(i, KEY, i * 100, i * 100 + 100, KEY, 10) for i in range(4)]
    work.put(folder.slices, b"".join(json.dumps(s.__dict__).encode() + b"\n" for s in slices), "")
    for index, rows in enumerate([14, 0, 3, 20]):  # 37 rows: parts of rows 1-10, 11-20, 21-30, 31-37
        work.put(folder.count(index), json.dumps({"rows": rows}).encode(), "")
    numbered = steps.number(run, 4, services)
    assert (numbered.rows, numbered.parts, numbered.items) == (37, 4, 2)
    items = [steps.ScoreItem.from_json(json.loads(line)) for line in work.text(numbered.items_key).splitlines()]
    shape = [(i.first_part, i.parts, i.rows_before, i.skip, [s.index for s in i.slices]) for i in items]
    # Slice 0 owns parts 0 and 1 (rows 1-20: its 14, then slice 2's 3 and 3 of slice 3's, through the
    # empty slice 1); slice 3 owns parts 2 and 3 (rows 21-37), skipping its first 3 rows, part 1's.
    assert shape == [(0, 2, 0, 0, [0, 1, 2, 3]), (2, 2, 17, 3, [3])]


# -- pinning ---------------------------------------------------------------------------------------


def test_a_promotion_while_a_file_is_scored_does_not_mix_versions() -> None:
    first, second = _served(breast_cancer(1)), _served(breast_cancer(2))
    data = ward_csv()
    machine = PartsMachine(MemoryBucket(), MemoryBucket(), {1: first, 2: second}, 2_000)
    promoted = {"champion": first}
    started = score_upload(
        machine.raw.upload(KEY, data),
        machine.raw,
        lambda model: promoted["champion"],
        chunk_rows=7,
        parts=machine.routing(),
    )
    machine.before_children = lambda: promoted.update(champion=second)  # promoted once the plan is done
    outcome = machine.run(machine.runs[0])
    assert outcome.status == "scored" and outcome.version == 1
    assert set(machine.loads) == {1}, "every child loaded the pinned version, by number"
    assert _outputs(machine.raw, KEY) == single(data), "all parts scored by v1, as one invocation by v1 scores them"
    assert started.version == 1 and single(data)[0] != _score_with(second, data)


def _score_with(served: ServedVersion, data: bytes) -> dict[str, bytes]:
    bucket = MemoryBucket()
    score_upload(bucket.upload(KEY, data), bucket, resolver(served), chunk_rows=7)
    return _outputs(bucket, KEY)[0]


def test_a_child_that_finds_another_artifact_under_the_pinned_number_fails_its_part() -> None:
    first, second = _served(breast_cancer(1)), _served(breast_cancer(2))
    machine = PartsMachine(MemoryBucket(), MemoryBucket(), {1: first}, 2_000)
    started = score_upload(
        machine.raw.upload(KEY, ward_csv()), machine.raw, resolver(first), chunk_rows=7, parts=machine.routing()
    )
    assert started.status == "in_parts"
    machine.versions[1] = second  # v1's artifact replaced after the run pinned its sha256
    outcome = machine.run(machine.runs[0])
    assert outcome.status == "failed" and "the run pinned" in outcome.summary
    assert PREFIX + "_SUCCESS.json" not in machine.raw.objects


# -- failures --------------------------------------------------------------------------------------


def test_a_failed_part_fails_the_file_naming_the_part_and_no_success_marker_is_written() -> None:
    served = _served(breast_cancer())
    machine = PartsMachine(MemoryBucket(), MemoryBucket(), {1: served}, 2_000)
    machine.raw.fail_on = "part-00004.csv"
    outcome = score_in_parts(machine, machine.raw.upload(KEY, ward_csv()), served, chunk_rows=7)
    assert outcome.status == "failed"
    failed = json.loads(machine.raw.text(PREFIX + "_FAILED.json"))
    assert failed["code"] == "internal_error" and "part-00004.csv" in failed["message"]
    assert "rows from 29" in failed["message"] and "S3 is unreachable" in failed["message"]
    assert PREFIX + "_SUCCESS.json" not in machine.raw.objects
    # What the children wrote before it is listed as written, as one invocation lists its parts so far.
    written = sorted(k for k in machine.raw.objects if k.startswith(PREFIX + "part-"))
    assert failed["parts"] == written and PREFIX + "part-00004.csv" not in written
    assert failed["rows"] == 7 * len(written) and failed["status"] == "failed"


def _broken_in_the_middle(rows: int = 300) -> tuple[bytes, int]:
    """A ward export whose middle row holds a field past the csv module's limit (131,072 characters):
    the file cannot be read past the row before it, which is returned."""
    lines = ward_csv(rows).split(b"\n")
    middle = len(lines) // 2
    lines[middle] = b"x" * 140_000 + lines[middle]
    data = b"\n".join(lines)
    bucket = MemoryBucket()
    alone = score_upload(bucket.upload(KEY, data), bucket, resolver(_served(breast_cancer())), chunk_rows=7)
    assert alone.status == "failed" and alone.summary.startswith("malformed_csv: after row ")
    return data, int(alone.summary.split("after row ")[1].split()[0])


def test_a_slice_that_cannot_be_read_fails_the_file_at_the_row_and_part_one_invocation_names() -> None:
    data, row = _broken_in_the_middle()
    served = _served(breast_cancer())
    machine = PartsMachine(MemoryBucket(), MemoryBucket(), {1: served}, 2_000)
    outcome = score_in_parts(machine, machine.raw.upload(KEY, data), served, chunk_rows=7)
    assert outcome.status == "failed"
    failed = json.loads(machine.raw.text(PREFIX + "_FAILED.json"))
    assert failed["code"] == "malformed_csv"
    part = row // 7  # the row after `row` is the one that breaks: its part is named
    assert failed["message"].startswith(f"part-{part:05d}.csv (rows from {part * 7 + 1}), bytes ")
    assert f"of ward.csv: after row {row} the CSV cannot be read: field larger than field limit" in failed["message"]
    assert PREFIX + "_SUCCESS.json" not in machine.raw.objects and failed["parts"] == []


def test_a_broken_slice_counted_before_the_slices_ahead_of_it_names_its_own_row() -> None:
    data, row = _broken_in_the_middle()
    served = _served(breast_cancer())
    machine = PartsMachine(MemoryBucket(), MemoryBucket(), {1: served}, 2_000)
    score_upload(machine.raw.upload(KEY, data), machine.raw, resolver(served), chunk_rows=7, parts=machine.routing())
    run, services = machine.runs[0], machine.services
    planned = steps.plan(run, services)
    listed = [steps.InputSlice(**json.loads(line)) for line in machine.work.text(planned.items_key).splitlines()]
    broken = next(piece for piece in listed if piece.stop - piece.start > 140_000)
    with pytest.raises(Exception, match="field larger than field limit"):
        steps.count(run, broken, services)  # the Map stopped before the slices ahead of it were counted
    error = {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "a child failed"}
    outcome = steps.finish(run, steps.FinishInput(slices=planned.slices, error=error), services)
    # The file's row is unknown without the earlier slices' rows: the slice's own row, and its bytes.
    rows_before = sum(1 for line in data[: broken.start].split(b"\n")[1:] if line.startswith(b"p-"))
    where = f"bytes {broken.start}-{broken.stop - 1} of ward.csv"
    assert outcome.summary == (
        f"malformed_csv: {where}: after its row {row - rows_before} the CSV cannot be read: "
        "field larger than field limit (131072)"
    )


def test_a_corrupt_gzip_member_fails_the_split_saying_how_far_it_read() -> None:
    plain = ward_csv(300)
    lines = plain.split(b"\n")
    thirds = [b"\n".join(lines[:100]) + b"\n", b"\n".join(lines[100:200]) + b"\n", b"\n".join(lines[200:])]
    members = [bytearray(gzip.compress(third, mtime=0)) for third in thirds]
    members[1][-8] ^= 0xFF  # the middle member's CRC-32: its data cannot be trusted
    served = _served(breast_cancer())
    machine = PartsMachine(MemoryBucket(), MemoryBucket(), {1: served}, 2_000)
    name = "batch/breast-cancer/ward.csv.gz"
    outcome = score_in_parts(machine, machine.raw.upload(name, b"".join(members)), served, chunk_rows=7)
    read = len(thirds[0]) + len(thirds[1])
    assert outcome.status == "failed" and outcome.summary == (
        f"corrupt_gzip: after line 200 (byte {read:,} decompressed) the gzip stream is corrupt or truncated: "
        "CRC check failed 0x" + outcome.summary.split("CRC check failed 0x")[1]
    )
    assert "batch/breast-cancer/ward.predictions/_SUCCESS.json" not in machine.raw.objects


def test_files_that_cannot_be_scored_fail_in_the_plan_as_one_invocation_fails_them() -> None:
    served = _served(breast_cancer())
    for data, code in [(b"id,x\n1,2\n" * 50, "missing_columns"), (gzip.compress(ward_csv())[:-40], "corrupt_gzip")]:
        name = KEY if code != "corrupt_gzip" else "batch/breast-cancer/ward.csv.gz"
        machine = PartsMachine(MemoryBucket(), MemoryBucket(), {1: served}, 500)
        outcome = score_in_parts(machine, machine.raw.upload(name, data), served, chunk_rows=7)
        assert outcome.status == "failed" and outcome.summary.startswith(code), outcome.summary
        if code == "missing_columns":
            bucket = MemoryBucket()
            alone = score_upload(bucket.upload(name, data), bucket, resolver(served))
            assert outcome.summary == alone.summary, "the same code and words as one invocation"


def test_a_big_csv_whose_quotes_never_close_is_refused_not_cut_by_a_guess() -> None:
    served = _served(breast_cancer())
    machine = PartsMachine(MemoryBucket(), MemoryBucket(), {1: served}, 2_000)
    data = ward_csv() + b'p-x,"never closed,' + b"1," * 29 + b"1\n"
    outcome = score_in_parts(machine, machine.raw.upload(KEY, data), served, chunk_rows=7)
    assert outcome.status == "failed" and outcome.summary.startswith("unsplittable_csv: ward.csv: it has an odd")


def test_files_up_to_the_threshold_keep_the_one_invocation_path() -> None:
    served = _served(breast_cancer())
    machine = PartsMachine(MemoryBucket(), MemoryBucket(), {1: served}, 2_000)
    data = ward_csv(20)
    outcome = score_upload(
        machine.raw.upload(KEY, data), machine.raw, resolver(served), chunk_rows=7, parts=machine.routing(len(data))
    )
    assert outcome.status == "scored" and not machine.runs
    bigger = machine.raw.upload(KEY, data + data.split(b"\n", 1)[1])
    started = score_upload(bigger, machine.raw, resolver(served), chunk_rows=7, parts=machine.routing(len(data)))
    assert started.status == "in_parts" and machine.runs[0].previous_parts == 3
    assert PREFIX + "_SUCCESS.json" not in machine.raw.objects, "the earlier marker goes when the run starts"
