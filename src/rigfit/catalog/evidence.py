"""What a model's publisher discloses, each answer with the link that shows it.

The seed model pages carry a benchmark table and a ten-criterion "transparency score" whose
answers have no links and whose rule is unpublished. rigfit's catalog answers the same ten
questions from documents anyone can open: each criterion is answered yes, partly or no, with a
one-line finding and the link to the document that shows it, and the score is derived from the
answers by one published rule (:func:`transparency_score`, docs/evidence.md).

Benchmark rows are the publisher's own scores, copied from the model card or the paper with the
evaluation setting they state; rigfit runs no benchmark and invents none.
"""

from __future__ import annotations

from enum import StrEnum

from rigfit import strict
from rigfit.catalog.url import Url
from rigfit.strict import Record, record

__all__ = [
    "ANSWER_POINTS",
    "Answer",
    "BenchmarkScore",
    "Criterion",
    "CriterionAnswer",
    "Evidence",
    "transparency_score",
]


class Criterion(StrEnum):
    """The seed pages' ten criteria, each as a question a document can answer."""

    ARCHITECTURE = "architecture provenance"
    DATASET = "dataset composition"
    TOKENIZER = "tokenizer"
    PARAMETERS = "parameter density"
    COMPUTE = "training compute"
    BENCHMARKS = "benchmark reproducibility"
    IDENTITY = "identity"
    LICENSE = "license clarity"
    HARDWARE = "hardware footprint"
    VERSIONING = "versioning"

    @property
    def question(self) -> str:
        return _QUESTIONS[self]


_QUESTIONS: dict[Criterion, str] = {
    Criterion.ARCHITECTURE: "Are the architecture's exact shapes and its base model published?",
    Criterion.DATASET: "Are the training data's sources and sizes published?",
    Criterion.TOKENIZER: "Is the tokenizer published with the weights?",
    Criterion.PARAMETERS: "Does the publisher state the total (and, for MoE, active) parameters?",
    Criterion.COMPUTE: "Does the publisher state the training compute (hardware and hours)?",
    Criterion.BENCHMARKS: "Are the scores published with their evaluation setting and code?",
    Criterion.IDENTITY: "Do the card, the paper and the weights name the same model?",
    Criterion.LICENSE: "Is one license stated for the weights, with nothing else to reconcile?",
    Criterion.HARDWARE: "Does the publisher state the memory or hardware it needs to run?",
    Criterion.VERSIONING: "Are updates published as new versions with what changed?",
}


class Answer(StrEnum):
    YES = "yes"
    PARTLY = "partly"
    NO = "no"


# The published rule (docs/evidence.md): 10 points for yes, 5 for partly, 0 for no, so ten
# criteria give a score out of 100. Equal weights: rigfit has no evidence that one criterion
# matters more than another, and an unweighted rule can be checked by hand.
ANSWER_POINTS: dict[Answer, int] = {Answer.YES: 10, Answer.PARTLY: 5, Answer.NO: 0}


@record
class CriterionAnswer(Record):
    criterion: Criterion
    answer: Answer
    finding: str = strict.field(min_length=1, description="one line: what the document shows")
    link: Url = strict.field(description="the document that shows it")


@record
class BenchmarkScore(Record):
    """One published score, as the publisher prints it."""

    benchmark: str
    metric: str
    score: float
    unit: str = strict.field(default="%", description="'%' for percentages, or e.g. 'rating'")


@record
class Evidence(Record):
    """A model's benchmark table, release and knowledge cutoff, and transparency answers."""

    benchmarks: tuple[BenchmarkScore, ...] = ()
    benchmark_setting: str | None = None
    benchmark_source: Url | None = None
    release_source: Url = strict.field(description="where the release date is shown")
    knowledge_cutoff: str | None = strict.field(
        default=None, description="as the publisher states it; None when it states none"
    )
    knowledge_cutoff_note: str = strict.field(
        min_length=1, description="where the cutoff is stated, or where it was looked for"
    )
    knowledge_cutoff_source: Url
    transparency: tuple[CriterionAnswer, ...]

    def __post_init__(self) -> None:
        if self.benchmarks and (self.benchmark_setting is None or self.benchmark_source is None):
            raise ValueError("benchmarks need benchmark_setting and benchmark_source")
        seen = [a.criterion for a in self.transparency]
        missing = [c.value for c in Criterion if c not in seen]
        if missing or len(seen) != len(Criterion):
            raise ValueError(
                "transparency answers each of the ten criteria once"
                + (f" (missing: {', '.join(missing)})" if missing else " (one is repeated)")
            )

    @property
    def score(self) -> int:
        return transparency_score(self.transparency)


def transparency_score(answers: tuple[CriterionAnswer, ...]) -> int:
    """Points out of 100: the sum of :data:`ANSWER_POINTS` over the ten answers.

    >>> link = "https://example.org/"
    >>> transparency_score(tuple(
    ...     CriterionAnswer(criterion=c, answer=Answer.PARTLY, finding="x", link=link)
    ...     for c in Criterion))
    50
    """
    return sum(ANSWER_POINTS[a.answer] for a in answers)
