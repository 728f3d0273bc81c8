"""Exact key names and query escaping: the places where one character is a bug."""
from __future__ import annotations

from chronos import keys, search


def test_key_names_are_exact():
    assert keys.job("u_1", "daily-report") == "chr:job:u_1:daily-report"
    assert keys.execution("u_1", "e-1") == "chr:exec:u_1:e-1"
    assert keys.series("u_1", "_all", "runs", "1h") == "chr:ts:u_1:_all:runs:1h"
    assert keys.events("u_1") == "chr:events:u_1"
    assert keys.apikey("ab12") == "chr:apikey:ab12"
    assert keys.user_by_email(" Bob@Example.COM ") == "chr:user:email:bob@example.com"
    assert keys.rate_limit("k_1", 42) == "chr:rl:k_1:42"
    assert (keys.ingest_queue(), keys.ingest_dead()) == ("chr:ingest:queue", "chr:ingest:dead")
    assert "::" not in keys.job("u", "j") + keys.series("u", "j", "runs", "1m")


def test_tag_values_are_escaped():
    assert search.tag("jobId", "a-b c") == r"@jobId:{a\-b\ c}"
    assert search.tag("status", ("success", "failed")) == "@status:{success | failed}"


def test_query_syntax_in_text_becomes_words():
    clause = search.text('@jobId:{*} -x | "y"', ["errorMessage"])
    assert clause == "@errorMessage:(jobId x y)"
    assert search.text("  ---  ") is None


def test_join_defaults_to_everything():
    assert search.join([None, ""]) == "*"
    assert search.join(["@a:{b}", None, "@c:[1 2]"]) == "@a:{b} @c:[1 2]"
