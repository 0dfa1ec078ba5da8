"""Fine-tune the whole pretrained recognizer on handwritten numbers (make pretrained, after the cut).

training/digits_head.py refits only the output layer; what is left to learn is in the features. Here every
weight of the cut recognizer is trained (training/onnx_graph.py runs its ONNX graph with TensorFlow), with
CTC, at a low rate, pulled back towards the pretrained weights (an L2 penalty on the change), on pictures
composed afresh by training/lines.py from the line model's training writers (digits_head.split_writers:
every tenth pen writer validates; no evaluation writer is used), plus a share of pictures with no number
(bare or printed paper, noise, stripes, printed marks) whose target is empty, so that the recognizer keeps
reading nothing where there is nothing. The weights go back into the same ONNX graph, which the server
reads as before.

    python -m training.digits_finetune [--model models/digits_rec.onnx] [--pictures 48000] [--resume]

rewrites the cut model in place and adds a "finetune" section to its report (digits_rec.json); make
pretrained runs it after the cut (about an hour on 2 cores), then fits the unsure thresholds. A run
longer than a sitting keeps its weights and optimiser state every SAVE_EVERY steps in `<model>.resume/`
beside the (still cut) model; `--resume` with the same flags composes the same pictures again and goes on
from the last saved step.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from app.errors import InputError
from app.reader import line, pretrained
from training import data, lines
from training.digits_head import CHUNK, FitRefusedError, data_hashes, on_every_core, prepared
from training.pretrained import NOTICE as CUT_NOTICE

LOGITS = "p2o.pd_op.add.79.0"  # the output layer's result, before the softmax
SAVE_EVERY = 200  # steps between saves of the resumable state (~4 minutes on 2 cores)
NOTICE = CUT_NOTICE + ", then fine-tuned whole on handwritten numbers (training/digits_finetune.py)"


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that shapes the fine-tune (recorded in the report)."""

    pictures: int = 48_000  # 24,000 read the held-back writers 94.49%, 48,000 94.94% (training.md)
    validation_pictures: int = 2_000
    empty_share: float = 0.05  # pictures with no number, target empty
    epochs: int = 1
    batch_size: int = 16
    lr: float = 1e-4
    warmup: int = 100
    l2: float = 1e-3  # pull towards the pretrained weights (sum of squared changes)
    seed: int = 21


_job: dict = {}  # the writers each picture process inherits (fork)


def _strips_of_chunk(chunk: int) -> tuple[list[np.ndarray], list[str]]:
    """CHUNK pictures of seed (seed, chunk) as the server cuts them for the recognizer (uint8), and their digits."""
    rng = np.random.default_rng([_job["seed"], chunk])
    strips, labels = [], []
    for _ in range(min(CHUNK, _job["count"] - chunk * CHUNK)):
        if rng.random() < _job["empty_share"]:
            grey, digits = lines.blank_picture(rng), ""
        else:
            grey, digits, _ = lines.picture(_job["writers"][int(rng.integers(len(_job["writers"])))], rng)
        try:  # the very strip the server cuts for the recognizer; what the server refuses is never read
            paper = line.strip_of(line.writing_band(grey), pretrained.ROWS).paper
        except InputError:
            continue
        strips.append(np.round(paper * 255).astype(np.uint8))
        labels.append(digits)
    return strips, labels


def picture_strips(writers: list, count: int, seed: int, empty_share: float) -> tuple[list[np.ndarray], list[str]]:
    """Strips and digits of `count` composed pictures by the writers, on every core."""
    return on_every_core(_strips_of_chunk, _job, count, writers=writers, seed=seed, empty_share=empty_share)


