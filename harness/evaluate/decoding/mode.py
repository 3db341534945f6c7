"""What a decoding mode is: how an example's candidate answers are drawn, and which one it keeps.

A mode is one module in this package and one entry in its `MODES`. It says which metric family its
answers need (the spec checks that before anything runs), the constraint it holds answers to (a
grammar per example, or none), whether tokens are the most likely ones or drawn (`Sampling`,
which also says how many candidates per example), and how one answer is chosen among an
example's candidates. Nothing here imports torch: `harness.evaluate.generation` decodes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, ClassVar

from harness.metrics import Family
from harness.results import Sampling, Vote

if TYPE_CHECKING:
    from harness.evaluate.constraints import Constraint
    from harness.spec import EvaluationSpec

# A candidate answer's text -> what it shares with the candidates that are the same answer (None: it cannot count)
AnswerKey = Callable[[str], Hashable | None]


class DecodingMode:
    """Greedy and unconstrained unless a mode says otherwise; one candidate per example, kept as is."""

    name: ClassVar[str]
    requires: ClassVar[Family | None] = None  # the metric family its answers need, if any
    requires_because: ClassVar[str] = ""  # why, for the spec's error: "holds answers to a SQL grammar"
    votes: ClassVar[bool] = False  # chooses among several candidates by what its examples' data says of them

    def constraint(self) -> Constraint | None:
        """What answers are held to, token by token; None: nothing."""
        return None

    def sampling(self, spec: EvaluationSpec) -> Sampling | None:
        """How tokens are drawn and how many candidates per example; None: one, each token the most likely."""
        return None

    def choose(self, candidates: list[str], same_answer: AnswerKey) -> tuple[int, Vote | None]:
        """The index of the candidate an example keeps, and the vote that chose it (None: no vote)."""
        return 0, None

    def candidates(self, spec: EvaluationSpec) -> int:
        """Candidate answers decoded per example."""
        sampling = self.sampling(spec)
        return sampling.samples if sampling else 1
