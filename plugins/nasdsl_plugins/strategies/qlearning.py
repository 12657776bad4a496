"""Tabular Q-learning over the decisions, after MetaQNN (Baker, Gupta, Naik & Raskar, ICLR 2017).

An architecture is one episode.  The decisions, in the order the space declares them (those a guard
switches off are skipped), are its steps: the state at a step is (the step, the action taken at the
step before) -- MetaQNN's layer-to-layer transitions -- and the action is the value chosen (a decision
with a large domain is split into tokens as for ``reinforce`` and ``tpe``: ``_tokens``).  Every step's
reward is 0 except the last, which gets the trial's objective.

* Q starts at ``init_utility`` (0.5, the paper's; "around the performance of an average model", so it
  suits accuracies -- set it near a typical objective for other scales).
* Proposals are epsilon-greedy: at each step a uniform action with probability epsilon, else the action
  of highest Q (ties broken at random).  Epsilon follows the paper's CIFAR-10 schedule for 2,700 models
  scaled to the search's budget: 1.0 for the first 1500/2700 of the trials, then 0.9, 0.8, 0.7 for
  100/2700 each, and 0.6 down to 0.1 for 150/2700 each (``epsilon`` fixes it instead).
* After each told trial, the update of Eq. 3, Q(s, a) <- (1 - alpha) Q(s, a) + alpha [r + gamma max_a'
  Q(s', a')], runs backwards along the trial's own episode and along ``replay`` (128) episodes drawn
  from the replay memory of every trial told so far, with alpha = ``lr`` 0.01 and gamma = ``discount``
  1.0 (the paper's).  A failed trial is no experience (its reward is unknown).
* Numeric hyperparameters (``hp lr = 1e-3 .. 1e-1``) are drawn from the space's own distribution, not
  learned: a table needs finite actions.

Not built: Block-QNN's block-structured states and reward shaping.  A resumed search replays its history
(asks and tells in order; the replay draws come from the seeded stream), so it continues the same search.
"""

from __future__ import annotations

from typing import Any, Optional

from nasdsl import Genotype, Space
from nasdsl.strategy import Result

from ._base import BuiltinStrategy, value
from ._tokens import Plan, plan

TOKEN_LIMIT = 64
RETRIES = 20
# MetaQNN's CIFAR-10 schedule: [epsilon, models]
PAPER_SCHEDULE = ((1.0, 1500), (0.9, 100), (0.8, 100), (0.7, 100), (0.6, 150), (0.5, 150), (0.4, 150), (0.3, 150),
                  (0.2, 150), (0.1, 150))

State = tuple[int, int]  # (token step, action at the step before; -1 at the first)


def epsilon_at(done: int, budget: int) -> float:
    """The paper's schedule, scaled from its 2,700 models to ``budget`` trials, at trial ``done``."""
    total = sum(n for _, n in PAPER_SCHEDULE)
    at = done / max(1, budget) * total
    edge = 0.0
    for eps, n in PAPER_SCHEDULE:
        edge += n
        if at < edge:
            return eps
    return PAPER_SCHEDULE[-1][0]


