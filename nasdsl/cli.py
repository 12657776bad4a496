"""The command line: ``nasdsl check | count | show | sample | draw | build | train | search | report | plugins``.

Every command has a Python twin (``Space.from_file``, ``space.size()``, ...).
Errors print as ``file:line:col: error: ...`` with the line and a caret and
exit 1; never a traceback (set NASDSL_DEBUG=1 to see one for an internal error).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .errors import ArchitectureError, GenotypeError, NasdslError, NasError


def _parse_param(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got '{text}'")
    value = value.strip()
    try:
        v: Any = int(value)
    except ValueError:
        try:
            v = float(value)
        except ValueError:
            v = value
    return name.strip(), v


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(x) for x in text.replace("x", ",").split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a shape like 3,32,32; got '{text}'") from None
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"expected positive dimensions; got '{text}'")
    return dims


def _space_args(p: argparse.ArgumentParser, many: bool = False) -> None:
    if many:
        p.add_argument("spaces", nargs="+", metavar="SPACE.nas")
    else:
        p.add_argument("space", metavar="SPACE.nas")
    p.add_argument("--network", help="which network of the file (default: the last one)")
    p.add_argument("--param", "-p", action="append", type=_parse_param, default=[], metavar="NAME=VALUE",
                   help="override a network parameter, e.g. -p C=16 -p layers=8")
    p.add_argument("--input", type=_parse_shape, metavar="C,H,W", help="override the input shape")


def _load(args: argparse.Namespace, path: str | None = None):
    from .space import Space

    return Space.from_file(args.space if path is None else path, network=args.network, params=dict(args.param) or None,
                           input_shape=args.input)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nasdsl", description="Neural architecture search from .nas search spaces.")
    parser.add_argument("--version", action="version", version=f"nasdsl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("check", help="compile spaces; report errors as file:line:col; --sample N: "
                                             "how many random genotypes cannot be realized",
                       description="Compile each space and report its errors as file:line:col. With --sample N, "
                                   "also realize N random genotypes of each space and report how many cannot be "
                                   "realized, with each reason's count and place, most frequent first. Exit status: "
                                   "0 when every space compiles (and every sampled genotype realizes), 1 otherwise.")
    _space_args(p, many=True)
    p.add_argument("--sample", type=int, metavar="N",
                   help="realize N random genotypes of each space; exit 1 if any cannot be realized")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0, so a CI run is repeatable)")

    p = sub.add_parser("count", help="exact number of architectures; --feasible: how many satisfy the 'where' constraints")
    _space_args(p)
    p.add_argument("--feasible", action="store_true",
                   help="count those that satisfy the constraints: exact where it can be, else a sampled estimate "
                        "with its 95%% interval (labelled so)")
    p.add_argument("--samples", type=int, default=2000, metavar="N", help="samples of an estimate (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")

    p = sub.add_parser("show", help="the decisions of a space, its IR, or a realized architecture")
    _space_args(p)
    p.add_argument("--ir", action="store_true", help="print the templates (the Space IR) as text")
    p.add_argument("--supernet", action="store_true",
                   help="print the supernet IR (every option of every decision, resolved and shaped), linted")
    p.add_argument("--genotype", "-g", metavar="GENOTYPE", help="realize this genotype and print its Architecture IR")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("sample", help="random genotypes as JSON lines")
    _space_args(p)
    p.add_argument("-n", type=int, default=1, help="how many (default 1)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--format", choices=["json", "darts", "nb201"], default="json")

    p = sub.add_parser("draw", help="a picture of a space or an architecture (PNG, SVG, PDF or DOT)")
    _space_args(p)
    p.add_argument("genotype", nargs="?", metavar="GENOTYPE", help="draw this architecture instead of the space")
    p.add_argument("-o", "--output", required=True, help="output file: .png, .svg, .pdf or .dot")
    p.add_argument("--template", help="draw one template (cell / motif) of the space")

    p = sub.add_parser("build", help="build a genotype into a PyTorch model: parameters, FLOPs, output shape, export")
    _space_args(p)
    p.add_argument("genotype", metavar="GENOTYPE")
    p.add_argument("-o", "--output", metavar="model.pt", help="write a TorchScript file (loads without nasdsl)")
    p.add_argument("--onnx", metavar="model.onnx", help="write an ONNX file")
    p.add_argument("--auxiliary", action="store_true", help="add DARTS' auxiliary head (not exported)")
    p.add_argument("--weights", metavar="FILE", help="load trained weights (a trial's model.pt, or a state dict)")

    p = sub.add_parser("latency", help="time every candidate op of a space at its place on this device: a latency "
                                       "table (JSON) for -E latency_table=, ProxylessNAS and FBNet",
                       description="Build each distinct op of the space's supernet (fixed ops, every option, every "
                                   "combination of value choices, sum merges) alone at its input shape and time its "
                                   "forward on this device; write the table (device, torch version, batch, per op "
                                   "the median and interquartile range in ms).")
    _space_args(p)
    p.add_argument("-o", "--output", metavar="TABLE.json", help="where to write it (default: SPACE-latency.json)")
    p.add_argument("--data", help="take the input shape from this data set (digits, mnist1d, ...)")
    p.add_argument("--batch", type=int, default=1, help="the batch each op is timed on (default 1)")
    p.add_argument("--repeats", type=int, default=30, help="timed forwards per op (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="untimed forwards first (default 5)")
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, help="torch.set_num_threads while timing (default: torch's)")
    p.add_argument("--genotype", "-g", metavar="GENOTYPE",
                   help="also give this genotype's latency: predicted by the table and measured on its model")

    p = sub.add_parser("export", help="write a stored trial's trained model (TorchScript and/or ONNX)")
    p.add_argument("store", metavar="STORE.db")
    p.add_argument("--trial", type=int, help="the trial's number (default: the best)")
    p.add_argument("-o", "--output", metavar="model.pt", help="write a TorchScript file (loads without nasdsl)")
    p.add_argument("--onnx", metavar="model.onnx", help="write an ONNX file")

    p = sub.add_parser("train", help="train a genotype on a dataset and report its accuracy")
    _space_args(p)
    p.add_argument("genotype", metavar="GENOTYPE")
    p.add_argument("--data", default="digits", help="digits (default), mnist1d, or npz:PATH (a .npz file)")
    p.add_argument("--checkpoint", metavar="FILE", help="save a checkpoint each epoch (and --resume from it)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--save", metavar="model.pt", help="write the trained model as TorchScript")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _recipe_args(p)

    p = sub.add_parser("search", help="run a multi-trial search (resumable; every trial kept in an SQLite store)")
    _space_args(p)
    p.add_argument("--strategy", "-s", default="evolution", help="random, grid, evolution, reinforce, tpe, local, ...")
    p.add_argument("--estimator", "-e", default="train", help="train, sha, hyperband, cost, nasbench-graph, ...")
    p.add_argument("--budget", "-b", type=int, default=20, help="finished trials, counted across resumes")
    p.add_argument("--data", default="digits", help="digits, mnist1d, npz:PATH (a .npz file); cora, citeseer, ... for nasbench-graph")
    p.add_argument("--store", help="the SQLite store (default runs/NETWORK-STRATEGY.db)")
    p.add_argument("--resume", action="store_true", help="continue the search in --store")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--objective", help="metric to maximize (prefix - to minimize); default: the estimator's")
    p.add_argument("--pareto", action="append", default=[], metavar="METRIC",
                   help="a further objective (e.g. -params) whose Pareto front with the first is reported")
    p.add_argument("--workers", "-w", type=int, default=1, help="trials in parallel (local process pool)")
    p.add_argument("--executor", default="local", help="inprocess, local, ...")
    p.add_argument("--executor-option", "-X", action="append", type=_parse_param, default=[], metavar="NAME=VALUE",
                   help="an executor option (what the executor plugin takes)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"),
                   help="where trials train (shorthand for -E device=...; default auto: the GPU if there is one)")
    p.add_argument("--option", "-S", action="append", type=_parse_param, default=[], metavar="NAME=VALUE",
                   help="a strategy option, e.g. -S population=20")
    p.add_argument("--est-option", "-E", action="append", type=_parse_param, default=[], metavar="NAME=VALUE",
                   help="an estimator option, e.g. -E epochs=5")
    p.add_argument("--epochs", type=int, help="shorthand for -E epochs=N")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--report", metavar="DIR", help="write the HTML report there when the search ends")

    p = sub.add_parser("report", help="a search's report: HTML page (-o DIR) or JSON summary (--json)")
    p.add_argument("store", metavar="STORE.db")
    p.add_argument("-o", "--output", metavar="DIR", help="write DIR/index.html")
    p.add_argument("--json", action="store_true", help="print a JSON summary")

    sub.add_parser("plugins", help="every plugin, its version and hooks")
    return parser


def _recipe_args(p: argparse.ArgumentParser) -> None:
    """One flag per training-recipe field; unset flags keep the .nas file's ``hp`` values or the defaults."""
    g = p.add_argument_group("training recipe (overrides the .nas file's hp values)")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int, dest="batch_size")
    g.add_argument("--optimizer", choices=["sgd", "adam", "adamw"])
    g.add_argument("--lr", type=float)
    g.add_argument("--momentum", type=float)
    g.add_argument("--weight-decay", type=float, dest="weight_decay")
    g.add_argument("--schedule", choices=["cosine", "constant"])
    g.add_argument("--grad-clip", type=float, dest="grad_clip")
    g.add_argument("--label-smoothing", type=float, dest="label_smoothing")
    g.add_argument("--drop-path", type=float, dest="drop_path")
    g.add_argument("--auxiliary-weight", type=float, dest="auxiliary_weight")
    g.add_argument("--seed", type=int)
    g.add_argument("--device", choices=["auto", "cpu", "cuda"])
    g.add_argument("--max-steps", type=int, dest="max_steps")


