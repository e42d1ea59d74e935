"""Train a small GPT-2 with the Hugging Face ``Trainer`` on the Lee corpus, then film its token embedding
with ``embviz import`` and ``embviz animate``.

    python examples/trainer_lee.py                       # 8 epochs of 103 steps, a checkpoint every 50
    python examples/trainer_lee.py --epochs 1 --d-model 32 --save-steps 20   # a quick look: 7 snapshots

(The quick look trained in 61 s on 2 busy CPU cores; import took 29 s, counting the corpus's tokens
included, and animate about a minute for the 1280×720 film.)

Needs ``transformers`` and ``accelerate`` (``pip install -e '.[dev]'``). Writes into ``--out``:
``tokenizer.json`` (a byte-level BPE trained here with ``tokenizers``), ``checkpoint-0/`` (the model
before training) and the Trainer's ``checkpoint-N/`` folders (every ``--save-steps`` steps), then the
embviz run ``<out>/run`` and its film.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

from embviz.text.corpus import load_corpus


def train_tokenizer(text: str, vocab_size: int, path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(text.splitlines(), trainer=trainer)
    tok.save(str(path))


class Blocks(torch.utils.data.Dataset):
    """The token stream cut into non-overlapping windows of ``context`` tokens (labels = inputs;
    the model shifts them)."""

    def __init__(self, ids: torch.Tensor, context: int):
        self.blocks = ids[: len(ids) // context * context].view(-1, context)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.blocks[i], "labels": self.blocks[i]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/trainer-lee"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--save-steps", type=int, default=50)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--vocab-size", type=int, default=2000)
    args = parser.parse_args()

    from tokenizers import Tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    args.out.mkdir(parents=True, exist_ok=True)
    text = load_corpus("lee").text
    train_tokenizer(text, args.vocab_size, args.out / "tokenizer.json")
    tok = Tokenizer.from_file(str(args.out / "tokenizer.json"))
    ids = torch.tensor(tok.encode(text).ids)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=args.context, n_embd=args.d_model,
                                       n_layer=args.layers, n_head=4, bos_token_id=0, eos_token_id=0))
    model.save_pretrained(args.out / "checkpoint-0")  # the film starts at initialisation
    training = TrainingArguments(
        output_dir=str(args.out), num_train_epochs=args.epochs, per_device_train_batch_size=16, learning_rate=3e-3,
        warmup_steps=20, weight_decay=0.01, save_strategy="steps", save_steps=args.save_steps, save_total_limit=None,
        logging_steps=10, report_to=[], use_cpu=True, seed=0, save_only_model=True)
    Trainer(model=model, args=training, train_dataset=Blocks(ids, args.context)).train()

    run = args.out / "run"
    embviz = [sys.executable, "-m", "embviz"]
    subprocess.run([*embviz, "import", str(args.out), "--out", str(run), "--corpus", "lee", "--overwrite"], check=True)
    subprocess.run([*embviz, "animate", str(run)], check=True)


if __name__ == "__main__":
    main()
