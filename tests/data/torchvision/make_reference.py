"""Reference data from torchvision (run by hand in the measuring venv, never by the tests).

/work/scratch/cvenv: torch 2.14.1, torchvision 0.29.1. Writes
tests/data/torchvision/vit_b_16_state_dict.json (every state_dict key of vit_b_16 and its
shape, parameter count, meta) and vit_small_reference.npz (a VisionTransformer of the same
code at a small size, its weights drawn by weights_for() below from the key names, an input
and torchvision's output)."""
import json
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision.models import VisionTransformer, ViT_B_16_Weights, vit_b_16

OUT = str(Path(__file__).parent) + "/"


def weights_for(shapes):
    rng = np.random.default_rng(2026)
    return {k: rng.uniform(-0.5, 0.5, shapes[k]).astype(np.float32) for k in sorted(shapes)}


m = vit_b_16()
meta = ViT_B_16_Weights.IMAGENET1K_V1.meta
json.dump({"source": f"torchvision {torchvision.__version__}, torch {torch.__version__}: "
                     "torchvision.models.vit_b_16().state_dict()",
           "num_params": meta["num_params"], "_ops": meta["_ops"],
           "parameters": sum(p.numel() for p in m.parameters()),
           "state_dict": {k: list(v.shape) for k, v in m.state_dict().items()}},
          open(OUT + "vit_b_16_state_dict.json", "w"), indent=0)

small = VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=4, hidden_dim=32,
                          mlp_dim=64, num_classes=10).eval()
shapes = {k: tuple(v.shape) for k, v in small.state_dict().items()}
w = weights_for(shapes)
small.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
x = np.random.default_rng(7).standard_normal((2, 3, 32, 32)).astype(np.float32)
with torch.no_grad():
    y = small(torch.from_numpy(x)).numpy()
np.savez(OUT + "vit_small_reference.npz", x=x, y=y,
         keys=np.array(sorted(shapes)), source=np.array(
             f"torchvision {torchvision.__version__} VisionTransformer(image_size=32, patch_size=16, "
             "num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64, num_classes=10), eval"))
print(y)
