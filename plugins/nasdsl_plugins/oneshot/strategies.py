"""The one-shot strategies as the search loop sees them (torch loads only when one is built)."""

from __future__ import annotations

import importlib
from dataclasses import asdict
from typing import Any, ClassVar

from nasdsl.strategy import OneShotStrategy

from .config import (DartsConfig, DartsError, DrnasConfig, EnasConfig, FairnasConfig, FbnetConfig, GdasConfig,
                     OfaConfig, OneshotConfig, PcdartsConfig, PdartsConfig, ProxylessConfig, RswsConfig, SnasConfig, SposConfig)


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DartsError(f"device '{name}' asked for, but no GPU is available")
    return name


def _defaults(config_class: type) -> dict[str, Any]:
    """A configuration's ``-S`` options and their defaults (the seed is the search's own)."""
    return {k: v for k, v in asdict(config_class()).items() if k != "seed"}


class SupernetStrategy(OneShotStrategy):
    """A one-shot strategy that trains the supernet of the space with a search of ``search_class()``; the
    genotype it ends with is retrained by the estimator (``-E epochs=...`` sets the retraining's epochs).
    Options: the fields of ``config_class``."""

    config_class: ClassVar[type]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "config_class" in cls.__dict__:
            cls.defaults = _defaults(cls.config_class)

    def __init__(self, space: Any, seed: int = 0, **options: Any):
        super().__init__(space, seed, **options)
        self.config = self.config_class.from_options({**options, "seed": seed})
        from ..torch_backend.supernet import check_supernet

        check_supernet(space, **self.supernet_options())  # a construct it cannot hold stops here

    def supernet_options(self) -> dict[str, Any]:
        return {}

    #: the search it runs, as ``module:Class`` of this package (imported when a search starts: torch loads then)
    search_path: ClassVar[str]

    def search_class(self) -> type:
        module, name = self.search_path.split(":")
        return getattr(importlib.import_module(f"{__package__}.{module}"), name)

    def search(self, run: Any) -> Any:
        """Train (resuming from ``run.checkpoint``), report each epoch to ``run``; the derived genotype."""
        import torch

        from ..torch_backend.train import save_atomic

        search = self.search_class()(self.space, run.data, self.config, device=_device(run.device))
        records: list[dict[str, Any]] = []
        if run.checkpoint.is_file():
            state = torch.load(run.checkpoint, map_location=search.device, weights_only=True)
            search.load_state_dict(state)
            # the epochs as the checkpoint has them: a kill between saving it and storing the epoch loses none
            stored = run.epochs()
            records = list(state.get("records", stored[:search.epoch]))
            if len(records) > len(stored):
                run.epoch_done(records, search.total_epochs)
        table = None
        if self.config.ranking_table:  # a bad table stops the run here, before any training
            from .ranking import load_ranking_table

            table = load_ranking_table(self.config.ranking_table)
        while not search.done:
            records.append(search.run_epoch())
            save_atomic({**search.state_dict(), "records": records}, run.checkpoint,
                        "supernet checkpoint")  # a kill leaves the last whole one
            run.epoch_done(records, search.total_epochs)
        if table is not None:
            from .ranking import ranking

            run.ranking_done(ranking(search, table, self.config.ranking_table))
        return search.derive()


class Darts(SupernetStrategy):
    """``--strategy darts``: DARTS on the supernet of the space. Options: :class:`DartsConfig`'s fields.
    The other differentiable methods are subclasses naming their configuration."""

    name = "darts"
    config_class: ClassVar[type] = DartsConfig
    search_path = "darts:DartsSearch"

    def supernet_options(self) -> dict[str, Any]:
        return {"add_none": self.config.add_none, "partial": getattr(self.config, "k", 1)}


class Snas(Darts):
    """``--strategy snas``: SNAS (single level, relaxed Gumbel-softmax, resource penalty); :class:`SnasConfig`."""

    name = "snas"
    config_class = SnasConfig
    search_path = "darts:SnasSearch"


class Gdas(Darts):
    """``--strategy gdas``: GDAS (one sampled op per decision, only it computed); :class:`GdasConfig`."""

    name = "gdas"
    config_class = GdasConfig
    search_path = "darts:GdasSearch"


class Drnas(Darts):
    """``--strategy drnas``: DrNAS (Dirichlet mixing weights, KL regulariser); :class:`DrnasConfig`."""

    name = "drnas"
    config_class = DrnasConfig
    search_path = "darts:DrnasSearch"


class Pcdarts(Darts):
    """``--strategy pcdarts``: PC-DARTS (partial channels, edge normalisation); :class:`PcdartsConfig`."""

    name = "pcdarts"
    config_class = PcdartsConfig
    search_path = "darts:PcdartsSearch"


class Pdarts(Darts):
    """``--strategy pdarts``: P-DARTS (stages of growing depth, shrinking candidates, skip dropout, at most
    ``max_skips`` skip connections per cell); :class:`PdartsConfig`."""

    name = "pdarts"
    config_class = PdartsConfig
    search_path = "darts:PdartsSearch"

    def __init__(self, space: Any, seed: int = 0, **options: Any):
        super().__init__(space, seed, **options)
        from .darts import check_stages

        check_stages(space, self.config)


class Proxyless(Darts):
    """``--strategy proxyless``: ProxylessNAS (binary gates, two paths per architecture step, latency in the loss);
    :class:`ProxylessConfig`."""

    name = "proxyless"
    config_class = ProxylessConfig
    search_path = "hardware:ProxylessSearch"


class Fbnet(Darts):
    """``--strategy fbnet``: FBNet (Gumbel-softmax, the loss CE · α · log(LAT)^β); :class:`FbnetConfig`."""

    name = "fbnet"
    config_class = FbnetConfig
    search_path = "hardware:FbnetSearch"


class Rsws(SupernetStrategy):
    """``--strategy rsws``: random search with weight sharing; :class:`RswsConfig`."""

    name = "rsws"
    config_class = RswsConfig
    search_path = "sampling:RswsSearch"


class Oneshot(Rsws):
    """``--strategy oneshot``: Bender et al.'s one-shot model with path dropout; :class:`OneshotConfig`."""

    name = "oneshot"
    config_class = OneshotConfig
    search_path = "sampling:OneshotSearch"


class Spos(Rsws):
    """``--strategy spos``: single-path one-shot training, then evolution on inherited weights; :class:`SposConfig`."""

    name = "spos"
    config_class = SposConfig
    search_path = "sampling:SposSearch"


class Fairnas(Rsws):
    """``--strategy fairnas``: every candidate trained once per step, then SPOS' evolution; :class:`FairnasConfig`."""

    name = "fairnas"
    config_class = FairnasConfig
    search_path = "sampling:FairnasSearch"


class Ofa(Rsws):
    """``--strategy ofa``: Once-for-All's progressive shrinking, then evolution of sub-networks; :class:`OfaConfig`."""

    name = "ofa"
    config_class = OfaConfig
    search_path = "ofa:OfaSearch"


class Enas(Rsws):
    """``--strategy enas``: an LSTM controller samples the children the shared weights train; :class:`EnasConfig`."""

    name = "enas"
    config_class = EnasConfig
    search_path = "sampling:EnasSearch"
