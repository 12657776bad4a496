"""REINFORCE with an LSTM controller (Zoph & Le 2017, NAS-RL; Pham et al. 2018, ENAS).

The controller writes a genotype as a sequence of tokens, one LSTM step per
token, in the order of ``space.decisions``: a softmax head per token over its
choices, and the embedding of the chosen index is the next step's input.
Tokens (see ``_tokens``): one per decision over its domain indices; input
choices with more than 1000 values are split (``slots`` for independent
picks, ``picks`` -- k steps without replacement, the picked ones masked -- for
distinct picks); a subset is always one yes/no step per candidate (ENAS's
skip connections).  Decisions switched off by a guard take their default and
no step.  Numeric hyperparameter ranges are sampled from the space, not
learned; hyperparameter sets (``hp opt = {sgd, adam}``) are tokens like any
other choice.

Each tell is one policy-gradient step: reward R = value, advantage R - b with
a moving-average baseline b <- decay * b + (1 - decay) * R (the first reward
sets b), loss -(R - b) * log p(tokens) - entropy_weight * H, Adam.  A failed
trial is rewarded the worst value told so far (skipped while none is known).
The log-probability is computed when the result comes, by feeding the tokens
back in (teacher forcing): for an asked genotype the tokens it was sampled
with (kept by canonical hash), for a replayed or foreign one the tokens of its
canonical values.  With one trial at a time that is exactly the log-probability
of the sample; with several in flight it is the current policy's.

torch is imported when a controller is built; the parameters are initialised
under ``torch.manual_seed(seed)`` inside ``fork_rng`` (the global generator is
left as it was) and sampling draws from the strategy's own ``torch.Generator``.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from nasdsl import Genotype, Space
from nasdsl.strategy import Result

from ._base import BuiltinStrategy, value
from ._tokens import Plan, plan

TOKEN_LIMIT = 1000
SAMPLE_TRIES = 20


class Reinforce(BuiltinStrategy):
    name = "reinforce"
    defaults = {"lr": 3.5e-4, "baseline_decay": 0.95, "entropy_weight": 1e-4, "hidden": 64}

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        super().__init__(space, seed, **options)
        c = self.config
        self._check(c["lr"] > 0, f"lr must be positive, got {c['lr']}")
        self._check(0 <= c["baseline_decay"] < 1, f"baseline_decay must be in [0, 1), got {c['baseline_decay']}")
        self._check(c["entropy_weight"] >= 0, f"entropy_weight must be at least 0, got {c['entropy_weight']}")
        self._check(c["hidden"] >= 1, f"hidden must be at least 1, got {c['hidden']}")

        import torch
        from torch import nn

        self._torch = torch
        self.plans: list[tuple[Any, Optional[Plan], int]] = []  # (decision, plan, first token id)
        sizes: list[int] = []
        for d in space.decisions.values():
            p = plan(d, TOKEN_LIMIT, subset_limit=0)
            self.plans.append((d, p, len(sizes)))
            sizes.extend(p.sizes if p else ())
        h = c["hidden"]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = nn.Module()
            net.go = nn.Parameter(torch.zeros(1, h))
            net.lstm = nn.LSTMCell(h, h)
            net.heads = nn.ModuleList(nn.Linear(h, n) for n in sizes)
            net.embeds = nn.ModuleList(nn.Embedding(n, h) for n in sizes)
            for p in net.parameters():  # ENAS's init: a near-uniform policy at the start
                nn.init.uniform_(p, -0.1, 0.1)
        self.controller = net
        self.optimizer = torch.optim.Adam(net.parameters(), lr=c["lr"])
        self._gen = torch.Generator().manual_seed(seed)
        self._tokens: dict[str, list[int]] = {}  # canonical hash -> tokens it was sampled with
        self.baseline: Optional[float] = None
        self._worst: Optional[float] = None

    # ------------------------------------------------------------ the controller
    def _run(self, forced: Optional[list[int]] = None, greedy: bool = False):
        """Sample a genotype (``forced`` None; ``greedy``: the likeliest token each step) or score given tokens;
        returns values, tokens, log p, entropy."""
        torch = self._torch
        net = self.controller
        hc = None
        x = net.go
        values: dict[str, Any] = {}
        tokens: list[int] = []
        logp = torch.zeros(())
        entropy = torch.zeros(())
        for d, p, first in self.plans:
            if not self.space._active(d, values):
                values[d.name] = d.default()
                continue
            if p is None:  # a numeric hyperparameter: the space's own distribution
                values[d.name] = d.random(self.rng) if forced is None and not greedy else d.default()
                continue
            idx: list[int] = []
            for t, n in enumerate(p.sizes):
                hc = net.lstm(x, hc)
                logits = net.heads[first + t](hc[0])[0]
                taken = p.taken(idx)
                if taken:
                    mask = torch.zeros(n, dtype=torch.bool)
                    mask[taken] = True
                    # a large finite penalty, not -inf: 0 * -inf would put NaN into the entropy's gradient
                    logits = logits.masked_fill(mask, -1e9)
                lp = torch.log_softmax(logits, -1)
                if greedy:
                    i = int(lp.argmax())
                elif forced is None:
                    i = int(torch.multinomial(lp.exp(), 1, generator=self._gen))
                else:
                    i = forced[len(tokens)]
                pr = lp.exp()
                entropy = entropy - (pr * lp).sum()
                logp = logp + lp[i]
                idx.append(i)
                tokens.append(i)
                x = net.embeds[first + t](torch.tensor([i]))
            values[d.name] = p.decode(idx)
        return values, tokens, logp, entropy

    def _encode(self, genotype: Genotype) -> list[int]:
        """The tokens of a genotype's canonical values (for teacher forcing a genotype not sampled here)."""
        values = self.space.canonical(genotype).values
        tokens: list[int] = []
        for d, p, _ in self.plans:
            if p is not None and self.space._active(d, values):
                tokens.extend(p.encode(values[d.name]))
        return tokens

    # ------------------------------------------------------------ the controller, as ENAS drives it
    def sample(self) -> tuple[dict[str, Any], list[int]]:
        """A genotype's values drawn from the policy and the tokens it was drawn with (no check that it is new)."""
        with self._torch.no_grad():
            values, tokens, _, _ = self._run()
        return values, tokens

    def learn(self, tokens: list[int], reward: float) -> Optional[float]:
        """One policy-gradient step on the sample ``tokens`` rewarded ``reward``: advantage R − b against the
        moving-average baseline (then updated), loss −(R − b)·log p − entropy_weight·H, Adam.  Returns the loss
        (None where the controller chose nothing)."""
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        decay = self.config["baseline_decay"]
        self.baseline = decay * self.baseline + (1 - decay) * reward
        _, _, logp, entropy = self._run(tokens)
        if not logp.requires_grad:  # nothing the controller chose (a space of hyperparameters only)
            return None
        loss = -advantage * logp - self.config["entropy_weight"] * entropy
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def likeliest(self) -> dict[str, Any]:
        """The genotype's values the policy finds most likely, token by token (greedy)."""
        with self._torch.no_grad():
            return self._run(greedy=True)[0]

    def controller_state(self) -> dict[str, Any]:
        """The controller, its optimizer, the baseline and the sampling generator (loads with weights_only)."""
        return {"net": self.controller.state_dict(), "opt": self.optimizer.state_dict(), "baseline": self.baseline,
                "gen": self._gen.get_state()}

    def load_controller_state(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["opt"])
        self.baseline = state["baseline"]
        self._gen.set_state(state["gen"])

    # ------------------------------------------------------------ ask / tell
    def ask(self) -> Genotype:
        with self._torch.no_grad():
            for _ in range(SAMPLE_TRIES):
                values, tokens, _, _ = self._run()
                g = self.space.canonical(Genotype(space=self.space.name, values=values))
                if self.is_new(g):
                    self._tokens[self.hash(g)] = tokens
                    return self._asked(g)
        return self._asked(self._random())  # the policy keeps to told genotypes: explore

    def tell(self, genotype: Genotype, result: Result) -> None:
        h = self.hash(genotype)
        tokens = self._tokens.pop(h, None)
        super().tell(genotype, result)
        reward = value(result)
        if reward is not None and math.isfinite(reward):
            self._worst = reward if self._worst is None else min(self._worst, reward)
        elif self._worst is not None:
            reward = self._worst
        else:
            return
        if tokens is None:
            tokens = self._encode(genotype)
        self.learn(tokens, reward)

    def drop(self, genotype: Genotype) -> None:
        super().drop(genotype)
        self._tokens.pop(self.hash(genotype), None)

    def policy(self) -> dict[str, list[float]]:
        """Each token's distribution along the controller's most likely path (to inspect what it learned)."""
        out: dict[str, list[float]] = {}
        torch = self._torch
        with torch.no_grad():
            net = self.controller
            hc, x, values = None, net.go, {}
            for d, p, first in self.plans:
                if not self.space._active(d, values) or p is None:
                    values[d.name] = d.default()
                    continue
                idx = []
                for t, name in enumerate(p.names):
                    hc = net.lstm(x, hc)
                    pr = torch.softmax(net.heads[first + t](hc[0])[0], -1)
                    taken = p.taken(idx)
                    if taken:
                        pr[taken] = 0
                        pr = pr / pr.sum()
                    out[name] = pr.tolist()
                    i = int(pr.argmax())
                    idx.append(i)
                    x = net.embeds[first + t](torch.tensor([i]))
                values[d.name] = p.decode(idx)
        return out

