"""``RunJournal``: the append-only file of finished benchmark runs (the benches' resume tests drive it too)."""
import json
import math
import multiprocessing
import threading
import time

import pytest

from nni_effnas.run_journal import RunJournal, identity


def test_a_new_journal_writes_its_header_and_runs_read_back_as_strict_json(tmp_path):
    path = tmp_path / "deep" / "j.jsonl"
    book = RunJournal(path, "demo", {"budget": 1.5, "sizes": (1, 2)})
    stored = book.append("a", 0, identity("random", {}), {"value": math.nan, "curve": [1.0, math.inf]})
    assert stored == {"value": None, "curve": [1.0, None]}
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"journal": "demo", "settings": {"budget": 1.5, "sizes": [1, 2]}}
    again = RunJournal(path, "demo", {"budget": 1.5, "sizes": (1, 2)})  # tuples compare as they read back
    assert again.finished({"a": identity("random", {})}) == {("a", 0): stored}
    assert again.finished({}) == {("a", 0): stored}  # other labels are kept for a later run


def test_a_damaged_line_in_the_middle_is_an_error_not_a_silent_loss(tmp_path):
    path = tmp_path / "j.jsonl"
    book = RunJournal(path, "demo", {})
    book.append("a", 0, "x", {})
    book.append("a", 1, "x", {})
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{not json", lines[2]]) + "\n")
    with pytest.raises(ValueError, match=r"j.jsonl, line 2: not a JSON record; the journal is damaged"):
        RunJournal(path, "demo", {})


def test_another_kind_of_journal_or_another_file_is_refused_and_left_as_it_is(tmp_path):
    path = tmp_path / "j.jsonl"
    RunJournal(path, "bench search", {"a": 1})
    with pytest.raises(ValueError, match="is not a bench oneshot journal"):
        RunJournal(path, "bench oneshot", {})
    with open(path, "a") as handle:
        handle.write('{"label": "x", "se')  # a cut-off line, but the settings differ: nothing is touched
    before = path.read_text()
    with pytest.raises(ValueError, match="was written with a=1, this run has a=2"):
        RunJournal(path, "bench search", {"a": 2})
    assert path.read_text() == before
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nno newline at the end")
    with pytest.raises(ValueError, match="notes.txt is not a bench search journal"):
        RunJournal(notes, "bench search", {})
    assert notes.read_text() == "my notes\nno newline at the end"


def test_a_process_opening_a_shared_journal_waits_for_a_line_being_written(tmp_path):
    """Two benchmarks may share a journal (e.g. seed ranges run side by side). One that opens the file while
    another is writing a line must wait for the line, not drop it as cut off by a stop."""
    fcntl = pytest.importorskip("fcntl")
    path = tmp_path / "j.jsonl"
    RunJournal(path, "demo", {}).append("a", 0, "x", {"v": 1})
    line = json.dumps({"label": "a", "seed": 1, "identity": "x", "run": {"v": 2}}) + "\n"
    opened = []
    with open(path, "a") as writer:
        fcntl.flock(writer.fileno(), fcntl.LOCK_EX)  # the other process, in the middle of its append
        writer.write(line[:10])
        writer.flush()
        reader = threading.Thread(target=lambda: opened.append(RunJournal(path, "demo", {})))
        reader.start()
        time.sleep(0.3)  # without the lock the reader would now have cut the half line off
        assert not opened
        writer.write(line[10:])
        writer.flush()
    reader.join(10)
    assert opened and sorted(opened[0].finished({})) == [("a", 0), ("a", 1)]
    assert len(path.read_text().splitlines()) == 3


def test_processes_appending_to_one_journal_lose_no_line(tmp_path):
    path = tmp_path / "j.jsonl"
    RunJournal(path, "demo", {})
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_runs, args=(str(path), k)) for k in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    done = RunJournal(path, "demo", {}).finished({"a": "x"})
    assert sorted(done) == [("a", seed) for seed in range(60)]
    assert all(done[("a", seed)] == {"pad": "y" * 5000, "seed": seed} for seed in range(60))


def _append_runs(path: str, part: int) -> None:
    book = RunJournal(path, "demo", {})
    for seed in range(20 * part, 20 * part + 20):
        book.append("a", seed, "x", {"pad": "y" * 5000, "seed": seed})


@pytest.mark.parametrize("line", ['{"foo": 1}', "[1, 2]", '{"label": "a", "seed": "0", "run": {}}',
                                  '{"label": "a", "seed": 0, "run": [1]}'])
def test_a_line_that_is_not_a_run_record_is_a_damaged_journal(tmp_path, line):
    path = tmp_path / "j.jsonl"
    RunJournal(path, "demo", {})
    with open(path, "a") as handle:
        handle.write(line + "\n")
    with pytest.raises(ValueError, match=r"j.jsonl, line 2: not a run record \(label, seed, run\)"):
        RunJournal(path, "demo", {})


def test_a_binary_file_is_not_a_journal_and_is_left_alone(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ValueError, match="j.jsonl is not a demo journal"):
        RunJournal(path, "demo", {})
    assert path.read_bytes() == b"\xff\xfe\x00binary"
