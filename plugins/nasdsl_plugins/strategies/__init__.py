"""Built-in search strategies (ask/tell, see ``nasdsl.strategy``).

``random``     uniform samples of the space
``grid``       every architecture of a small space (at most 10^6) in order, then random
``evolution``  regularized (aging) evolution: tournament of S from a population of P, remove the oldest
``reinforce``  REINFORCE with an LSTM controller over the decisions (torch)
``tpe``        optuna's TPE sampler through its ask/tell interface (optuna)
``local``      first-improvement hill climbing over neighbours, random restarts
``bananas``    an ensemble of MLP predictors picks mutations of the best by Thompson sampling (scikit-learn)
``hierarchical``  Liu et al.'s asynchronous tournament evolution: trivial genotype diversified, nothing removed
``qlearning``  MetaQNN's tabular Q-learning over the decisions in order, epsilon-greedy, experience replay
``bohb``       BOHB: optuna's multivariate TPE fitted on the largest rung of Hyperband's brackets with enough points

Every strategy maximizes ``Result.value``, treats a failed trial (value None) as
the worst, skips genotypes already told or in flight, and is seeded.  Importing
this module is cheap: torch and optuna load when such a strategy is built.
"""

from __future__ import annotations

from nasdsl import hookimpl

from .bananas import Bananas
from .bohb import BOHB
from .evolution import RegularizedEvolution
from .grid import GridSearch
from .hierarchical import HierarchicalEvolution
from .local import LocalSearch
from .qlearning import QLearning
from .random_search import RandomSearch
from .reinforce import Reinforce
from .tpe import TPE


@hookimpl
def register_strategies(register) -> None:
    register("random", RandomSearch)
    register("grid", GridSearch)
    register("evolution", RegularizedEvolution)
    register("reinforce", Reinforce)
    register("tpe", TPE)
    register("local", LocalSearch)
    register("bananas", Bananas)
    register("bohb", BOHB)
    register("qlearning", QLearning)
    register("hierarchical", HierarchicalEvolution)


__all__ = ["BOHB", "Bananas", "GridSearch", "HierarchicalEvolution", "LocalSearch", "QLearning", "RandomSearch", "Reinforce", "RegularizedEvolution", "TPE",
           "register_strategies"]
