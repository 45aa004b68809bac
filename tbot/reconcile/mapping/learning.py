"""The learned layer: counter-account suggestions from the operator decision history.

The model is multinomial naive Bayes over `MappingRecord.tokens()`, rebuilt from the
decisions that still count (the caller leaves out undone and superseded ones). Nothing is
updated in place, so undoing a decision un-learns it: the next build simply never sees it,
unlike GnuCash's matcher whose counts only grow. Every suggestion names the tokens that
weighed most and the decisions it rests on, and every model names itself (`fingerprint`),
so a learned posting can always say which history decided it.

Confidence is ``min(tempered posterior, evidence bound)``, because either one alone lies:

- *Tempered posterior.* A record's tokens are far from independent (``type=FEE``,
  ``sign=-``, ``type_sign=FEE-`` and the subtype say much the same thing), so the plain
  naive-Bayes posterior counts one piece of evidence several times and is near 1.0 after a
  single decision. The log-joint of every account is therefore scaled by ``1/√m`` (m: the
  record's tokens the model knows), as if the m correlated tokens were worth about √m
  independent ones. On the held-out fifth of `benchmarks/mapping.py` the untempered
  posterior said 0.997 where 92.5% were right; the ``1/m`` scale (a geometric mean: one
  token's worth) left 91% of records below 0.5, well-known kinds included; ``1/√m`` was
  close at the top (0.98 said, 0.97 right; 0.93 said, 0.91 right) and cautious below. The
  scale is common to all accounts, so the order of the posteriors is plain naive Bayes's;
  only their spread shrinks. Accounts that may no longer take postings keep their share of
  the mass: a closed account's likelihood is doubt, not evidence for the others.
- *Evidence bound.* A posterior says what the tokens look like, not how often the operator
  has actually confirmed this answer for this kind of record. The bound is Laplace's rule
  of succession over the decisions of the record's *kind* (same ``broker=``,
  ``type_sign=`` and ``subtype=`` tokens): ``(agree + 1) / (n + 2)``, the expected chance
  that the next such decision agrees. One decision gives 2/3, two give 3/4, so a kind seen
  once or twice never reaches the 0.95 auto-apply default; 19 agreeing decisions and none
  against give 20/21 ≈ 0.952; a 60/40 kind stays near 0.6 however many decisions it has.
  The kind includes the broker because brokers do not share a vocabulary, and a kind never
  seen gets 1/2: a new broker or subtype is queued, however familiar its words look.

Suggestions are ranked by that confidence (then posterior, then account code), so the list
an operator reads never shows a less certain account above a more certain one; the same
precedents always give the same suggestions.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections import Counter
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

MODEL_FAMILY = "nb1"
"""The fingerprint's prefix: this module's formula (bump it when the formula changes)."""
ALPHA = 1.0
"""Additive (Laplace) smoothing of the per-account token counts."""
KIND_PREFIXES = ("broker=", "type_sign=", "subtype=")
"""The tokens that make a record's kind, whose decisions bound the confidence."""
MIN_CONFIDENCE = 0.01
"""Below this, an account after the first is no suggestion at all (room for the queue's
other hints)."""
MAX_REASONS = 3
REASON_ORDER = ("type=", "subtype=", "word=", "symbol=", "type_sign=", "broker=")
"""Among equally telling tokens, the ones an operator reads most easily first (``symbol=yes``
/ ``no``, ``sign=`` and ``size=`` last)."""
MAX_PRECEDENTS = 3
SCAN_PRECEDENTS = 200
"""The newest candidate precedents compared with a record when naming the most similar."""

