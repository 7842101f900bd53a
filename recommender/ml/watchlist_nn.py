"""Neural watch-list model: a user's completed titles in, a softmax over every title out.

The reference design fed a multi-hot watch list through title embeddings and a hidden
layer into a softmax, trained by leaving one watched title out, and had to stop at the
1,000 most popular titles because a dense input was slow. This version is a
denoising autoencoder with a multinomial likelihood (Mult-DAE, Liang et al. 2018):

* input: the user's item ids through an ``EmbeddingBag`` (sum of title embeddings,
  L2-normalised multi-hot), so the cost is O(titles in the list), never O(catalog);
* training drops each input title with probability ``dropout`` and asks the softmax to
  put mass on *all* the user's titles, the dropped ones included; the dropped titles
  are the leave-one-out signal of the reference design, many at a time;
* every title with >= ``min_item_count`` interactions is modelled; rarer titles are
  ranked after all modelled ones.

Optional linear path (``item_item=True``, the default): the same torch module also holds a
zero-diagonal title x title matrix ``W`` (closed-form EASE, Steck 2019) and a mixing
scale ``s``; logits = hidden path + ``s * x @ W``. ``s`` is chosen on users held out
inside ``fit`` (never on anyone's evaluation data), so ``s = 0`` — the pure network — is
kept when the linear path does not help. Training the two jointly was tried and was worse
than either alone (the softmax fit pulls the network off the ranking task).

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
# Mixing scales tried for the linear path: 0 is the pure network; the largest ones
# make the network a tie-breaker for EASE.
SCALE_GRID = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)


def default_threads() -> int:
    """CPU cores this process may use (affinity-aware, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def ease_weights(x: sp.csr_matrix, lam: float) -> torch.Tensor:
    """Closed-form EASE on binary ``x`` (n_users, n) -> (n, n) float32 with a zero diagonal.

    B = I - P diag(1/diag(P)), P = (X^T X + lam I)^-1, solved in float64.
    """
    gram = torch.from_numpy((x.T @ x).toarray().astype(np.float64))
    gram.diagonal().add_(lam)
    p = torch.linalg.inv(gram)
    b = p / (-torch.diagonal(p))
    b.fill_diagonal_(0.0)
    return b.float()


class _WatchlistNet(nn.Module):
    """Bag of title ids -> tanh hidden -> logits over the ``n`` modelled titles,
    plus (``item_item``) a fixed linear title x title path times a scale."""

    def __init__(self, n: int, hidden: int, item_item: bool) -> None:
        super().__init__()
        self.embed = nn.EmbeddingBag(n, hidden, mode="sum")
        self.hidden_bias = nn.Parameter(torch.zeros(hidden))
        self.out = nn.Linear(hidden, n)
        # Xavier like the Mult-DAE reference; EmbeddingBag's default N(0, 1) saturates tanh.
        nn.init.xavier_uniform_(self.embed.weight)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.has_item_item = item_item
        if item_item:
            # Buffers, not parameters: set in closed form, saved in the state_dict.
            self.register_buffer("item_item", torch.zeros(n, n))
            self.register_buffer("item_item_scale", torch.tensor(0.0))

    def forward(self, items: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor,
                norm: torch.Tensor, linear: bool = True) -> torch.Tensor:
        """Scores (batch, n) float32: log-softmax of the hidden path, plus the scaled
        linear path when ``linear`` (training fits the network alone, ``linear=False``).

        ``items`` (nnz,) int64 modelled-title ids, ``offsets`` (batch,) int64 bag starts,
        ``weights`` (nnz,) float32 input multi-hot values (after dropout), ``norm`` (nnz,)
        float32 1/sqrt(list length) of each entry's row (L2-normalised input).
        """
        h = self.embed(items, offsets, per_sample_weights=weights * norm)
        scores = torch.log_softmax(self.out(torch.tanh(h + self.hidden_bias)), dim=1)
        if linear and self.has_item_item:
            scores = scores + self.item_item_scale * nn.functional.embedding_bag(
                items, self.item_item, offsets, mode="sum", per_sample_weights=weights)
        return scores


class WatchlistNN:
    """Mult-DAE over watch lists; implements :class:`recommender.ml.base.Recommender`.

    ``fit`` takes a binary (n_users, n_items) CSR (any non-zero counts as watched).
    Defaults were chosen on a validation split of the shared MAL data (5,000 users,
    ~7k titles); a fit takes a few minutes on 2 CPU cores.
    """

    def __init__(
        self,
        hidden: int = 600,
        dropout: float = 0.5,
        epochs: int = 30,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        item_item: bool = True,
        item_item_lambda: float = 200.0,
        validation_users: int = 500,
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
        self.item_item_lambda = item_item_lambda
        self.validation_users = validation_users
        self.min_item_count = min_item_count
        self.random_state = random_state
        self.n_threads = n_threads
        self.verbose = verbose
        self.n_items: int = 0
        self.modelled: np.ndarray = np.zeros(0, dtype=np.int64)  # catalog index per column
        self.net: _WatchlistNet | None = None
        self.loss_history: list[float] = []
        self.scale_search: dict[float, float] = {}  # mixing scale -> validation NDCG@10

    def _config(self) -> dict:
        return {k: getattr(self, k) for k in (
            "hidden", "dropout", "epochs", "batch_size", "lr", "weight_decay", "item_item",
            "item_item_lambda", "validation_users", "min_item_count", "random_state",
            "n_threads",
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
    def _bag(x: sp.csr_matrix, rows: np.ndarray
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flat item ids (nnz,), offsets (len(rows),) and per-entry 1/sqrt(row length)."""
        sub = x[rows]
        lengths = np.diff(sub.indptr)
        norm = np.repeat(1.0 / np.sqrt(np.maximum(lengths, 1)), lengths).astype(np.float32)
        return (torch.from_numpy(sub.indices.astype(np.int64)),
                torch.from_numpy(sub.indptr[:-1].astype(np.int64)),
                torch.from_numpy(norm))

    def _holdout(self, x: sp.csr_matrix, rng: np.random.Generator
                 ) -> tuple[sp.csr_matrix, np.ndarray, list[np.ndarray]]:
        """Hide 20 % of the titles of up to ``validation_users`` users (with >= 5 titles).

        Returns (x without the hidden titles, those users, their hidden titles).
        """
        eligible = np.flatnonzero(np.diff(x.indptr) >= 5)
        users = np.sort(rng.choice(eligible, size=min(self.validation_users, len(eligible)),
                                   replace=False))
        x = x.tolil(copy=True)
        hidden: list[np.ndarray] = []
        for u in users:
            items = np.asarray(x.rows[u])
            k = max(1, int(round(0.2 * len(items))))
            pick = np.sort(rng.choice(items, size=k, replace=False))
            hidden.append(pick)
            x[u, pick] = 0
        x = sp.csr_matrix(x)
        x.eliminate_zeros()
        return x, users, hidden

    # -- training ------------------------------------------------------------------

    def fit(self, user_items: sp.csr_matrix) -> WatchlistNN:
        """Train on a (n_users, n_items) CSR of watched titles (values ignored)."""
        user_items = sp.csr_matrix(user_items)
        self.n_items = user_items.shape[1]
        counts = np.diff(user_items.tocsc().indptr)
        self.modelled = np.flatnonzero(counts >= self.min_item_count).astype(np.int64)
        x = self._to_modelled(user_items)

        prev_threads = torch.get_num_threads()
        torch.set_num_threads(self.n_threads or default_threads())
        try:
            torch.manual_seed(self.random_state)
            rng = np.random.default_rng(self.random_state)
            self.net = _WatchlistNet(len(self.modelled), self.hidden, self.item_item)
            if self.item_item and self.validation_users > 0:
                # The network trains without the validation titles, so the scale search
                # below sees titles neither path was fitted on.
                x_fit, val_users, val_items = self._holdout(x, rng)
                self._train(x_fit, rng)
                self._choose_scale(x_fit, val_users, val_items)
            else:
                self._train(x, rng)
                if self.item_item:
                    self.net.item_item_scale.fill_(1.0)
            if self.item_item:
                self.net.item_item.copy_(ease_weights(x, self.item_item_lambda))
            self.net.eval()
        finally:
            torch.set_num_threads(prev_threads)
        return self

    def _train(self, x: sp.csr_matrix, rng: np.random.Generator) -> None:
        assert self.net is not None
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr,
                               weight_decay=self.weight_decay)
        users = np.flatnonzero(np.diff(x.indptr) > 0)
        self.loss_history = []
        self.net.train()
        for epoch in range(self.epochs):
            perm = rng.permutation(users)
            total = 0.0
            for start in range(0, len(perm), self.batch_size):
                rows = perm[start:start + self.batch_size]
                total += self._step(x, rows, opt) * len(rows)
            self.loss_history.append(total / max(len(users), 1))
            if self.verbose:
                print(f"epoch {epoch + 1}/{self.epochs} loss {self.loss_history[-1]:.3f}")
        self.net.eval()

    def _step(self, x: sp.csr_matrix, rows: np.ndarray, opt: torch.optim.Optimizer) -> float:
        assert self.net is not None
        items, offsets, norm = self._bag(x, rows)
        # Dropout on the multi-hot *after* normalising, with rescaling, as in Mult-DAE:
        # a dropped title still counts in its row's length.
        keep = torch.rand(items.shape[0]) >= self.dropout
        weights = keep.float() / (1.0 - self.dropout)
        logp = self.net(items, offsets, weights, norm, linear=False)
        lengths = torch.from_numpy(np.diff(x[rows].indptr).astype(np.int64))
        batch_row = torch.repeat_interleave(torch.arange(len(rows)), lengths)
        # Multinomial log-likelihood of every title in the list, averaged over users.
        loss = -logp[batch_row, items].sum() / len(rows)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    def _choose_scale(self, x_fit: sp.csr_matrix, users: np.ndarray,
                      hidden: list[np.ndarray]) -> None:
        """Pick the linear-path scale with the best NDCG@10 on the held-out titles."""
        from .evaluation import ndcg_at_k  # local: evaluation imports models lazily too

        assert self.net is not None
        rows = x_fit[users]
        with torch.inference_mode():
            items, offsets, norm = self._bag(x_fit, users)
            net_logp = self.net(items, offsets, torch.ones_like(norm), norm, linear=False).numpy()
        linear = np.asarray(rows @ ease_weights(x_fit, self.item_item_lambda).numpy())
        self.scale_search = {}
        for s in SCALE_GRID:
            idx, _ = top_n_excluding(net_logp + s * linear, rows, 10)
            self.scale_search[s] = float(np.mean(
                [ndcg_at_k(r, h, 10) for r, h in zip(idx, hidden, strict=True)]))
        best = max(self.scale_search, key=self.scale_search.get)
        self.net.item_item_scale.fill_(best)
        if self.verbose:
            print(f"linear-path scale {best} (validation NDCG@10 {self.scale_search})")

    @property
    def linear_scale(self) -> float:
        """Weight of the item-item path in the scores (0.0: the network alone)."""
        if self.net is None or not self.net.has_item_item:
            return 0.0
        return float(self.net.item_item_scale)

    # -- inference -----------------------------------------------------------------

    def score(self, user_items: sp.csr_matrix, batch_size: int = 1024) -> np.ndarray:
        """Scores (n_rows, n_items) float32 for rows of ``user_items``: the network's
        log-probabilities plus the scaled linear path where there is one.

        Unmodelled titles get ``UNMODELLED_SCORE``; seen titles are *not* masked here.
        """
        if self.net is None:
            raise RuntimeError("WatchlistNN is not fitted")
        x = self._to_modelled(user_items)
        out = np.full((x.shape[0], self.n_items), UNMODELLED_SCORE, dtype=np.float32)
        prev_threads = torch.get_num_threads()
        torch.set_num_threads(self.n_threads or default_threads())
        try:
            with torch.inference_mode():
                for start in range(0, x.shape[0], batch_size):
                    rows = np.arange(start, min(start + batch_size, x.shape[0]))
                    items, offsets, norm = self._bag(x, rows)
                    scores = self.net(items, offsets, torch.ones_like(norm), norm)
                    out[start:start + len(rows), self.modelled] = scores.numpy()
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
                "scale_search": {str(k): v for k, v in self.scale_search.items()},
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
        model.scale_search = {float(k): v for k, v in meta.get("scale_search", {}).items()}
        model.modelled = tensors.pop("modelled").numpy().astype(np.int64)
        model.net = _WatchlistNet(len(model.modelled), model.hidden, model.item_item)
        model.net.load_state_dict({k[len("net."):]: v for k, v in tensors.items()})
        model.net.eval()
        return model
