"""The lookalike bank: a few thousand real training digits (MNIST, pendigits, UNIPEN), each as the
28x28 image the network saw and its penultimate-layer embedding, searched by cosine similarity.

Built by `make lookalikes` (training/lookalikes.py) with the serving model; the bank records that
model's sha256, and a bank made by another model is refused (its embeddings would mean nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOURCES = ("MNIST", "pendigits", "UNIPEN")


class BankError(Exception):
    """A bank file that is missing, malformed or made by another model."""


@dataclass(frozen=True)
class Lookalike:
    """One training digit close to the drawing: its index in the bank, label, source and similarity."""

    index: int
    label: int
    source: str
    similarity: float


def normalised(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (an all-zero row stays zero), float32."""
    rows = np.asarray(embeddings, np.float32)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


class LookalikeBank:
    """Images (N, 28, 28) uint8, labels, sources and unit embeddings (N, D) of real training digits."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, sources: np.ndarray, embeddings: np.ndarray,
                 model_sha256: str) -> None:
        self.images, self.labels, self.sources = images, labels.astype(np.int64), sources.astype(np.int64)
        self.embeddings = normalised(embeddings)
        self.model_sha256 = model_sha256

    @classmethod
    def load(cls, path: str | Path, model_sha256: str) -> LookalikeBank:
        """The bank in the file, checked against the model that will embed the queries."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                bank = cls(archive["images"], archive["labels"], archive["sources"], archive["embeddings"],
                           str(archive["model_sha256"]))
        except FileNotFoundError:
            raise BankError(f"{path}: no such lookalike bank (make lookalikes builds it)") from None
        except (KeyError, ValueError, OSError) as error:
            raise BankError(f"{path}: not a lookalike bank ({error})") from None
        if bank.model_sha256 != model_sha256:
            raise BankError(f"{path} was built with another model (sha256 {bank.model_sha256[:12]}, serving "
                            f"{model_sha256[:12]}): run make lookalikes")
        return bank

    def save(self, path: str | Path) -> None:
        """Write the bank, compressed (embeddings as float16: cosine ranks are unchanged to 1e-3)."""
        np.savez_compressed(path, images=self.images.astype(np.uint8), labels=self.labels.astype(np.uint8),
                            sources=self.sources.astype(np.uint8), embeddings=self.embeddings.astype(np.float16),
                            model_sha256=np.array(self.model_sha256))

    def __len__(self) -> int:
        return len(self.labels)

    def nearest(self, embedding: np.ndarray, k: int, label: int | None = None) -> list[Lookalike]:
        """The k bank digits most similar to one embedding, best first (only those of `label` if given)."""
        similarity = self.embeddings @ normalised(embedding)
        if label is not None:
            similarity = np.where(self.labels == label, similarity, -np.inf)
        k = min(k, int(np.isfinite(similarity).sum()))
        best = np.argpartition(-similarity, k - 1)[:k] if k else np.array([], np.int64)
        best = best[np.argsort(-similarity[best], kind="stable")]
        return [Lookalike(int(i), int(self.labels[i]), SOURCES[self.sources[i]], float(similarity[i])) for i in best]
