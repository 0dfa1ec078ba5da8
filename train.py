"""Train a Digit Canvas model on MNIST and real pen digits; save it, its TFLite export and a report.

    python train.py --recipe base --out models/base                 # 1. the CNN's MNIST base (no pen writer)
    python train.py --recipe fine-tune --fold 0 --out models        # 2. + every pen writer and contributor
    python train.py --recipe trajectory --fold 0 --out models       # the pen-path model
    python train.py --recipe line --out models                      # the line reader for pictures of numbers
    python train.py --evaluate models/digit_cnn.keras               # a saved CNN's MNIST test accuracy
    python train.py --export models/trajectory.keras                # its TFLite file again
    python train.py --recipe line --out models --overwrite --resume  # a run cut off: on from its last epoch

A recipe (training/config.py) sets every training option; flags given here override it. `--fold K` holds
out the K-th fold of pendigits writers and UNIPEN contributors (make cv trains one model per fold; make
eval judges each on what it never saw). The command line only: loading, splitting, fitting and the report
live in training/ (run.py reads top to bottom: load, split, build, fit, evaluate, save).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields
from pathlib import Path

import training
from training import config, data, fit, report, run

# Where the Makefile looks for the data sets (../shared/data beside the checkout): train.py looks there too.
SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"


def data_default(variable: str, filename: str) -> str | None:
    """$VARIABLE when it is set (set empty: none), else SHARED_DATA/filename when it is there, else None."""
    if variable in os.environ:
        return os.environ[variable] or None
    path = SHARED_DATA / filename
    return str(path) if path.is_file() else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; data paths default to their environment variables (else ../shared/data, as the
    Makefile does), training options to the recipe."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=sorted(config.RECIPES), default="cnn",
                        help="the training recipe the other options start from (training/config.py; default: cnn)")
    shared = "../shared/data"
    parser.add_argument("--data", default=data_default("MNIST_PATH", "mnist.npz"),
                        help=f"Keras-layout mnist.npz (default: $MNIST_PATH, else {shared}/mnist.npz, else the "
                             "keras.datasets.mnist download)")
    parser.add_argument("--pen-data", default=data_default("PENDIGITS_PATH", "pendigits_train.json"),
                        help=f"pendigits JSON of real pen strokes to mix in (default: $PENDIGITS_PATH, else "
                             f"{shared}/pendigits_train.json, else none)")
    parser.add_argument("--unipen-data", default=data_default("UNIPEN_PATH", "unipen_train.json"),
                        help=f"UNIPEN-train JSON of more pen writers to mix in (default: $UNIPEN_PATH, else "
                             f"{shared}/unipen_train.json, else none)")
    parser.add_argument("--mnist-writers", default=data_default("MNIST_WRITERS_PATH", "mnist_writers.npz"),
                        help=f"mnist_writers.npz: validation holds out whole MNIST writers (default: "
                             f"$MNIST_WRITERS_PATH, else {shared}/mnist_writers.npz, else random images)")
    parser.add_argument("--corrections", default=None,
                        help="corrections people sent (python -m app.corrections export FILE.json) to mix in; "
                             "the newest 20%% are held out and reported on")
    parser.add_argument("--out", default="out/models",
                        help="folder for the model, its export, report and plots (default: out/models, ignored by git)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a model already in --out (make train passes it to refresh the shipped models/)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run cut off in --out from its last finished epoch (the same flags; "
                             "its <model>.resume/ folder holds the weights, optimizer state and history)")
    parser.add_argument("--evaluate", metavar="MODEL", help="print a saved model's test report instead of training")
    parser.add_argument("--export", metavar="MODEL",
                        help="write a saved .keras model's TFLite file beside it (per --quantize) instead of training")
    recipe = "default: the recipe's"
    parser.add_argument("--model", choices=("cnn", "trajectory", "line", "online"),
                        help=f"cnn: the image model; trajectory: the pen-path model (pen data only) ({recipe})")
    parser.add_argument("--epochs", type=int, help=f"passes over the training data ({recipe})")
    parser.add_argument("--batch-size", type=int, help=f"examples per gradient step ({recipe})")
    parser.add_argument("--lr", type=float, help=f"peak learning rate, warm-up then cosine decay ({recipe})")
    parser.add_argument("--fold", type=int,
                        help=f"hold out this fold's pen writers and contributors; 0: none ({recipe})")
    parser.add_argument("--folds", type=int, help=f"cross-validation folds ({recipe})")
    parser.add_argument("--held-out", help="UNIPEN contributors to hold out instead of the fold's, comma-separated "
                                           "(an institution whole, e.g. apa,apb,app)")
    parser.add_argument("--init", help=f"start from this saved model's weights instead of at random ({recipe})")
    parser.add_argument("--styles", type=float,
                        help=f"share of pen digits redrawn in a style the data lacks ({recipe})")
    parser.add_argument("--vary", type=float,
                        help=f"share of pen digits warped, each stroke moved and turned a little ({recipe})")
    parser.add_argument("--directions", type=float,
                        help=f"the pen-path model: share of pen digits with strokes drawn from their end ({recipe})")
    parser.add_argument("--letters", type=float, help=f"share of each epoch that is traced letters ({recipe})")
    parser.add_argument("--pen-repeat", type=int, help=f"times each pen digit is drawn per epoch ({recipe})")
    parser.add_argument("--balance-sources", action=argparse.BooleanOptionalAction, default=None,
                        help=f"an equal share of the pen digits for each source, pendigits and UNIPEN ({recipe})")
    parser.add_argument("--traced", type=float, help=f"share of MNIST digits traced into strokes ({recipe})")
    parser.add_argument("--scans", type=float,
                        help=f"share of digits read back from a small scan through the picture path ({recipe})")
    parser.add_argument("--scribbles", type=float, help=f"share of each epoch that is random scribbles ({recipe})")
    parser.add_argument("--validation", type=int, help=f"MNIST training images held out for validation ({recipe})")
    parser.add_argument("--corrections-weight", type=int, help=f"times each correction is drawn per epoch ({recipe})")
    parser.add_argument("--seed", type=int, help=f"random seed ({recipe})")
    parser.add_argument("--limit", type=int, help=f"train on this many MNIST images and at most this many pen digits "
                                                  f"(a smoke run); 0: all ({recipe})")
    parser.add_argument("--pictures", type=int, help=f"the line model: number pictures synthesised an epoch ({recipe})")
    parser.add_argument("--stream", type=int, help=f"the line and online models: which stream of fresh pictures, "
                        f"so that a later stage never repeats an earlier one's ({recipe})")
    parser.add_argument("--quantize", choices=("dynamic", "none"),
                        help=f"TFLite weights: dynamic: int8 (a quarter of the size, about 5x faster on a CPU); "
                             f"none: float32 ({recipe})")
    return parser.parse_args(argv)


def make_config(args: argparse.Namespace) -> config.TrainConfig:
    """The recipe with the flags given on the command line applied."""
    return config.RECIPES[args.recipe].with_overrides(**{f.name: getattr(args, f.name, None)
                                                         for f in fields(config.TrainConfig)})


def missing_sources(cfg: config.TrainConfig, args: argparse.Namespace) -> list[str]:
    """A warning for each data set the recipe would use but that is not there (the run goes on without it)."""
    if cfg.model == "line":
        return []
    warnings = []
    if cfg.pen and not args.pen_data:
        warnings.append("no pendigits (--pen-data, $PENDIGITS_PATH or ../shared/data/pendigits_train.json): "
                        "the model learns no real pen writer, and reads drawings worse")
    if cfg.pen and not args.unipen_data:
        warnings.append("no UNIPEN-train (--unipen-data, $UNIPEN_PATH or ../shared/data/unipen_train.json): "
                        "no other institution's writers (continental 1s, slashed zeros...)")
    if cfg.model == "cnn" and not args.mnist_writers:
        warnings.append("no mnist_writers.npz (--mnist-writers, $MNIST_WRITERS_PATH or ../shared/data): validation "
                        "holds out random MNIST images, not whole writers, so its accuracy is optimistic")
    return warnings


def fail(message: str) -> int:
    """One clear line on stderr; exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def evaluate(path: str, mnist_path: str | None) -> int:
    """--evaluate: a saved CNN's MNIST test accuracy, per class."""
    import keras

    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError) as error:
        return fail(f"{path}: not a saved Keras model ({str(error).splitlines()[0][:200]})")
    mnist, _ = data.load_mnist(mnist_path)
    tested = report.test_report(model, mnist["x_test"], mnist["y_test"])
    print(f"test accuracy {tested['test_accuracy']:.4f} on {len(mnist['y_test'])} images")
    print("per class", " ".join(f"{d}:{a:.4f}" for d, a in enumerate(tested["per_class_accuracy"])))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Train per the recipe and flags (or --evaluate a saved model, or --export one); the exit status."""
    args = parse_args(argv)
    cfg = make_config(args)
    if not args.export and not args.evaluate:  # refused at once, not after loading TensorFlow and the data
        existing = Path(args.out) / config.FILES[cfg.model][0]
        if existing.exists() and not (args.overwrite or args.resume):
            return fail(f"{existing} exists; pass --overwrite to replace it, or --out another folder")
    training.import_tensorflow()
    if args.export:
        return fit.export_saved(args.export, args.quantize or "dynamic")
    if not 0 <= cfg.fold <= cfg.folds:
        return fail(f"--fold {cfg.fold} must be between 0 (no fold held out) and --folds {cfg.folds}")
    sources = run.Sources(args.data, args.pen_data, args.unipen_data, args.mnist_writers, args.corrections)
    try:
        if args.evaluate:
            return evaluate(args.evaluate, args.data)
        loaded = run.load_data(cfg, sources)
    except data.DataError as error:
        return fail(f"{error}; pass a Keras-layout mnist.npz with --data (or set MNIST_PATH)")
    except (OSError, ValueError, KeyError, TypeError) as error:
        return fail(f"{args.pen_data}, {args.unipen_data} or {args.corrections}: not a pen-digit JSON file "
                    f"({error}); fix --pen-data, --unipen-data or --corrections")
    for warning in missing_sources(cfg, args):  # said once the data that is there has loaded (an error is one line)
        print(f"warning: {warning}", file=sys.stderr)
    out = Path(args.out)
    try:
        fitted = run.train(cfg, loaded, out, resume=args.resume)
    except ValueError as error:  # a setting that does not fit the data (checked before any fitting)
        return fail(str(error))
    run.save(fitted, cfg, loaded, out, vars(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
