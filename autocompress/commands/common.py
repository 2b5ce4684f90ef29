"""Arguments and loading steps shared by several subcommands."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from compress.data import Splits, load_data
from compress.distributed import main_first
from compress.models import MODELS
from compress.pruning.admm import AdmmConfig
from compress.pruning.projection import SCHEMES
from compress.pruning.sequence import PruneBudget
from compress.restore import restore_model, restore_teacher
from compress.run_folder import (CONFIG_FILE, INPUTS_FILE, clear_resume_state, config_changes, record_config,
                                 recorded_config, resume_state)
from compress.precision import PRECISIONS
from compress.progress import note
from compress.train import TrainConfig

from .argtypes import (COUNT, FRACTION, NON_NEGATIVE, NUMBER, POSITIVE, POSITIVE_INT, WEIGHT,
                       torch_device)


def add_model_args(parser: argparse.ArgumentParser, default: str | None = "small_cnn") -> None:
    parser.add_argument("--model", default=default, choices=sorted(MODELS),
                        help="architecture; taken from the checkpoint when --weights is one of ours")
    parser.add_argument("--weights", help="a checkpoint (.pt) of ours or a plain state_dict")


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="digits",
                        help="'digits' (embedded), a CIFAR-10 python folder, an image-folder tree or .tar/.tar.gz "
                             "of one (train/<class>/, test/<class>/), or an .npz")
    parser.add_argument("--val-fraction", type=FRACTION, default=0.1, help="share of train held out for validation")
    parser.add_argument("--seed", type=COUNT, default=0, help="seed for splits, shuffling and initial weights")


class RenamedFlag(argparse.Action):
    """An old spelling of a flag: still accepted, with a one-line notice naming the new one."""

    def __init__(self, option_strings, dest, new: str, **kwargs) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"note: {option_string} is now {self.new} (the old spelling will be removed)", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_runtime_args(parser: argparse.ArgumentParser, old_device_flag: bool = True) -> None:
    """--threads and --torch-device (where training and evaluation run). ``--device`` always names the device
    binaries run on; commands without one still accept it as the old spelling of --torch-device."""
    parser.add_argument("--threads", type=POSITIVE_INT, default=None, help="torch CPU threads (default: all cores)")
    parser.add_argument("--torch-device", default="cpu", type=torch_device,
                        help="torch device for training/evaluation: cpu or cuda")
    if old_device_flag:
        parser.add_argument("--device", dest="torch_device", type=torch_device, action=RenamedFlag,
                            new="--torch-device")


def add_model_data_args(parser: argparse.ArgumentParser, old_device_flag: bool = True) -> None:
    """Model, data and runtime flags: what every command that loads a model and data takes."""
    add_model_args(parser)
    add_data_args(parser)
    add_runtime_args(parser, old_device_flag)


def add_run_args(parser: argparse.ArgumentParser, command: str | None,
                 resume: str = "continue a killed run in OUT") -> None:
    """--out (when ``command`` names the default folder runs/COMMAND-MODEL), --resume, --no-progress, --json."""
    if command:
        parser.add_argument("--out", default=None, help=f"run folder (default: runs/{command}-MODEL)")
        parser.add_argument("--overwrite", action="store_true", help="replace the finished run in OUT")
        parser.add_argument("--allow-config-change", action="store_true",
                            help="with --resume: continue although the flags differ from OUT/config.json")
    parser.add_argument("--resume", action="store_true", help=resume)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def add_precision_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--precision", default="auto", choices=list(PRECISIONS),
                        help="training arithmetic: auto = bfloat16 autocast where the device has native bf16 "
                             "(AVX512_BF16/AMX CPUs, CUDA), fp32 elsewhere; weights stay fp32")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                        help="train with NCHW (contiguous) weights and images instead of channels-last NHWC, "
                             "which trains 1.2-1.7x faster on this project's CPU")


def add_scheme_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheme", default="filter+column", choices=list(SCHEMES), help="pruning scheme")


def add_pruning_budget_args(parser: argparse.ArgumentParser) -> None:
    """Epochs, training and ADMM settings, purification and evaluation limits of ADMM pruning (the fields of a
    ``PruneBudget``, which ``pruning_budget`` reads back)."""
    defaults = PruneBudget()
    parser.add_argument("--admm-epochs", type=COUNT, default=defaults.admm_epochs,
                        help="epochs of ADMM-regularised training (per round in 'compress')")
    parser.add_argument("--retrain-epochs", type=COUNT, default=defaults.retrain_epochs,
                        help="epochs of masked retraining after hard pruning (per round in 'compress')")
    parser.add_argument("--train-limit", type=POSITIVE_INT, default=None,
                        help="images per epoch, a new sample of the whole training split every epoch (default: all)")
    parser.add_argument("--eval-limit", type=POSITIVE_INT, default=None,
                        help="report test accuracy on this many images")
    parser.add_argument("--lr", type=POSITIVE, default=defaults.train.lr,
                        help="learning rate: held during ADMM, cosine-decayed during retraining")
    parser.add_argument("--batch-size", type=POSITIVE_INT, default=defaults.train.batch_size,
                        help="batch size of ADMM and retraining")
    add_precision_arg(parser)
    parser.add_argument("--align-widths", type=POSITIVE_INT, default=defaults.align,
                        help="retrain at layer widths rounded up to a multiple of this by zero channels, removed "
                             "afterwards (aligned widths train faster; 1: the exact widths)")
    admm = defaults.admm
    parser.add_argument("--rho", type=NON_NEGATIVE, default=admm.rho,
                        help="initial ADMM penalty (default 0: derived from --lr, steps per update and --admm-pull)")
    parser.add_argument("--admm-pull", type=POSITIVE, default=admm.pull,
                        help="automatic rho: the penalty's pull over the first update, lr/(1-momentum)*rho*steps")
    parser.add_argument("--rho-growth", type=POSITIVE, default=admm.rho_growth,
                        help="rho grows by this after each update until the residual is within --admm-tolerance")
    parser.add_argument("--admm-tolerance", type=POSITIVE, default=admm.tolerance,
                        help="ADMM has converged when ||W - Z|| / ||W|| and the changed share of the kept set are "
                             "both below this")
    parser.add_argument("--update-every-steps", type=COUNT, default=admm.update_every_steps,
                        help="update Z and U every this many steps (default 0: after each epoch)")
    parser.add_argument("--admm-early-finish", type=COUNT, default=admm.early_finish,
                        help="end ADMM once this many updates in a row have converged and retrain for its remaining "
                             "epochs (0: every ADMM epoch runs)")
    parser.add_argument("--admm-stall", type=COUNT, default=admm.stall,
                        help="also end ADMM after this many updates at the largest rho that lower the residual by "
                             "less than 5%%, and retrain for its remaining epochs (default 0: never)")
    parser.add_argument("--distill-weight", type=WEIGHT, default=defaults.distill_weight,
                        help="weight of knowledge distillation from the dense model in ADMM and retraining")
    parser.add_argument("--distill-temperature", type=POSITIVE, default=defaults.distill_temperature,
                        help="softmax temperature of the distillation")
    parser.add_argument("--no-distill", action="store_true", help="no distillation (same as --distill-weight 0)")
    parser.add_argument("--purify-tolerance", type=NUMBER, default=defaults.purify_tolerance,
                        help="validation-accuracy drop allowed for remnant removal; negative skips it")


def pruning_budget(args: argparse.Namespace) -> PruneBudget:
    """The ``PruneBudget`` that ``add_pruning_budget_args`` (and the runtime, data and run flags) describe."""
    train = TrainConfig(lr=args.lr, batch_size=args.batch_size, train_limit=args.train_limit, seed=args.seed,
                        threads=args.threads, device=args.torch_device, precision=args.precision,
                        channels_last=args.channels_last, progress=not args.no_progress)
    admm = AdmmConfig(rho=args.rho, pull=args.admm_pull, rho_growth=args.rho_growth, tolerance=args.admm_tolerance,
                      update_every_steps=args.update_every_steps, early_finish=args.admm_early_finish,
                      stall=args.admm_stall)
    return PruneBudget(admm_epochs=args.admm_epochs, retrain_epochs=args.retrain_epochs, train=train, admm=admm,
                       distill_weight=0.0 if args.no_distill else args.distill_weight,
                       distill_temperature=args.distill_temperature,
                       purify_tolerance=None if args.purify_tolerance < 0 else args.purify_tolerance,
                       eval_limit=args.eval_limit, align=args.align_widths)


def add_teacher_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", metavar="CHECKPOINT",
                        help="distil from this trained model instead of the dense input model, e.g. a larger "
                             "network trained on the same data (a checkpoint of ours, or a plain state_dict with "
                             "--teacher-model)")
    parser.add_argument("--teacher-model", choices=sorted(MODELS), help="the teacher's architecture, when its "
                        "checkpoint does not name one")


def load_teacher(args: argparse.Namespace, splits: Splits) -> nn.Module | None:
    """The ``--teacher`` model, checked to give one logit per class of ``splits``; None without the flag."""
    if args.teacher is None:
        return None
    if args.no_distill or args.distill_weight == 0:
        raise ValueError("--teacher has nothing to do with distillation off; drop --teacher or --no-distill "
                         "(or give --distill-weight above 0)")
    return restore_teacher(args.teacher, args.teacher_model, splits.input_shape, splits.num_classes)[0]


def load_splits(args: argparse.Namespace) -> Splits:
    """The data the flags name; in a data-parallel run rank 0 loads first (it fills the decoding cache)."""
    with main_first():
        return load_data(args.data, val_fraction=args.val_fraction, seed=args.seed)


def load_model(args: argparse.Namespace, splits: Splits | None = None) -> nn.Module:
    """The model named by ``--model`` or by the checkpoint, compaction replayed, ``--weights`` loaded; without
    ``--weights`` its initial weights come from ``--seed`` (0 for commands without it)."""
    torch.manual_seed(getattr(args, "seed", 0))  # `info` has no --seed
    model, args.model = restore_model(args.weights, args.model, splits.num_classes if splits else None,
                                      splits.input_shape[0] if splits else None)
    return model


def out_folder(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as an output folder; refused when it names an existing file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is an existing file, not a folder; give a folder path")
    return path


def open_run(args: argparse.Namespace, path: str | Path, config: dict[str, Any],
             inputs: dict[str, Any] | None = None) -> bool:
    """Check the run folder ``path`` against the flags before any work; returns whether to resume.

    Refused: a file; a finished run (report.json) without --resume or --overwrite; --resume with another
    configuration than the recorded one (``config``, and ``inputs`` such as the model and data, which the folder
    records in inputs.json), unless --allow-config-change. With nothing to resume, says so and starts.
    """
    out = out_folder(path)
    resume = _resumable(args, out, config, inputs or {})
    if inputs:
        record_config(out, inputs, INPUTS_FILE)
    return resume


def _resumable(args: argparse.Namespace, out: Path, config: dict[str, Any], inputs: dict[str, Any]) -> bool:
    if not args.resume:
        if resume_state(out):
            if not args.overwrite:
                held = "a finished run" if (out / "report.json").is_file() else "a run's checkpoints"
                raise ValueError(f"{out} holds {held}; pass --resume to continue it, --overwrite to replace it, "
                                 "or another --out")
            note(f"autocompress {args.command}: --overwrite: removed {clear_resume_state(out)} checkpoint and "
                 f"result file(s) of the old run in {out}")
        return False
    recorded = recorded_config(out)
    if recorded is None and not (out.is_dir() and any(out.iterdir())):
        note(f"autocompress {args.command}: nothing to resume in {out}; starting a new run")
        return False
    changes = [] if recorded is None or args.allow_config_change else (
        config_changes(recorded, config) + config_changes(recorded_config(out, INPUTS_FILE) or inputs, inputs))
    if changes:
        raise ValueError(f"--resume with other settings than {out / CONFIG_FILE} ({'; '.join(changes)}); rerun with "
                         "the recorded settings, pass --allow-config-change, or use another --out")
    return True


def run_inputs(args: argparse.Namespace, splits: Splits, teacher: str | None = None) -> dict[str, Any]:
    """What a run was fed: the model, the data, the starting weights, the validation share, the seed and the
    ``teacher``'s path when one was given."""
    inputs = {"model": args.model, "data": splits.source, "weights": args.weights, "val_fraction": args.val_fraction,
              "seed": args.seed}
    return {**inputs, "teacher": teacher} if teacher else inputs


def print_json(obj: object) -> None:
    """One JSON object on stdout."""
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")
