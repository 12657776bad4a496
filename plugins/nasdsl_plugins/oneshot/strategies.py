"""The one-shot strategies as the search loop sees them (torch loads only when one is built)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from nasdsl.strategy import OneShotStrategy

from .config import DartsConfig, DartsError


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DartsError(f"device '{name}' asked for, but no GPU is available")
    return name


class Darts(OneShotStrategy):
    """``--strategy darts``: DARTS on the supernet of the space; the derived genotype is retrained by the
    estimator (``-E epochs=...`` sets the retraining's epochs). Options: :class:`DartsConfig`'s fields."""

    name = "darts"
    defaults = {k: v for k, v in asdict(DartsConfig()).items() if k != "seed"}

    def __init__(self, space: Any, seed: int = 0, **options: Any):
        super().__init__(space, seed, **options)
        self.config = DartsConfig.from_options({**options, "seed": seed})
        from ..torch_backend.supernet import check_supernet

        check_supernet(space, add_none=self.config.add_none)  # a construct it cannot relax stops here

    def search(self, run: Any) -> Any:
        """Train (resuming from ``run.checkpoint``), report each epoch to ``run``; the derived genotype."""
        import torch

        from ..torch_backend.train import save_atomic
        from .darts import DartsSearch

        search = DartsSearch(self.space, run.data, self.config, device=_device(run.device))
        records: list[dict[str, Any]] = []
        if run.checkpoint.is_file():
            state = torch.load(run.checkpoint, map_location=search.device, weights_only=True)
            search.load_state_dict(state)
            records = run.epochs()[:search.epoch]
        while search.epoch < self.config.epochs:
            records.append(search.run_epoch())
            save_atomic(search.state_dict(), run.checkpoint, "supernet checkpoint")  # a kill leaves the last whole one
            run.epoch_done(records, self.config.epochs)
        return search.supernet.derive()