class QLearning(BuiltinStrategy):
    name = "qlearning"
    defaults = {"lr": 0.01, "discount": 1.0, "init_utility": 0.5, "replay": 128, "epsilon": -1.0}

    def __init__(self, space: Space, seed: int = 0, **options: Any):
        super().__init__(space, seed, **options)
        c = self.config
        self._check(0 < c["lr"] <= 1, f"lr must be in (0, 1], got {c['lr']}")
        self._check(0 <= c["discount"] <= 1, f"discount must be in [0, 1], got {c['discount']}")
        self._check(c["replay"] >= 0, f"replay must be at least 0, got {c['replay']}")
        self._check(c["epsilon"] == -1.0 or 0 <= c["epsilon"] <= 1,
                    f"epsilon must be in [0, 1] (or -1: the paper's schedule), got {c['epsilon']}")
        self.plans: list[tuple[Any, Optional[Plan], int]] = []  # (decision, plan, first token step)
        self.sizes: list[int] = []
        for d in space.decisions.values():
            p = plan(d, TOKEN_LIMIT, subset_limit=0)
            self.plans.append((d, p, len(self.sizes)))
            self.sizes.extend(p.sizes if p else ())
        self.q: dict[tuple[State, int], float] = {}
        self.memory: list[tuple[list[tuple[State, int]], float]] = []  # (episode, reward) of every told trial
        self.budget: Optional[int] = None
        self._episodes: dict[str, list[tuple[State, int]]] = {}  # canonical hash -> the episode asked

    def set_budget(self, budget: int) -> None:
        self.budget = budget

    @property
    def epsilon(self) -> float:
        if self.config["epsilon"] >= 0:
            return self.config["epsilon"]
        return epsilon_at(self.told, self.budget or 100)

    def value(self, state: State, action: int) -> float:
        return self.q.get((state, action), self.config["init_utility"])

    # ------------------------------------------------------------ episodes
    def _walk(self, choose) -> tuple[Genotype, list[tuple[State, int]]]:
        """Walk the decisions, ``choose(state, allowed actions)`` picking each token's action."""
        values: dict[str, Any] = {}
        episode: list[tuple[State, int]] = []
        prev = -1
        for d, p, first in self.plans:
            if not self.space._active(d, values):
                values[d.name] = d.default()
                continue
            if p is None:
                values[d.name] = d.random(self.rng)
                continue
            idx: list[int] = []
            for t, n in enumerate(p.sizes):
                taken = set(p.taken(idx))
                allowed = [a for a in range(n) if a not in taken] or list(range(n))
                state = (first + t, prev)
                a = choose(state, allowed)
                idx.append(a)
                episode.append((state, a))
                prev = a
            values[d.name] = p.decode(idx)
        return self.space.canonical(Genotype(space=self.space.name, values=values)), episode

    def _greedy(self, eps: float):
        def choose(state: State, allowed: list[int]) -> int:
            if self.rng.random() < eps:
                return self.rng.choice(allowed)
            best = max(self.value(state, a) for a in allowed)
            return self.rng.choice([a for a in allowed if self.value(state, a) == best])
        return choose

    def episode_of(self, genotype: Genotype) -> list[tuple[State, int]]:
        """The episode that proposes ``genotype`` (for a told genotype that was not asked here)."""
        values = self.space.canonical(genotype).values
        tokens: dict[str, list[int]] = {}
        for d, p, _ in self.plans:
            if p is not None and self.space._active(d, values):
                tokens[d.name] = list(p.encode(values[d.name]))

        episode: list[tuple[State, int]] = []
        prev = -1
        for d, p, first in self.plans:
            if p is None or d.name not in tokens:
                continue
            for t, a in enumerate(tokens[d.name]):
                episode.append(((first + t, prev), a))
                prev = a
        return episode

    # ------------------------------------------------------------ ask / tell
    def ask(self) -> Genotype:
        eps = self.epsilon
        for _ in range(RETRIES):
            g, episode = self._walk(self._greedy(eps))
            if self.is_new(g):
                self._episodes[self.hash(g)] = episode
                return self._asked(g)
            eps = max(eps, 0.5)  # the greedy path is taken: explore more until something new comes
        g = self._random()
        self._episodes[self.hash(g)] = self.episode_of(g)
        return self._asked(g)

    def update(self, episode: list[tuple[State, int]], reward: float) -> None:
        """Eq. 3 of the paper, backwards along one episode: the last step gets the reward, the others the
        discounted best Q of the state they lead to."""
        alpha, gamma = self.config["lr"], self.config["discount"]
        for i in range(len(episode) - 1, -1, -1):
            state, action = episode[i]
            if i == len(episode) - 1:
                target = reward
            else:
                nxt = episode[i + 1][0]
                target = gamma * max(self.value(nxt, a) for a in range(self.sizes[nxt[0]]))
            self.q[(state, action)] = (1 - alpha) * self.value(state, action) + alpha * target

    def tell(self, genotype: Genotype, result: Result) -> None:
        h = self.hash(genotype)
        episode = self._episodes.pop(h, None)
        fresh = h not in self.seen
        super().tell(genotype, result)
        v = value(result)
        if v is None or not fresh:
            return  # a failure is no experience; a repeat is not learnt twice
        if episode is None:
            episode = self.episode_of(genotype)
        if not episode:
            return
        self.memory.append((episode, v))
        self.update(episode, v)
        for _ in range(min(self.config["replay"], len(self.memory))):
            past, r = self.memory[self.rng.randrange(len(self.memory))]
            self.update(past, r)

    def drop(self, genotype: Genotype) -> None:
        super().drop(genotype)
        self._episodes.pop(self.hash(genotype), None)
