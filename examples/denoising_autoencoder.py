# %% [markdown]
# # Denoising autoencoders (Vincent, Larochelle, Bengio & Manzagol 2008)
#
# Feed the network a corrupted digit and ask it for the clean one: to fill in what the noise
# removed, the hidden units must learn the strokes digits are made of. One tied weight matrix W
# encodes (h = sigmoid(W x̃ + b)) and, transposed, decodes (x̂ = sigmoid(Wᵀ h + c)); the loss
# is the cross-entropy between x̂ and the *clean* x. Stacking such layers, each trained on
# the codes of the one below, gives a deep network its starting weights (layer-wise
# pretraining); fine-tuning on the labels finishes the job.

# %%
import os
from pathlib import Path

import dl_kernels as dlk
import numpy as np
from dl_kernels.data import load_dataset
from dl_kernels.models.autoencoder import (
    DenoisingAutoencoder,
    StackedDAE,
    corrupt,
    pretrain_layer,
    save_filters_png,
    save_reconstructions_png,
)
from dl_kernels.tasks._common import accuracy, fit_classifier

TINY = os.environ.get("DLK_EXAMPLE_TINY") == "1"
OUT = Path(os.environ.get("DLK_EXAMPLE_OUT", "."))
OUT.mkdir(parents=True, exist_ok=True)
dlk.manual_seed(0)

ds = load_dataset("mnist5k", limit=300 if TINY else None)
print(ds.summary())
flat = {name: (s.x.reshape(len(s.x), -1), s.y)
        for name, s in (("train", ds.train), ("val", ds.val), ("test", ds.test))}

# %% [markdown]
# ## The corruption: masking noise
# A quarter of the pixels of every image are set to 0, a fresh choice at every epoch.

# %%
clean = flat["test"][0][:10]
noisy = corrupt(clean, "mask", 0.25, rng=0)
print(f"pixels zeroed: {np.mean((clean > 0) & (noisy == 0)) / np.mean(clean > 0):.0%} "
      "of the ink")

# %% [markdown]
# ## One layer: 784 -> 500 -> 784 with tied weights

# %%
dae = DenoisingAutoencoder(784, 64 if TINY else 500)
losses = pretrain_layer(dae, flat["train"][0], epochs=1 if TINY else 5, noise="mask",
                        level=0.25, log=print)
save_filters_png(dae, OUT / "dae_filters.png", (28, 28))
save_reconstructions_png(dae, clean, noisy, OUT / "dae_reconstructions.png", (28, 28))
print("wrote", OUT / "dae_filters.png", "and", OUT / "dae_reconstructions.png")

# %% [markdown]
# ## Stacked: pretrain layer by layer, then fine-tune; against random initialisation

# %%
hidden = [64, 64] if TINY else [256, 256]
epochs, pre_epochs = (1, 1) if TINY else (8, 4)
errors = {}
for pretrain in (True, False):
    dlk.manual_seed(0)
    net = StackedDAE(784, hidden, ds.num_classes)
    if pretrain:
        net.pretrain(flat["train"][0], epochs=pre_epochs)
    fit_classifier(net, flat["train"], flat["val"], epochs, 64, 1e-3, seed=0)
    errors[pretrain] = 1 - accuracy(net, *flat["test"])
    print(f"{'pretrained' if pretrain else 'random init'}: test error {100 * errors[pretrain]:.2f} %")