Kind = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Precedent:
    """One past operator decision the model learns from."""

    decision_id: int
    account: str
    """The counter account the operator chose."""
    tokens: tuple[str, ...]
    """`MappingRecord.tokens()` of the record decided."""


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One account the model proposes for a record, with why and how sure."""

    account: str
    confidence: float
    """Calibrated, 0..1: min(tempered posterior, evidence bound); see the module doc."""
    reasons: tuple[str, ...] = ()
    """Up to three tokens that favoured this account most, most first."""
    precedents: tuple[int, ...] = ()
    """Up to three decision ids it rests on: most similar first, then newest."""
    posterior: float = 0.0
    """The tempered naive-Bayes posterior alone."""
    agree: int = 0
    """Decisions of the record's kind that chose this account ..."""
    kind_decisions: int = 0
    """... out of this many decisions of the record's kind."""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields (confidence and posterior rounded to 4 places)."""
        return {
            "account": self.account,
            "confidence": round(self.confidence, 4),
            "reasons": list(self.reasons),
            "precedents": list(self.precedents),
            "posterior": round(self.posterior, 4),
            "evidence": f"{self.agree} of {self.kind_decisions} decisions of this kind",
        }


def kind_of(tokens: Iterable[str]) -> Kind:
    """The record's kind: its ``broker=``, ``type_sign=`` and ``subtype=`` tokens ("" when
    absent)."""
    found = ["", "", ""]
    for token in tokens:
        for index, prefix in enumerate(KIND_PREFIXES):
            if token.startswith(prefix):
                found[index] = token
                break
    return found[0], found[1], found[2]


def _legibility(token: str) -> int:
    """Rank of `token`'s family in `REASON_ORDER` (lower reads better)."""
    if token in ("symbol=yes", "symbol=no"):
        return len(REASON_ORDER)
    for rank, prefix in enumerate(REASON_ORDER):
        if token.startswith(prefix):
            return rank
    return len(REASON_ORDER) + 1


