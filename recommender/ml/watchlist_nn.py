"""Neural watch-list model: a user's completed titles in, a softmax over every title out.

The reference design fed a multi-hot watch list through title embeddings and a hidden
layer into a softmax, trained by leaving one watched title out, and had to stop at the
1,000 most popular titles because a dense input was slow. This version is a
denoising autoencoder with a multinomial likelihood (Mult-DAE, Liang et al. 2018):

* input: the user's item ids through an ``EmbeddingBag`` (sum of title embeddings,
  L2-normalised multi-hot), so the cost is O(items in the list), never O(catalog);
* training drops each input title with probability ``dropout`` and asks the softmax to
  put mass on *all* the user's titles, the dropped ones included; the dropped titles
  are the leave-one-out signal of the reference design, many at a time;
* an optional item-item path (``item_item=True``): a zero-diagonal title x title
  matrix added to the logits, so the one torch model also holds a linear (EASE-like)
  part that the hidden layer need not learn;
* every title with >= ``min_item_count`` interactions is modelled; rarer titles are
  ranked after all modelled ones.

Any row (known or new user) is scored by one forward pass, without dropout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from .base import top_n_excluding

# Titles the network does not model are ranked after every modelled title but before
# the seen ones (which top_n_excluding sets to -inf).
UNMODELLED_SCORE = np.float32(-1e30)


def default_threads() -> int:
    """CPU cores this process may use (affinity-aware, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class _WatchlistNet(nn.Module):
    """Bag of title ids -> tanh hidden -> logits over the ``n`` modelled titles."""

    def __init__(self, n: int, hidden: int, item_item: bool) -> None:
        super().__init__()
        self.embed = nn.EmbeddingBag(n, hidden, mode="sum")
        self.hidden_bias = nn.Parameter(torch.zeros(hidden))
        self.out = nn.Linear(hidden, n)
        # Xavier like the Mult-DAE reference; EmbeddingBag's default N(0, 1) saturates tanh.
        nn.init.xavier_uniform_(self.embed.weight)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.item_item = nn.Parameter(torch.zeros(n, n)) if item_item else None

    def forward(
        self, items: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        """``items`` (nnz,) int64, ``offsets`` (batch,) int64, ``weights`` (nnz,) float32
        -> logits (batch, n) float32."""
        h = torch.tanh(self.embed(items, offsets, per_sample_weights=weights) + self.hidden_bias)
        logits = self.out(h)
        if self.item_item is not None:
            # Zero diagonal: a title must not explain itself (EASE's constraint).
            w = self.item_item - torch.diag(torch.diagonal(self.item_item))
            logits = logits + nn.functional.embedding_bag(
                items, w, offsets, mode="sum", per_sample_weights=weights
            )
        return logits


class WatchlistNN:
    """Mult-DAE over watch lists; implements :class:`recommender.ml.base.Recommender`.

    ``fit`` takes a binary (n_users, n_items) CSR (any positive value counts as watched).
    """

    def __init__(
        self,
        hidden: int = 600,
        dropout: float = 0.5,
        epochs: int = 60,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        item_item: bool = False,
        item_item_l2: float = 0.0,
        min_item_count: int = 5,
        random_state: int = 0,
        n_threads: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.item_item = item_item
        self.item_item_l2 = item_item_l2
        self.min_item_count = min_item_count
        self.random_state = random_state
        self.n_threads = n_threads
        self.verbose = verbose
        self.n_items: int = 0
        self.modelled: np.ndarray = np.zeros(0, dtype=np.int64)  # catalog index per column
        self.net: _WatchlistNet | None = None
        self.loss_history: list[float] = []

    def _config(self) -> dict:
        return {k: getattr(self, k) for k in (
            "hidden", "dropout", "epochs", "batch_size", "lr", "weight_decay", "item_item",
            "item_item_l2", "min_item_count", "random_state", "n_threads",
        )}

    # -- data plumbing -------------------------------------------------------------

    def _to_modelled(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        """Catalog columns -> modelled columns, binary, (n_rows, n_modelled) CSR."""
        x = sp.csr_matrix(user_items)[:, self.modelled]
        x.data = np.ones_like(x.data, dtype=np.float32)
        x.eliminate_zeros()
        x.sort_indices()
        return x

    @staticmethod
    def _bag(x: sp.csr_matrix, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat item ids (nnz,) and offsets (len(rows),) for EmbeddingBag."""
        sub = x[rows]
        return (torch.from_numpy(sub.indices.astype(np.int64)),
                torch.from_numpy(sub.indptr[:-1].astype(np.int64)))

    # -- training ------------------------------------------------------------------

    def fit(self, user_items: sp.csr_matrix) -> WatchlistNN:
        """Train on a (n_users, n_items) CSR of watched titles (values ignored)."""
        user_items = sp.csr_matrix(user_items)
        self.n_items = user_items.shape[1]
        counts = np.diff(user_items.tocsc().indptr)
        self.modelled = np.flatnonzero(counts >= self.min_item_count).astype(np.int64)
        x = self._to_modelled(user_items)
        n = len(self.modelled)

        prev_threads = torch.get_num_threads()
        torch.set_num_threads(self.n_threads or default_threads())
        try:
            torch.manual_seed(self.random_state)
            rng = np.random.default_rng(self.random_state)
            self.net = _WatchlistNet(n, self.hidden, self.item_item)
            opt = torch.optim.Adam(self.net.parameters(), lr=self.lr,
                                   weight_decay=self.weight_decay)
            users = np.flatnonzero(np.diff(x.indptr) > 0)
            lengths = np.diff(x.indptr).astype(np.float32)
            self.loss_history = []
            self.net.train()
            for epoch in range(self.epochs):
                perm = rng.permutation(users)
                total = 0.0
                for start in range(0, len(perm), self.batch_size):
                    rows = perm[start:start + self.batch_size]
                    loss = self._step(x, rows, lengths[rows], opt)
                    total += loss * len(rows)
                self.loss_history.append(total / max(len(users), 1))
                if self.verbose:
                    print(f"epoch {epoch + 1}/{self.epochs} loss {self.loss_history[-1]:.3f}")
            self.net.eval()
        finally:
            torch.set_num_threads(prev_threads)
        return self

    def _step(self, x: sp.csr_matrix, rows: np.ndarray, lengths: np.ndarray,
              opt: torch.optim.Optimizer) -> float:
        assert self.net is not None
        items, offsets = self._bag(x, rows)
        per_row = torch.from_numpy(np.repeat(lengths, lengths.astype(np.int64)))
        # Dropout on the multi-hot *before* the embedding: removed titles still count
        # in the normalisation, as in Mult-DAE (normalise, then dropout with rescale).
        keep = torch.rand(items.shape[0]) >= self.dropout
        weights = keep.float() / per_row.sqrt() / (1.0 - self.dropout)
        logits = self.net(items, offsets, weights)
        logp = torch.log_softmax(logits, dim=1)
        batch_row = torch.repeat_interleave(torch.arange(len(rows)),
                                            torch.from_numpy(lengths.astype(np.int64)))
        # Multinomial log-likelihood of every title in the list, averaged over users.
        loss = -logp[batch_row, items].sum() / len(rows)
        if self.net.item_item is not None and self.item_item_l2 > 0:
            loss = loss + self.item_item_l2 * self.net.item_item.square().sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    # -- inference -----------------------------------------------------------------

    def score(self, user_items: sp.csr_matrix, batch_size: int = 1024) -> np.ndarray:
        """Log-probabilities (n_rows, n_items) float32 for rows of ``user_items``.

        Unmodelled titles get ``UNMODELLED_SCORE``; seen titles are *not* masked here.
        """
        if self.net is None:
            raise RuntimeError("WatchlistNN is not fitted")
        x = self._to_modelled(user_items)
        lengths = np.diff(x.indptr).astype(np.float32)
        out = np.full((x.shape[0], self.n_items), UNMODELLED_SCORE, dtype=np.float32)
        prev_threads = torch.get_num_threads()
        torch.set_num_threads(self.n_threads or default_threads())
        try:
            with torch.inference_mode():
                for start in range(0, x.shape[0], batch_size):
                    rows = np.arange(start, min(start + batch_size, x.shape[0]))
                    items, offsets = self._bag(x, rows)
                    per_row = np.repeat(np.maximum(lengths[rows], 1.0),
                                        lengths[rows].astype(np.int64))
                    weights = torch.from_numpy(1.0 / np.sqrt(per_row)).float()
                    logp = torch.log_softmax(self.net(items, offsets, weights), dim=1)
                    out[start:start + len(rows), self.modelled] = logp.numpy()
        finally:
            torch.set_num_threads(prev_threads)
        return out

    def recommend(self, user_items: sp.csr_matrix, n: int = 10
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` (indices int64, scores float32), each (n_rows, n), seen titles excluded.

        A row with no modelled title (brand-new user) gets the network's prior: the
        softmax of an empty bag, which tracks popularity.
        """
        user_items = sp.csr_matrix(user_items)
        return top_n_excluding(self.score(user_items), user_items, n)

    # -- persistence ---------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        """Write ``weights.pt`` (tensors only) and ``meta.json`` into ``directory``."""
        if self.net is None:
            raise RuntimeError("WatchlistNN is not fitted")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        tensors["modelled"] = torch.from_numpy(self.modelled)
        torch.save(tensors, directory / "weights.pt")
        meta = {"config": self._config(), "n_items": self.n_items,
                "torch_version": torch.__version__}
        (directory / "meta.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> WatchlistNN:
        """Inverse of :meth:`save`; unpickling is refused (``weights_only=True``)."""
        directory = Path(directory)
        meta = json.loads((directory / "meta.json").read_text())
        tensors = torch.load(directory / "weights.pt", weights_only=True)
        model = cls(**meta["config"])
        model.n_items = int(meta["n_items"])
        model.modelled = tensors.pop("modelled").numpy().astype(np.int64)
        model.net = _WatchlistNet(len(model.modelled), model.hidden, model.item_item)
        model.net.load_state_dict({k[len("net."):]: v for k, v in tensors.items()})
        model.net.eval()
        return model
