"""Data for dl_kernels: bundled data sets (nothing is downloaded), IDX files, splits,
DataLoader, standardisation and augmentation.

>>> from dl_kernels.data import load_dataset, DataLoader, Standardizer
>>> ds = load_dataset("digits")                      # or mnist5k, fashion-mnist, shakespeare, PATH
>>> std = Standardizer().fit(ds.train.x)            # statistics from the training set only
>>> for xb, yb in DataLoader(ds.train, batch_size=64, shuffle=True, seed=0, transform=std):
...     pass                                         # xb (64, 1, 8, 8) float32, yb (64,) int64
"""

from __future__ import annotations

from dl_kernels.data._errors import DataError, DataPackageMissing
from dl_kernels.data.idx import find_idx_files, load_idx, load_idx_dir, read_idx, write_idx
from dl_kernels.data.loader import DataLoader
from dl_kernels.data.registry import (
    DATASETS,
    DEFAULT_DATASET,
    Dataset,
    DatasetInfo,
    ImageDataset,
    TextDataset,
    list_datasets,
    load_dataset,
)
from dl_kernels.data.sources import (
    FASHION_MNIST_CLASSES,
    load_digits,
    load_fashion_mnist,
    load_mnist5k,
    load_shakespeare,
    package_file,
    shakespeare_works,
)
from dl_kernels.data.splits import Split, split_indices, train_val_split, train_val_test_split
from dl_kernels.data.text import CharVocab, SequenceLoader
from dl_kernels.data.transforms import Compose, GaussianNoise, RandomShift, Standardizer
from dl_kernels.data.words import Vocab, tokenize, tokenize_lines

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "FASHION_MNIST_CLASSES",
    "CharVocab",
    "Compose",
    "DataError",
    "DataLoader",
    "DataPackageMissing",
    "Dataset",
    "DatasetInfo",
    "GaussianNoise",
    "ImageDataset",
    "RandomShift",
    "SequenceLoader",
    "Split",
    "Standardizer",
    "TextDataset",
    "Vocab",
    "find_idx_files",
    "list_datasets",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_idx",
    "load_idx_dir",
    "load_mnist5k",
    "load_shakespeare",
    "package_file",
    "read_idx",
    "shakespeare_works",
    "split_indices",
    "tokenize",
    "tokenize_lines",
    "train_val_split",
    "train_val_test_split",
    "write_idx",
]  # fmt: skip