class MappingModel:
    """Token statistics of the decision history; build with `MappingModel.build`."""

    def __init__(self, precedents: Sequence[Precedent]) -> None:
        """Index `precedents` (ordered by decision id, ids unique); prefer `build`."""
        self._ids = [p.decision_id for p in precedents]
        self._token_sets = [frozenset(p.tokens) for p in precedents]
        docs: Counter[str] = Counter(p.account for p in precedents)
        self._accounts = tuple(sorted(docs))
        # token -> account -> indexes (into the lists above) of the precedents holding it.
        postings: dict[str, dict[str, list[int]]] = {}
        totals: Counter[str] = Counter()
        kinds: dict[Kind, dict[str, list[int]]] = {}
        for index, precedent in enumerate(precedents):
            account = precedent.account
            unique = tuple(dict.fromkeys(precedent.tokens))
            totals[account] += len(unique)
            for token in unique:
                postings.setdefault(token, {}).setdefault(account, []).append(index)
            kinds.setdefault(kind_of(unique), {}).setdefault(account, []).append(index)
        self._postings = postings
        self._kinds = kinds
        self._kind_sizes = {kind: sum(len(ids) for ids in by_account.values())
                            for kind, by_account in kinds.items()}
        vocabulary = len(postings) + 1
        self._total = sum(totals.values())
        self._token_totals = {token: sum(len(ids) for ids in by_account.values())
                              for token, by_account in postings.items()}
        self._account_totals = dict(totals)
        self._smoothed_vocabulary = ALPHA * vocabulary
        count = len(precedents)
        self._log_prior = {a: math.log((docs[a] + 1) / (count + len(self._accounts)))
                           for a in self._accounts}
        self._log_denominator = {a: math.log(totals[a] + self._smoothed_vocabulary)
                                 for a in self._accounts}
        # Per token, what each account holding it gains over an account that never saw it.
        self._boosts = {
            token: tuple((a, math.log((len(ids) + ALPHA) / ALPHA))
                         for a, ids in by_account.items())
            for token, by_account in postings.items()
        }
        digest = hashlib.sha256()
        for precedent in precedents:
            digest.update(f"{precedent.decision_id}\t{precedent.account}\n".encode())
        self._fingerprint = f"{MODEL_FAMILY}:{count}:{digest.hexdigest()[:12]}"

    @classmethod
    def build(cls, precedents: Iterable[Precedent]) -> MappingModel:
        """The model of `precedents` (any order; decision ids must be unique)."""
        ordered = sorted(precedents, key=lambda p: p.decision_id)
        for before, after in pairwise(ordered):
            if before.decision_id == after.decision_id:
                raise ValueError(f"decision {after.decision_id} is given twice")
        return cls(ordered)

    @property
    def fingerprint(self) -> str:
        """Names this model: family, decisions learned from and a hash of (id, account)."""
        return self._fingerprint

    @property
    def size(self) -> int:
        """The number of precedents learned from."""
        return len(self._ids)

    @property
    def accounts(self) -> tuple[str, ...]:
        """The accounts the model can suggest, by code."""
        return self._accounts

    def suggest(self, tokens: Sequence[str], *, limit: int = 3,
                allowed: Container[str] | None = None) -> list[Suggestion]:
        """Up to `limit` accounts for a record with `tokens`, best first (by confidence, then
        posterior, then code): only accounts in `allowed` when given, and after the first
        only those of at least `MIN_CONFIDENCE`; empty when the model has learned nothing."""
        if not self._ids or limit <= 0:
            return []
        record = tuple(dict.fromkeys(tokens))
        known = [t for t in record if t in self._boosts]
        m = len(known)
        denominator = self._log_denominator
        scores = {a: p - m * denominator[a] for a, p in self._log_prior.items()}
        for token in known:
            for account, boost in self._boosts[token]:
                scores[account] += boost
        scale = 1.0 / math.sqrt(m) if m else 1.0
        best = max(scores.values())
        weights = {a: math.exp((s - best) * scale) for a, s in scores.items()}
        mass = sum(weights.values())
        kind = kind_of(record)
        in_kind = self._kinds.get(kind, {})
        decided = self._kind_sizes.get(kind, 0)
        ranked: list[tuple[float, float, str]] = []
        for account in self._accounts:
            if allowed is not None and account not in allowed:
                continue
            posterior = weights[account] / mass
            bound = (len(in_kind.get(account, ())) + 1) / (decided + 2)
            ranked.append((min(posterior, bound), posterior, account))
        ranked.sort(key=lambda item: (-item[0], -item[1], item[2]))
        suggestions: list[Suggestion] = []
        for confidence, posterior, account in ranked[:limit]:
            if suggestions and confidence < MIN_CONFIDENCE:
                break
            reasons = self._reasons(account, known)
            suggestions.append(Suggestion(
                account=account, confidence=confidence, reasons=reasons,
                precedents=self._precedents(account, record, in_kind, reasons),
                posterior=posterior, agree=len(in_kind.get(account, ())),
                kind_decisions=decided,
            ))
        return suggestions

    # -- internals ------------------------------------------------------------------------
    def _reasons(self, account: str, known: list[str]) -> tuple[str, ...]:
        """The known tokens with the largest positive log-likelihood ratio
        log P(token | account) - log P(token | any other account)."""
        mine = self._account_totals[account] + self._smoothed_vocabulary
        others = self._total - self._account_totals[account] + self._smoothed_vocabulary
        scored: list[tuple[float, int, str]] = []
        for token in known:
            here = len(self._postings[token].get(account, ()))
            if not here:
                continue
            elsewhere = self._token_totals[token] - here
            ratio = math.log((here + ALPHA) / mine) - math.log((elsewhere + ALPHA) / others)
            if ratio > 0:
                scored.append((-ratio, _legibility(token), token))
        scored.sort()
        return tuple(token for *_, token in scored[:MAX_REASONS])

    def _precedents(self, account: str, record: tuple[str, ...],
                    in_kind: dict[str, list[int]], reasons: tuple[str, ...]) -> tuple[int, ...]:
        """The decisions of `account` most like `record`: of its kind when there are any,
        else those holding the strongest reason; most similar (Jaccard) first, then newest."""
        candidates = in_kind.get(account)
        if not candidates and reasons:
            candidates = self._postings[reasons[0]].get(account)
        if not candidates:
            return ()
        wanted = frozenset(record)
        size = len(wanted)
        sets, ids = self._token_sets, self._ids
        scored: list[tuple[float, int]] = []
        for index in candidates[-SCAN_PRECEDENTS:]:
            other = sets[index]
            shared = len(wanted & other)
            scored.append((shared / (size + len(other) - shared or 1), ids[index]))
        # Largest (similarity, id): the most similar first, ties to the newest.
        return tuple(decision for _, decision in heapq.nlargest(MAX_PRECEDENTS, scored))
