"""Denoising autoencoders: corruption processes, tied weights (one W, its gradient the sum of
the encoder's and the decoder's, checked by finite differences), both reconstruction losses
against their formulas, and layer-wise pretraining of a stack."""

from __future__ import annotations

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels.autograd import gradcheck
from dl_kernels.models.autoencoder import (
    DenoisingAutoencoder,
    StackedDAE,
    corrupt,
    pretrain_layer,
    save_filters_png,
    save_reconstructions_png,
    tile_images,
)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_masking_zeroes_about_the_requested_fraction_and_keeps_the_rest():
    x = np.full((200, 50), 0.7, np.float32)
    noisy = corrupt(x, "mask", 0.3, rng=0)
    zeroed = noisy == 0
    assert abs(zeroed.mean() - 0.3) < 0.02
    np.testing.assert_array_equal(noisy[~zeroed], np.float32(0.7))
    assert noisy.dtype == np.float32
    np.testing.assert_array_equal(x, np.float32(0.7))  # the clean data is left alone


def test_gaussian_noise_has_the_requested_spread():
    x = np.zeros((400, 50), np.float32)
    noisy = corrupt(x, "gaussian", 0.5, rng=1)
    assert abs(noisy.std() - 0.5) < 0.02 and abs(noisy.mean()) < 0.02


@pytest.mark.parametrize("noise,level", [("salt", 0.1), ("mask", 1.5), ("gaussian", -1.0)])
def test_bad_corruption_is_refused(noise, level):
    with pytest.raises(ValueError, match="noise"):
        corrupt(np.zeros((2, 3)), noise, level)


def test_weights_are_tied_one_matrix_encodes_and_decodes():
    dae = DenoisingAutoencoder(7, 3)
    names = [n for n, _ in dae.named_parameters()]
    assert names == ["weight", "bias_hidden", "bias_visible"]
    assert sum(p.numel() for p in dae.parameters()) == 7 * 3 + 3 + 7


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_reconstruction_loss_matches_its_formula(output):
    rng = np.random.default_rng(2)
    dae = DenoisingAutoencoder(6, 4, output=output, dtype=dlk.float64)
    x = rng.random((5, 6))
    noisy = corrupt(x, "mask", 0.3, rng)
    w = dae.weight.detach().numpy()
    h = _sigmoid(noisy @ w.T + dae.bias_hidden.detach().numpy())
    z = h @ w + dae.bias_visible.detach().numpy()
    if output == "sigmoid":
        p = _sigmoid(z)
        want = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum() / 5
    else:
        want = 0.5 * ((z - x) ** 2).sum() / 5
    got = dae.loss(dlk.tensor(noisy), dlk.tensor(x)).item()
    assert got == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_tied_weight_gradient_passes_gradcheck(output):
    """dL/dW sums the encoder's path and the decoder's (Wᵀ) path; finite differences on the
    one shared matrix check both at once."""
    rng = np.random.default_rng(3)
    dae = DenoisingAutoencoder(5, 3, output=output, dtype=dlk.float64)
    x = dlk.tensor(rng.random((4, 5)))
    noisy = dlk.tensor(corrupt(x.numpy(), "mask", 0.4, rng))

    # gradcheck perturbs the parameters themselves, element by element.
    assert gradcheck(lambda *params: dae.loss(noisy, x), list(dae.parameters()))


def test_loss_refuses_mismatched_shapes():
    dae = DenoisingAutoencoder(4, 2)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        dae.loss(dlk.zeros(3, 4), dlk.zeros(3, 5))
    with pytest.raises(ValueError, match="output"):
        DenoisingAutoencoder(4, 2, output="relu")


def test_pretraining_lowers_the_reconstruction_error():
    rng = np.random.default_rng(4)
    # Data on a low-dimensional pattern: 3 prototypes plus a little noise.
    protos = rng.random((3, 20)) > 0.5
    x = (protos[rng.integers(0, 3, 300)] ^ (rng.random((300, 20)) < 0.05)).astype(np.float32)
    dlk.manual_seed(0)
    dae = DenoisingAutoencoder(20, 8)
    clean = dlk.tensor(x)
    before = dae.loss(clean, clean).item()
    hist = pretrain_layer(dae, x, epochs=25, batch_size=32, lr=2e-2)
    assert hist[-1] < hist[0]
    assert dae.loss(clean, clean).item() < 0.5 * before


def test_stack_pretrains_each_layer_on_the_codes_of_the_one_below():
    dlk.manual_seed(0)
    stack = StackedDAE(12, [8, 5], classes=3)
    x = np.random.default_rng(5).random((40, 12)).astype(np.float32)
    before = [layer.weight.detach().numpy().copy() for layer in stack.layers]
    hists = stack.pretrain(x, epochs=2, batch_size=16)
    assert [len(h) for h in hists] == [2, 2]
    for b, layer in zip(before, stack.layers):
        assert not np.allclose(b, layer.weight.detach().numpy())
    assert tuple(stack(dlk.tensor(x)).shape) == (40, 3)
    assert tuple(stack.features(dlk.tensor(x), depth=1).shape) == (40, 8)


def test_pictures_are_written(tmp_path):
    dae = DenoisingAutoencoder(16, 6)
    save_filters_png(dae, tmp_path / "f.png", (4, 4))
    clean = np.random.default_rng(6).random((3, 16)).astype(np.float32)
    save_reconstructions_png(dae, clean, corrupt(clean, "mask", 0.5, 0), tmp_path / "r.png",
                             (4, 4))
    for name in ("f.png", "r.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grid = tile_images(np.zeros((5, 2, 3)), cols=2)
    assert grid.shape == (3 * 3 + 1, 2 * 4 + 1)
