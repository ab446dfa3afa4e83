"""word2vec training throughput and quality: our kernel against gensim, same run, same corpus.

Both train on the same documents with the same settings (dim 100, window 5, 5 negatives,
sample 1e-3, min count 5, 5 epochs, linear decay from 0.025 for skip-gram and 0.05 for CBOW)
at 1 and 2 threads, timed back to back (ours, then gensim, per case). Words/s counts corpus
words of the vocabulary (sub-sampled ones included, as word2vec.c and gensim count) times the
epochs, over the wall time of the training call; ours includes turning the documents into
ids. Also words/s per CPU-second (process time, all threads): on a machine shared with other
jobs it is steadier than wall time. Both models are scored by the same code: WordSim-353
Spearman and Google analogy accuracy (3CosAdd, 30,000 most frequent words).

    pip install gensim              # the peer, an optional bench dependency
    flock /work/.bench.lock nice -n 10 python bench/bench_word2vec.py --write
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import header, write_section
from dl_kernels.data.word_corpora import load_word_corpus
from dl_kernels.data.words import Vocab
from dl_kernels.models.word2vec import Word2Vec, encode_documents

SETTINGS = {"dim": 100, "window": 5, "negative": 5, "sample": 1e-3, "min_count": 5, "epochs": 5}


def _scores(model: Word2Vec) -> tuple[float, float]:
    return model.evaluate_wordsim()["spearman"], model.evaluate_analogies()["accuracy"]


def run_ours(docs, arch: str, threads: int, seed: int) -> dict:
    m = Word2Vec(arch=arch, threads=threads, seed=seed, **SETTINGS).build_vocab(docs)
    words = int((encode_documents(m.vocab, docs) >= 0).sum()) * SETTINGS["epochs"]
    t, p = time.perf_counter(), time.process_time()
    m.fit(docs)
    wall, cpu = time.perf_counter() - t, time.process_time() - p
    ws, an = _scores(m)
    return {"words": words, "wall": wall, "cpu": cpu, "wordsim": ws, "analogy": an}


def run_gensim(docs, arch: str, threads: int, seed: int) -> dict | None:
    try:
        from gensim.models import Word2Vec as GensimW2V
    except ImportError:
        return None
    s = SETTINGS
    g = GensimW2V(vector_size=s["dim"], window=s["window"], negative=s["negative"],
                  sample=s["sample"], min_count=s["min_count"], epochs=s["epochs"],
                  sg=int(arch == "skipgram"), alpha=0.025 if arch == "skipgram" else 0.05,
                  workers=threads, seed=seed, hs=0)
    g.build_vocab(docs)
    words = int(sum(g.wv.get_vecattr(w, "count") for w in g.wv.index_to_key)) * s["epochs"]
    t, p = time.perf_counter(), time.process_time()
    g.train(docs, total_examples=len(docs), epochs=s["epochs"])
    wall, cpu = time.perf_counter() - t, time.process_time() - p
    # Score gensim's vectors with our evaluation code, so both use the same rules.
    keys = list(g.wv.index_to_key)
    shell = Word2Vec(dim=s["dim"], min_count=1)
    shell.vocab = Vocab(keys, [g.wv.get_vecattr(w, "count") for w in keys], unk=None)
    shell.win = np.ascontiguousarray(g.wv.vectors, np.float32)
    ws, an = _scores(shell)
    return {"words": words, "wall": wall, "cpu": cpu, "wordsim": ws, "analogy": an}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="newsgroups")
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--archs", nargs="+", default=["skipgram", "cbow"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--write", action="store_true", help="write the table into RESULTS.md")
    ap.add_argument("--section", default="word2vec", help="RESULTS.md section to write")
    args = ap.parse_args()
    corpus = load_word_corpus(args.data, max_tokens=args.max_tokens)
    docs = corpus.documents
    load_start = os.getloadavg()
    rows = []
    for arch in args.archs:
        for th in args.threads:
            ours = run_ours(docs, arch, th, args.seed)
            peer = run_gensim(docs, arch, th, args.seed)
            rows.append((arch, th, ours, peer))
            o = ours["words"] / ours["wall"] / 1e6
            line = f"{arch} {th} thread(s): ours {o:.3f} M words/s"
            if peer:
                line += f", gensim {peer['words'] / peer['wall'] / 1e6:.3f} M words/s"
            print(line, f"(load {os.getloadavg()[0]:.1f})", flush=True)
    load_end = os.getloadavg()
    out = [("| arch | threads | ours M words/s | gensim M words/s | speed-up | ours per CPU-s | "
           "gensim per CPU-s | CPU-time speed-up | WordSim ours / gensim | analogies ours / gensim |"),
           "|---|---|---|---|---|---|---|---|---|---|"]
    for arch, th, o, g in rows:
        ow, oc = o["words"] / o["wall"] / 1e6, o["words"] / o["cpu"] / 1e6
        if g:
            gw, gc = g["words"] / g["wall"] / 1e6, g["words"] / g["cpu"] / 1e6
            out.append(f"| {arch} | {th} | {ow:.3f} | {gw:.3f} | {ow / gw:.2f}× | {oc:.3f} | "
                       f"{gc:.3f} | {oc / gc:.2f}× | {o['wordsim']:.3f} / {g['wordsim']:.3f} | "
                       f"{100 * o['analogy']:.1f} % / {100 * g['analogy']:.1f} % |")
        else:
            out.append(f"| {arch} | {th} | {ow:.3f} | (gensim not installed) | | {oc:.3f} | | | "
                       f"{o['wordsim']:.3f} | {100 * o['analogy']:.1f} % |")
    for arch in args.archs:
        r = {th: o for a, th, o, _ in rows if a == arch}
        if 1 in r and 2 in r:
            s = (r[2]["words"] / r[2]["wall"]) / (r[1]["words"] / r[1]["wall"])
            out.append(f"\n{arch}: 2 threads / 1 thread (ours, wall time) = {s:.2f}×")
    from dl_kernels import _C

    text = (f"Corpus: {corpus.name}, {corpus.num_tokens} tokens, {len(docs)} documents; "
            f"settings {SETTINGS}; our kernel's build: {_C.word2vec_fast_isa()}.\n"
            f"Load average (1/5/15 min) at the start: {'/'.join(f'{x:.1f}' for x in load_start)}, "
            f"at the end: {'/'.join(f'{x:.1f}' for x in load_end)} on {os.cpu_count()} vCPUs.\n\n"
            + "\n".join(out))
    print(text)
    if args.write:
        cmd = "flock /work/.bench.lock python bench/bench_word2vec.py " + " ".join(sys.argv[1:])
        write_section(args.section, f"## word2vec on {corpus.name}, {corpus.num_tokens} tokens "
                      "(skip-gram and CBOW, negative sampling)\n\n" + header(cmd) + "\n" + text)


if __name__ == "__main__":
    main()