RECIPE_FLAGS = ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule", "grad_clip",
                "label_smoothing", "drop_path", "auxiliary_weight", "seed", "device", "max_steps")


def _interrupted() -> int:
    print("interrupted", file=sys.stderr)
    return 130


def _caused_by_interrupt(e: BaseException) -> bool:
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


_TAKES_A_SIGNED_METRIC = ("--objective", "--pareto")


def _signed_metrics(argv: Sequence[str]) -> list[str]:
    """``--pareto -params`` as the README writes it: argparse would read ``-params`` as an unknown option
    and say "expected one argument", so a metric written with its minus sign is joined to its flag."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a in _TAKES_A_SIGNED_METRIC and i + 1 < len(argv) and argv[i + 1].startswith("-") \
                and not argv[i + 1].startswith("--") and len(argv[i + 1]) > 1:
            out.append(f"{a}={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(_signed_metrics(sys.argv[1:] if argv is None else list(argv)))
    except KeyboardInterrupt:
        return _interrupted()
    try:
        return int(_COMMANDS[args.command](args) or 0)
    except NasError as e:
        print(e.render(), file=sys.stderr)
        return 1
    except (GenotypeError, ArchitectureError, NasdslError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        return 0
    except Exception as e:  # the CLI never shows a traceback unless asked to
        if _caused_by_interrupt(e):  # a Ctrl-C that Python wrapped (class creation, an import) is still one
            return _interrupted()
        if os.environ.get("NASDSL_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {type(e).__name__}: {e} (set NASDSL_DEBUG=1 for a traceback; please report it)",
              file=sys.stderr)
        return 2


def cmd_check(args: argparse.Namespace) -> int:
    if args.sample is not None and args.sample < 1:
        raise NasdslError("--sample must be at least 1")
    failed = 0
    for path in args.spaces:
        try:
            space = _load(args, path)
        except NasError as e:
            print(e.render(), file=sys.stderr)
            failed += 1
            continue
        print(f"ok: {path}: network '{space.name}', {len(space.decisions)} decisions, {space.size()} architectures")
        if args.sample:
            from .search import realizability

            found = realizability(space, args.sample, args.seed)
            print(f"sampled {found.sampled} genotypes: {found.failed} ({100 * found.fraction:.1f}%) cannot be realized")
            for r in found.reasons:
                print(f"  {r.count:>{len(str(found.sampled))}}  {r}")
            failed += found.failed > 0
    return 1 if failed else 0


def cmd_count(args: argparse.Namespace) -> int:
    space = _load(args)
    if not args.feasible:
        print(space.size())
        return 0
    if args.samples < 1:
        raise NasdslError("--samples must be at least 1")
    from .constraints import count_feasible, model_metrics

    found = count_feasible(space, samples=args.samples, seed=args.seed, arch_metrics=model_metrics)
    print(found.describe())
    width = len(str(found.samples or found.total))
    for text, n in found.reasons.most_common():
        print(f"  {n:>{width}}  " + (text if text == "cannot be realized" else f"broke 'where {text}' first"))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    space = _load(args)
    if args.genotype:
        from .adapters import read_genotype

        arch = space.realize(read_genotype(space, args.genotype))
        print(arch.to_json(indent=2) if args.json else arch.to_text())
        return 0
    if args.ir:
        print(space.templates_text())
        return 0
    if args.supernet:
        from .compiler.supernet import lint_supernet

        ir = space.supernet()
        lint_supernet(ir)
        print(ir.to_json(indent=2) if args.json else ir.to_text())
        return 0
    if args.json:
        print(json.dumps({"space": space.name, "file": space.file, "size": str(space.size()),
                          "params": space.params, "input": list(space.input_shape or ()),
                          "constraints": space.constraints, "decisions": space.describe()}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{space.name} — {len(space.decisions)} decisions, {space.size():,} architectures")
    for col in ("decision", "kind", "domain", "size", "where"):
        table.add_column(col, overflow="fold")
    for d in space.decisions.values():
        dom = d.describe() + (f"  (when {d.guard})" if d.guard else "")
        table.add_row(d.name, d.kind, dom, str(d.size()) if d.size() else "∞", d.where.split("/")[-1])
    Console().print(table)
    if space.constraints:
        print("constraints: " + "; ".join(c["text"] for c in space.constraints))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import random

    from .adapters import to_darts, to_nb201

    if args.n < 0:
        raise NasdslError("-n must be at least 0")
    space = _load(args)
    rng = random.Random(args.seed)
    for _ in range(args.n):
        g = space.sample(rng)
        if args.format == "darts":
            print(to_darts(space, g))
        elif args.format == "nb201":
            print(to_nb201(space, g))
        else:
            print(json.dumps(g.values))
    return 0


def _output_files(**flags: str | None) -> None:
    """Refuse an output path that is a folder before any work is done (``flag=path``, None where not given)."""
    for flag, path in flags.items():
        if path is not None and Path(path).is_dir():
            raise NasdslError(f"--{flag.replace('_', '-')} '{path}' is a folder; give a file name")


def cmd_draw(args: argparse.Namespace) -> int:
    from .draw import arch_to_dot, render, space_to_dot

    _output_files(output=args.output)
    space = _load(args)
    if args.genotype:
        from .adapters import read_genotype

        dot = arch_to_dot(space.realize(read_genotype(space, args.genotype)), title=space.name)
    else:
        if args.template and args.template not in space.templates:
            raise NasdslError(f"no template '{args.template}'; templates: {', '.join(space.templates)}")
        dot = space_to_dot(space, args.template)
    try:
        path, message = render(dot, Path(args.output))
    except ValueError as e:
        raise NasdslError(str(e)) from None
    print(f"wrote {path}")
    if message:
        print(message)
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from .adapters import read_genotype
    from .plugins import get_backend

    _output_files(output=args.output, onnx=args.onnx)
    space = _load(args)
    arch = space.realize(read_genotype(space, args.genotype))
    backend = get_backend("torch")()
    model = backend.build(arch, auxiliary=args.auxiliary)
    if args.weights:
        from .trained import load_weights

        load_weights(model, args.weights)
    print(f"space: {space.name}")
    print(f"params: {backend.count_params(model)}")
    print(f"flops: {backend.flops(model, arch.input_shape)} (multiply-adds, input {list(arch.input_shape)})")
    print(f"output: {list(backend.output_shape(model, arch.input_shape))}")
    if args.output or args.onnx:
        if args.auxiliary:  # exported without the auxiliary head
            state = model.state_dict()
            model = backend.build(arch)
            model.load_state_dict({k: v for k, v in state.items() if not k.startswith("aux.")})
        if args.output:
            print(f"wrote {backend.export_torchscript(model, args.output)} (TorchScript)")
        if args.onnx:
            print(f"wrote {backend.export_onnx(model, args.onnx, arch.input_shape)} (ONNX)")
    return 0


def cmd_latency(args: argparse.Namespace) -> int:
    import time

    import torch

    from .adapters import read_genotype
    from .datasets import load_dataset
    from .latency import predict, save_table
    from .plugins import get_backend

    if min(args.batch, args.repeats) < 1 or args.warmup < 0 or (args.threads is not None and args.threads < 1):
        raise NasdslError("--batch, --repeats and --threads must be at least 1, --warmup at least 0")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device.startswith("cuda") and not torch.cuda.is_available():
        raise NasdslError(f"device '{device}' asked for, but no GPU is available")
    if args.threads:
        torch.set_num_threads(args.threads)
    space = _load(args)
    shape = tuple(load_dataset(args.data).input_shape) if args.data else None
    out = Path(args.output or f"{space.name}-latency.json")
    t0 = time.perf_counter()
    backend = get_backend("torch")()
    table = backend.latency_table(space, shape, batch=args.batch, repeats=args.repeats, warmup=args.warmup,
                                  device=device)
    save_table(table, out)
    rows = sorted(table["ops"].values(), key=lambda r: -r["median_ms"])
    print(f"{len(rows)} ops of {space.name} at input {table['input_shape']}, batch {args.batch}, on {table['device']} "
          f"({table['device_name']}), torch {table['torch']}, {table['threads']} threads: "
          f"{time.perf_counter() - t0:.1f} s")
    for r in rows[:5]:
        args_text = ", ".join(f"{k}={v}" for k, v in sorted(r["args"].items()))
        print(f"  {r['median_ms']:8.3f} ms ± {r['spread_ms']:.3f}  {r['op']}({args_text}) at {r['input_shape']}")
    if args.genotype:
        arch = space.realize(read_genotype(space, args.genotype), table["input_shape"])
        model = backend.build(arch).to(device)
        measured, spread = backend.latency(model, arch.input_shape, batch=args.batch, repeats=args.repeats,
                                           warmup=args.warmup, device=device)
        print(f"genotype: predicted {predict(table, arch):.3f} ms, measured {measured:.3f} ms ± {spread:.3f}")
    print(f"wrote {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .plugins import get_backend
    from .search import open_store
    from .trained import architecture, trained_model

    if not (args.output or args.onnx):
        raise NasdslError("nothing to write: give -o model.pt and/or --onnx model.onnx")
    _output_files(output=args.output, onnx=args.onnx)
    with open_store(args.store) as store:
        if args.trial is None:
            trial = store.best()
            if trial is None:
                raise NasdslError(f"store '{args.store}' has no completed trial")
        else:
            trial = next((t for t in store.trials() if t.number == args.trial), None)
            if trial is None:
                raise NasdslError(f"store '{args.store}' has no trial {args.trial} (it has 0 .. {store.count() - 1})")
        if trial.status != "completed":
            raise NasdslError(f"trial {trial.number} is {trial.status}, not completed: it has no trained model")
        arch = architecture(store, trial)
        model, trained = trained_model(store, trial, arch)
    if not trained:
        raise NasdslError(f"trial {trial.number} saved no weights (its estimator does not train, or it ran with "
                          "-E save_model=false); `nasdsl build` writes an untrained model")
    backend = get_backend("torch")()
    value = "" if trial.value is None else f", objective {trial.value:.4f}"
    print(f"trial {trial.number}{value}, {backend.count_params(model)} parameters, trained weights")
    if args.output:
        print(f"wrote {backend.export_torchscript(model, args.output)} (TorchScript)")
    if args.onnx:
        print(f"wrote {backend.export_onnx(model, args.onnx, arch.input_shape)} (ONNX)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .adapters import read_genotype
    from .plugins import get_backend

    from .datasets import load_dataset

    _output_files(checkpoint=args.checkpoint, save=args.save)
    data = load_dataset(args.data)
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)
    space = _load(args)
    arch = space.realize(read_genotype(space, args.genotype), input_shape=data.input_shape)
    if arch.output_shape[0] != data.classes:
        raise NasdslError(f"the network has {arch.output_shape[0]} outputs but '{args.data}' has {data.classes} classes; "
                          f"set the network's class count, e.g. -p classes={data.classes}")
    backend = get_backend("torch")()
    overrides = {k: getattr(args, k) for k in RECIPE_FLAGS if getattr(args, k) is not None}
    result = backend.train(arch, data, overrides, progress=not args.quiet, checkpoint=args.checkpoint,
                           resume=args.resume, save=args.save)
    m = result.metrics
    print(f"params: {int(m['params'])}  flops: {int(m['flops'])}")
    print(f"valid_acc: {m['valid_acc']:.4f}  test_acc: {m['test_acc']:.4f}  train_loss: {m['train_loss']:.4f}  "
          f"time: {m['train_seconds']:.1f}s")
    if args.save:
        print(f"wrote {args.save} (TorchScript)")
    return 0


def _resume_command() -> str:
    """This command line with ``--resume`` (added if it is not there), quoted for a POSIX shell."""
    import shlex

    argv = ["nasdsl", *sys.argv[1:]]
    if "--resume" not in argv:
        argv.append("--resume")
    return shlex.join(argv)


def _say_how_to_resume(search: Any, said: str) -> None:
    """``said``, how many finished trials the store keeps, and the command that resumes the search."""
    from .store import Store

    with Store(search.store_path, readonly=True) as st:
        n = st.finished_count()
    print(f"{said}{n} finished trials are in the store '{search.store_path}'; resume with:\n  " + _resume_command(),
          file=sys.stderr)


def cmd_search(args: argparse.Namespace) -> int:
    from .executor import ExecutorError
    from .search import Search
    from .store import Store

    if args.input:
        raise NasdslError("--input does not apply to search: the estimator's data sets the input shape "
                          "(the .nas file's 'input' is used by estimators without data)")

    est_opts = dict(args.est_option)
    if args.device is not None:
        est_opts["device"] = args.device
    if args.epochs is not None:
        est_opts["epochs"] = args.epochs
    search = Search(args.space, strategy=args.strategy, estimator=args.estimator, budget=args.budget, store=args.store,
                    seed=args.seed, data=args.data, network=args.network, params=dict(args.param) or None,
                    strategy_options=dict(args.option), estimator_options=est_opts, objective=args.objective,
                    executor=args.executor, workers=args.workers, resume=args.resume,
                    executor_options=dict(args.executor_option))
    for note in search.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.pareto:
        search.store.set_meta({"pareto": args.pareto})
    try:
        result = search.run(progress=not args.quiet)
    except ExecutorError as e:  # the cluster went away (or cannot run a trial): the store keeps what finished
        _say_how_to_resume(search, f"error: {e}\n")
        return 1
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        _say_how_to_resume(search, "interrupted: ")
        return 130
    finally:
        search.close()
    c = result.counts
    print(f"store: {result.store}")
    print(f"trials: {c['completed']} completed, {c['failed']} failed, {c['rejected']} rejected, "
          f"{c['cached']} answered from the store")
    if result.stopped_early:
        print("stopped early: the strategy kept proposing architectures evaluated already (space exhausted?)")
    if result.best is None:
        print("no trial completed")
        return 1
    b = result.best
    print(f"best: trial {b.number}, {search.objective} = {b.value:.4f}")
    hidden = tuple(getattr(search.estimator, "bookkeeping", ()))  # its own bookkeeping (rung results)
    print("metrics: " + json.dumps({k: v for k, v in b.metrics.items() if not k.startswith(hidden)}))
    print("genotype: " + json.dumps(b.genotype.values))
    if args.report:
        from .report import write_html

        with Store(result.store, readonly=True) as st:
            print(f"wrote {write_html(st, args.report)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import summary, write_html
    from .search import open_store

    with open_store(args.store) as st:
        if args.json or not args.output:
            print(json.dumps(summary(st), indent=2))
        if args.output:
            print(f"wrote {write_html(st, args.output)}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .plugins import list_plugins, registrations

    table = Table(title="nasdsl plugins")
    for col in ("plugin", "package", "version", "hooks"):
        table.add_column(col)
    loaded = list_plugins()
    for p in loaded:
        table.add_row(p["name"], p["package"], p["version"], ", ".join(p["hooks"]))
    console = Console(width=140)
    console.print(table)
    what = Table(title="what each plugin registers")
    for col in ("plugin", "kind", "names"):
        what.add_column(col)
    made = registrations()
    for p in loaded:
        for kind, names in sorted(made.get(p["name"], {}).items()):
            what.add_row(p["name"], kind, ", ".join(names))
    console.print(what)
    return 0


_COMMANDS = {"check": cmd_check, "count": cmd_count, "show": cmd_show, "sample": cmd_sample, "draw": cmd_draw,
             "build": cmd_build, "latency": cmd_latency, "export": cmd_export, "train": cmd_train, "search": cmd_search, "report": cmd_report, "plugins": cmd_plugins}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
