from __future__ import annotations

import fcntl

import pytest

from chronos_sdk import NetworkError
from chronos_sdk.spool import Spool


def recs(*ids):
    return [{"kind": "execution", "data": {"execId": i}} for i in ids]


def ids(records):
    return [r["data"]["execId"] for r in records]


def test_appended_records_are_durable_and_in_order(tmp_path):
    spool = Spool(tmp_path)
    spool.append(recs("a", "b"))
    spool.append(recs("c"))
    spool.close()
    assert ids(Spool(tmp_path).pending()) == ["a", "b", "c"]


def test_a_half_written_line_is_skipped(tmp_path):
    spool = Spool(tmp_path)
    spool.append(recs("a", "b"))
    spool.close()
    seg = spool.segments()[0]
    with open(seg, "ab") as fh:
        fh.write(b'{"kind":"execution","data":{"execId":"tor')  # the crash happened here
    later = Spool(tmp_path)
    later.append(recs("c"))
    later.close()
    assert ids(Spool(tmp_path).pending()) == ["a", "b", "c"]


def test_a_damaged_line_in_the_middle_is_skipped(tmp_path):
    spool = Spool(tmp_path)
    spool.append(recs("a"))
    spool.close()
    with open(spool.segments()[0], "ab") as fh:
        fh.write(b'{"broken\n')
        fh.write(b'{"kind":"execution","data":{"execId":"b"}}\n')
    assert ids(Spool(tmp_path).pending()) == ["a", "b"]


def test_replay_sends_in_order_and_removes_only_after_success(tmp_path):
    spool = Spool(tmp_path)
    spool.append(recs("a", "b", "c"))
    spool.append(recs("d", "e"))
    sent = []
    assert spool.replay(lambda batch: sent.append(ids(batch)), batch_size=2) == 5
    assert sent == [["a", "b"], ["c", "d"], ["e"]]  # oldest first, lines in order
    assert spool.segments() == [] and not spool.has_pending()
    assert list(tmp_path.glob("*.ack")) == []


def test_a_failed_replay_keeps_what_was_not_acknowledged(tmp_path):
    spool = Spool(tmp_path)
    spool.append(recs("a", "b", "c", "d"))
    calls = []

    def flaky(batch):
        calls.append(ids(batch))
        if len(calls) == 2:
            raise NetworkError("server went away")

    with pytest.raises(NetworkError):
        spool.replay(flaky, batch_size=2)
    assert ids(spool.pending()) == ["c", "d"]
    sent = []
    spool.replay(lambda batch: sent.extend(ids(batch)), batch_size=2)
    assert sent == ["c", "d"] and not spool.has_pending()


def test_replay_skips_a_segment_another_process_is_writing(tmp_path):
    spool = Spool(tmp_path)
    spool.append(recs("a"))
    spool.close()
    seg = spool.segments()[0]
    with open(seg, "ab") as other_writer:
        fcntl.flock(other_writer.fileno(), fcntl.LOCK_EX)
        assert spool.replay(lambda batch: None) == 0
        assert spool.segments() == [seg]
    assert spool.replay(lambda batch: None) == 1


def test_a_full_spool_refuses_new_records(tmp_path):
    spool = Spool(tmp_path, max_bytes=200)
    assert spool.append(recs("a")) == 1
    assert spool.append(recs(*[str(i) for i in range(20)])) == 0
    assert ids(spool.pending()) == ["a"]
