"""Emotion events and the arousal/valence mapping of the categories.

Arousal (calm -1 .. +1 agitated) and valence (negative -1 .. +1 positive) of an event are the
probability-weighted means of each category's place on Russell's circumplex (:data:`CIRCUMPLEX`),
so a robot can act on "calm / agitated" without caring which category won. Categories missing
from the table count as (0, 0).

| category  | arousal | valence |
|-----------|--------:|--------:|
| neutral   |    0.0  |    0.0  |
| calm      |   -0.5  |    0.3  |
| happiness |    0.5  |    0.8  |
| sadness   |   -0.5  |   -0.7  |
| anger     |    0.8  |   -0.6  |
| fear      |    0.7  |   -0.7  |
| disgust   |    0.3  |   -0.7  |
| surprise  |    0.7  |    0.2  |
| boredom   |   -0.7  |   -0.3  |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "calm": (-0.5, 0.3),
    "happiness": (0.5, 0.8),
    "sadness": (-0.5, -0.7),
    "anger": (0.8, -0.6),
    "fear": (0.7, -0.7),
    "disgust": (0.3, -0.7),
    "surprise": (0.7, 0.2),
    "boredom": (-0.7, -0.3),
}
"""(arousal, valence) of each canonical category, each in [-1, 1]."""


def arousal_valence(labels: Sequence[str], probabilities: np.ndarray) -> tuple[float, float]:
    """Probability-weighted (arousal, valence) of a class distribution, each in [-1, 1]."""
    places = np.array([CIRCUMPLEX.get(label, (0.0, 0.0)) for label in labels])
    p = np.asarray(probabilities, dtype=np.float64)
    total = p.sum()
    if total <= 0:
        return 0.0, 0.0
    arousal, valence = (p[:, None] * places).sum(axis=0) / total
    return float(arousal), float(valence)


@dataclass(frozen=True)
class EmotionEvent:
    """One decision of the recognizer over a stretch of the stream.

    start_s, end_s: the audio the decision covers, seconds from the start of the stream.
    label: the most probable category; confidence: its probability (0..1).
    probabilities: every category's probability, in the model's label order.
    arousal, valence: see the module docstring, each in [-1, 1].
    voiced: fraction of the window's frames the voice-activity gate passed (0..1).
    """

    start_s: float
    end_s: float
    label: str
    confidence: float
    probabilities: dict[str, float]
    arousal: float
    valence: float
    voiced: float

    @classmethod
    def from_probabilities(
        cls,
        labels: Sequence[str],
        probabilities: np.ndarray,
        start_s: float,
        end_s: float,
        voiced: float,
    ) -> EmotionEvent:
        p = np.asarray(probabilities, dtype=np.float64)
        best = int(np.argmax(p))
        arousal, valence = arousal_valence(labels, p)
        return cls(
            start_s=round(start_s, 6),
            end_s=round(end_s, 6),
            label=labels[best],
            confidence=float(p[best]),
            probabilities={label: float(v) for label, v in zip(labels, p, strict=True)},
            arousal=arousal,
            valence=valence,
            voiced=float(voiced),
        )

    def to_dict(self, digits: int = 4) -> dict[str, Any]:
        """JSON-ready dict, probabilities rounded to ``digits``."""
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "label": self.label,
            "confidence": round(self.confidence, digits),
            "arousal": round(self.arousal, digits),
            "valence": round(self.valence, digits),
            "voiced": round(self.voiced, digits),
            "probabilities": {k: round(v, digits) for k, v in self.probabilities.items()},
        }
