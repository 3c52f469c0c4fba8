"""Datasets for accuracy estimation: IDX (Fashion-MNIST by default), image folders, CIFAR batches; the proxy task."""

from nas.data.dataset import Dataset
from nas.data.errors import DatasetError
from nas.data.idx import FASHION_MNIST_CLASSES, parse_idx, read_idx
from nas.data.proxy import ProxyData, ProxyTask, prepare_from_task, prepare_proxy
from nas.data.registry import (
    DEFAULT_DATASET,
    FASHION_MNIST_DIR,
    DatasetKind,
    DatasetSpec,
    default_kinds,
    load_dataset,
    parse_spec,
)
from nas.data.split import TensorSplit, stratified_split, stratified_subset

__all__ = [
    "DEFAULT_DATASET", "FASHION_MNIST_CLASSES", "FASHION_MNIST_DIR", "Dataset", "DatasetError", "DatasetKind",
    "DatasetSpec", "ProxyData", "ProxyTask", "TensorSplit", "default_kinds", "load_dataset", "parse_idx",
    "parse_spec", "prepare_from_task", "prepare_proxy", "read_idx", "stratified_split", "stratified_subset",
]
