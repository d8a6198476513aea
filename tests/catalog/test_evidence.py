"""The evidence panels: ten answered criteria, each with a link; one published score rule;
the publisher's benchmark rows for the three seed models."""

from __future__ import annotations

import pytest

import rigfit
from rigfit.catalog.evidence import (
    ANSWER_POINTS,
    Answer,
    Criterion,
    CriterionAnswer,
    Evidence,
    transparency_score,
)
from rigfit.strict import RecordError, read

SEEDS = [
    "deepseek-ai/DeepSeek-R1",
    "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
]
LINK = "https://example.org/doc"


def _answers(answer: Answer = Answer.YES) -> list[dict[str, str]]:
    return [
        {"criterion": c.value, "answer": answer.value, "finding": "shown", "link": LINK}
        for c in Criterion
    ]


def _evidence(**kw: object) -> Evidence:
    data: dict[str, object] = {
        "release_source": LINK,
        "knowledge_cutoff_note": "not stated",
        "knowledge_cutoff_source": LINK,
        "transparency": _answers(),
        **kw,
    }
    return read(Evidence, data)


def test_score_rule_is_ten_five_zero() -> None:
    assert ANSWER_POINTS == {Answer.YES: 10, Answer.PARTLY: 5, Answer.NO: 0}
    assert _evidence().score == 100
    mixed = _answers(Answer.NO)
    mixed[0]["answer"] = "yes"
    mixed[1]["answer"] = "partly"
    assert _evidence(transparency=mixed).score == 15


def test_every_criterion_answered_once() -> None:
    with pytest.raises(RecordError, match="missing: tokenizer"):
        _evidence(transparency=[a for a in _answers() if a["criterion"] != "tokenizer"])
    doubled = _answers()
    doubled[2] = dict(doubled[1])
    with pytest.raises(RecordError, match="missing"):
        _evidence(transparency=doubled)
    with pytest.raises(RecordError, match="one is repeated"):
        _evidence(transparency=[*_answers(), _answers()[0]])


def test_an_answer_needs_a_link_and_a_known_value() -> None:
    bad = _answers()
    bad[0]["link"] = "not a url"
    with pytest.raises(RecordError):
        _evidence(transparency=bad)
    bad = _answers()
    bad[0]["answer"] = "mostly"
    with pytest.raises(RecordError):
        _evidence(transparency=bad)


def test_benchmarks_need_their_setting_and_source() -> None:
    row = {"benchmark": "MATH-500", "metric": "pass@1", "score": 97.3}
    with pytest.raises(RecordError, match="benchmark_setting"):
        _evidence(benchmarks=[row])
    ok = _evidence(benchmarks=[row], benchmark_setting="t=0.6", benchmark_source=LINK)
    assert ok.benchmarks[0].score == 97.3


@pytest.mark.parametrize("model_id", SEEDS)
def test_seed_models_carry_sourced_evidence(model_id: str) -> None:
    rec = rigfit.get_model(model_id).record
    ev = rec.evidence
    assert ev is not None
    assert {a.criterion for a in ev.transparency} == set(Criterion)
    assert all(str(a.link).startswith("https://") for a in ev.transparency)
    assert ev.score == transparency_score(ev.transparency)
    assert ev.benchmarks
    assert ev.benchmark_source
    assert ev.benchmark_setting
    # public pages are named by site and linked, never by an internal file id
    for d in rec.disagreements:
        assert "seed" not in d.page
        assert str(d.url).startswith("https://")


def test_seed_scores_match_the_card() -> None:
    """Spot checks against the card's tables (DeepSeek-R1 README at 0cf7856, section 4)."""
    r1 = rigfit.get_model("deepseek-r1").record.evidence
    assert r1 is not None
    scores = {(b.benchmark, b.metric): b.score for b in r1.benchmarks}
    assert scores[("MATH-500", "Pass@1")] == 97.3
    assert scores[("AIME 2024", "Pass@1")] == 79.8
    assert scores[("Codeforces", "Rating")] == 2029
    q7 = rigfit.get_model("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B").record.evidence
    assert q7 is not None
    assert [b.score for b in q7.benchmarks] == [55.5, 83.3, 92.8, 49.1, 37.6, 1189]


def test_criterion_answer_is_strict() -> None:
    with pytest.raises(RecordError):
        read(
            CriterionAnswer,
            {"criterion": "tokenizer", "answer": "yes", "finding": "", "link": LINK},
        )
