"""Testing helpers: agreement with PyTorch over its own OpInfo sample inputs (``opinfo``)."""
