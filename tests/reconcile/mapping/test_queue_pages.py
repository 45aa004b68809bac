"""`mapping.queue` pages in SQL: newest first, counted, filtered by state, type and text
(any case), the same answers the whole-queue scan gave."""

from __future__ import annotations

from typing import Any

from tbot.reconcile.mapping.service import stored_suggestions


def test_pages_filters_and_totals(faulty_home: Any, cash_day: Any, recon_of: Any,
                                  mapping_of: Any) -> None:
    recon = recon_of(faulty_home)
    for day in range(3):  # one unknown fee a day
        cash_day(faulty_home, day)
        recon.sync()
    mapping = mapping_of(faulty_home)

    everything = mapping.queue(limit=10)
    assert everything["total"] == 3
    newest_first = [item["occurred_at"] for item in everything["items"]]
    assert newest_first == sorted(newest_first, reverse=True)

    first, second = mapping.queue(limit=2), mapping.queue(limit=2, offset=2)
    assert [i["id"] for i in first["items"] + second["items"]] == [
        i["id"] for i in everything["items"]]
    assert (first["total"], second["total"], len(second["items"])) == (3, 3, 1)

    assert mapping.queue(activity_type="miscfee")["total"] == 3
    assert mapping.queue(activity_type="DIV")["total"] == 0
    word = everything["items"][0]["description"].split()[0].upper()
    assert mapping.queue(search=word)["total"] == 3
    assert mapping.queue(search="no such words")["total"] == 0
    newest = everything["items"][0]
    assert [i["id"] for i in mapping.queue(search=newest["broker_id"].lower())["items"]] == [
        newest["id"]]

    mapping.assign(newest["id"], "5045", reason="a regulatory fee")
    assert mapping.queue()["total"] == 2
    mapped = mapping.queue(state="mapped")
    assert mapped["total"] == 1
    assert mapping.queue(state="all")["total"] == 3


def test_kept_suggestions_have_numbers_for_scores_like_live_ones() -> None:
    kept = [{"account": "5045", "confidence": "0.6667", "posterior": "0.9", "reasons": ["x"]},
            {"account": "5070", "confidence": None, "name": "0.5"}]
    assert stored_suggestions(kept) == [
        {"account": "5045", "confidence": 0.6667, "posterior": 0.9, "reasons": ["x"]},
        {"account": "5070", "confidence": None, "name": "0.5"}]