def batch_input(strips: list[np.ndarray]) -> np.ndarray:
    """Strips (uint8) as one network input: each exactly as the server's pretrained.network_input makes it,
    padded on with the same zeros to the widest."""
    width = max(pretrained.MIN_WIDTH, max(s.shape[1] for s in strips))
    width = -(-width // pretrained.STRIDE) * pretrained.STRIDE
    x = np.zeros((len(strips), 3, pretrained.ROWS, width), np.float32)
    for k, strip in enumerate(strips):
        one = pretrained.network_input(strip.astype(np.float32) / 255.0)[0]
        x[k, :, :, :one.shape[2]] = one
    return x


def _targets(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Padded CTC targets (digit d is class d + 1, the recognizer's order) and their lengths."""
    targets = np.zeros((len(labels), max(1, max(len(label) for label in labels))), np.int32)
    for k, label in enumerate(labels):
        targets[k, :len(label)] = [int(d) + 1 for d in label]
    return targets, np.array([len(label) for label in labels], np.int32)


def batches(widths: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of similar widths (little padding), in random order."""
    order = np.argsort(widths + rng.uniform(0, 40, len(widths)), kind="stable")
    groups = [order[i:i + size] for i in range(0, len(order), size)]
    return [groups[i] for i in rng.permutation(len(groups))]


def ctc_loss(graph, strips: list[np.ndarray], labels: list[str]) -> float:
    """Mean CTC loss of the strips (one batch) under the graph."""
    import tensorflow as tf

    logits = graph(batch_input(strips))
    targets, target_lengths = _targets(labels)
    lengths = tf.fill([tf.shape(logits)[0]], tf.shape(logits)[1])
    return float(tf.reduce_mean(tf.nn.ctc_loss(targets, logits, target_lengths, lengths, logits_time_major=False,
                                               blank_index=0)))


def exact(graph, strips: list[np.ndarray], labels: list[str]) -> float:
    """Share of strips read exactly by the graph, decoded as the server decodes."""
    right = 0
    for first in range(0, len(strips), 32):
        part = range(first, min(first + 32, len(strips)))
        for k, probabilities in zip(part, _probabilities(graph, [strips[i] for i in part])):
            columns = pretrained.fold_marks(probabilities[:_columns(strips[k])])
            right += line.number_of(line.greedy_decode(columns)) == labels[k]
    return right / max(len(labels), 1)


def _probabilities(graph, strips) -> np.ndarray:
    """Per-column probabilities of a batch of strips."""
    import tensorflow as tf

    return tf.nn.softmax(graph.compiled()(batch_input(strips)), -1).numpy()


def _columns(strip: np.ndarray) -> int:
    """The columns the server reads for a strip (padded to MIN_WIDTH)."""
    return -(-max(pretrained.MIN_WIDTH, strip.shape[1]) // pretrained.STRIDE)


@dataclass(frozen=True)
class Saving:
    """Where a fit keeps its resumable state, the cut model it started from, and whether to go on from it."""

    folder: Path
    cut_sha256: str
    resume: bool = False


def resume_dir(model: str | Path) -> Path:
    """Where a fine-tune of this model keeps what --resume needs: beside it, the model's name with .resume."""
    return Path(model).with_suffix(".resume")


def fit(graph, strips: list[np.ndarray], labels: list[str], cfg: FinetuneConfig, checks=None,
        saving: Saving | None = None) -> list[float]:
    """Every trainable weight fitted with CTC from its pretrained value, pulled towards it; each epoch's loss.
    With `saving`, the state is saved every SAVE_EVERY steps, and a resume goes on from the last save."""
    import tensorflow as tf

    tf.random.set_seed(cfg.seed)
    variables = graph.trainable
    start = [tf.constant(v.numpy()) for v in variables]  # the pretrained weights: the pull's centre
    rng = np.random.default_rng(cfg.seed)
    widths = np.array([s.shape[1] for s in strips])
    epochs = [batches(widths, cfg.batch_size, rng) for _ in range(cfg.epochs)]  # the same on every resume
    steps = sum(map(len, epochs))
    decay = tf.keras.optimizers.schedules.CosineDecay(0.0, steps - cfg.warmup, warmup_target=cfg.lr,
                                                      warmup_steps=cfg.warmup)
    optimiser = tf.keras.optimizers.Adam(decay)
    optimiser.build(variables)
    progress = load_state(saving, cfg, variables, optimiser) if saving and saving.resume else \
        {"step": 0, "losses": [], "total": 0.0}

    @tf.function(autograph=False, reduce_retracing=True)
    def step(x, targets, target_lengths):
        with tf.GradientTape() as tape:
            logits = graph(x)
            lengths = tf.fill([tf.shape(logits)[0]], tf.shape(logits)[1])
            loss = tf.reduce_mean(tf.nn.ctc_loss(targets, logits, target_lengths, lengths,
                                                 logits_time_major=False, blank_index=0))
            change = tf.add_n([tf.reduce_sum(tf.square(v - s)) for v, s in zip(variables, start)])
            penalised = loss + cfg.l2 * change
        optimiser.apply_gradients(zip(tape.gradient(penalised, variables), variables))
        return loss, change

    losses, total, done, began = progress["losses"], progress["total"], 0, time.time()
    for number, epoch in enumerate(epochs, 1):
        for rows in epoch:
            done += 1
            if done <= progress["step"]:  # fitted before the run was cut off
                continue
            targets, target_lengths = _targets([labels[i] for i in rows])
            loss, change = step(batch_input([strips[i] for i in rows]), targets, target_lengths)
            total += float(loss) * len(rows)
            if done % 100 == 0:
                print(f"step {done}/{steps}: CTC loss {float(loss):.3f}, change {float(change):.2f}, "
                      f"{time.time() - began:.0f} s", flush=True)
            if saving and done % SAVE_EVERY == 0:
                save_state(saving, cfg, variables, optimiser, {"step": done, "losses": losses, "total": total})
        if len(losses) < number:  # not finished before a cut (a save at an epoch's last step holds its total)
            losses.append(round(total / len(strips), 4))
            total = 0.0
            print(f"epoch {len(losses)}: CTC loss {losses[-1]}"
                  + (f", validating writers exact {exact(graph, *checks):.2%}" if checks else ""), flush=True)
    return losses


def save_state(saving: Saving, cfg: FinetuneConfig, variables, optimiser, progress: dict) -> None:
    """The weights, the optimiser's state and the progress, written so that a cut mid-write keeps the last save."""
    backup = saving.folder
    backup.mkdir(parents=True, exist_ok=True)
    arrays = {f"w{i}": v.numpy() for i, v in enumerate(variables)}
    arrays |= {f"o{i}": v.numpy() for i, v in enumerate(optimiser.variables)}
    np.savez(backup / "state.tmp.npz", **arrays)
    (backup / "state.tmp.json").write_text(json.dumps({"config": asdict(cfg), "cut_sha256": saving.cut_sha256,
                                                       **progress}))
    (backup / "state.tmp.npz").replace(backup / "state.npz")
    (backup / "state.tmp.json").replace(backup / "state.json")


def load_state(saving: Saving, cfg: FinetuneConfig, variables, optimiser) -> dict:
    """Weights and optimiser state back from the last save; its progress. FitRefusedError when there is
    none, or it ran with other settings or from another cut model."""
    backup = saving.folder
    try:
        progress = json.loads((backup / "state.json").read_text())
        arrays = np.load(backup / "state.npz")
    except (OSError, ValueError):
        raise FitRefusedError(f"--resume: no saved state in {backup}") from None
    if progress.pop("config") != asdict(cfg):
        raise FitRefusedError(f"--resume: the run saved in {backup} had other settings; give the same flags")
    if progress.pop("cut_sha256") != saving.cut_sha256:
        raise FitRefusedError(f"--resume: {backup} was saved from another cut model")
    for i, v in enumerate(variables):
        v.assign(arrays[f"w{i}"])
    for i, v in enumerate(optimiser.variables):
        v.assign(arrays[f"o{i}"])
    print(f"resumed at step {progress['step']}", flush=True)
    return progress


def main(argv: list[str] | None = None) -> int:
    """Compose, fine-tune, check on the validating writers, rewrite the model in place and add to its report."""
    started = time.time()
    try:
        args, cfg, training, validating = prepared(__doc__.split("\n\n")[0], FinetuneConfig(), argv,
                                                   resumable=True)
    except FitRefusedError as refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    strips, labels = picture_strips(training, cfg.pictures, cfg.seed, cfg.empty_share)
    checks = picture_strips(validating, cfg.validation_pictures, cfg.seed + 1, 0.0)
    pictured = time.time()
    print(f"{len(strips)} training strips, {len(checks[0])} validating, {pictured - started:.0f} s", flush=True)
    cut_sha256 = data.sha256(args.model)
    saving = Saving(resume_dir(args.model), cut_sha256, args.resume)
    before, after, losses = finetune_file(args.model, strips, labels, checks, cfg, saving)
    section = {"config": asdict(cfg), "training_writers": len(training), "validating_writers": len(validating),
               "pictures": len(labels), "validation_pictures": len(checks[1]), "losses": losses,
               "validation_exact_before": round(before, 4), "validation_exact_after": round(after, 4),
               "picture_seconds": round(pictured - started), "fit_seconds": round(time.time() - pictured),
               "data_sha256": data_hashes(args)}
    record(Path(args.model).with_suffix(".json"), section, cut_sha256, data.sha256(args.model))
    print(f"validating writers' pictures read exactly: {before:.2%} -> {after:.2%}")
    return 0


def finetune_file(path: str, strips: list[np.ndarray], labels: list[str], checks: tuple,
                  cfg: FinetuneConfig, saving: Saving | None = None) -> tuple[float, float, list[float]]:
    """Fine-tune the ONNX file at path in place; (validation exact before, after, each epoch's loss). The
    resumable state, once the file is rewritten, is removed: it belongs to the cut model."""
    import onnx

    from training.onnx_graph import OnnxGraph

    model = onnx.load(path)
    graph = OnnxGraph(model, output=LOGITS)
    before = exact(graph, *checks)
    print(f"validating writers exact before: {before:.2%}", flush=True)
    losses = fit(graph, strips, labels, cfg, checks, saving)
    after = exact(graph, *checks)
    graph.write_weights()
    props = {entry.key: entry.value for entry in model.metadata_props}
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {**props, "notice": NOTICE})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    if saving:
        shutil.rmtree(saving.folder, ignore_errors=True)
    return before, after, losses


def record(report_path: Path, section: dict, cut_sha256: str, sha256: str) -> None:
    """Add the fine-tune to the cut model's report: its section, the new notice and file hash."""
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    report.update(notice=NOTICE, finetune={**section, "cut_sha256": cut_sha256, "sha256": sha256}, sha256=sha256)
    report_path.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
