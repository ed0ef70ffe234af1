"""Loads a run's model.pt into docs/seednet.py with PyTorch and evaluates it on the first LIMIT MNIST test images.

usage: pytorch_check.py DOCS_DIR MODEL_PT MODEL_SAFETENSORS MNIST_DIR LIMIT   (prints one JSON line)
"""
import gzip, hashlib, json, os, struct, sys

import numpy as np
import torch
import torch.nn.functional as F

docs, model_pt, model_safetensors, mnist, limit = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
sys.path.insert(0, docs)
from seednet import SeedNet


def idx(name):
    for candidate in (name, name + ".gz", name.replace("-idx", ".idx"), name.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(mnist, candidate)
        if os.path.exists(path):
            return (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
    raise FileNotFoundError(name)


def safetensors(path):
    """The format read by hand (8-byte header length, JSON header, raw data), so the file is checked without the library."""
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    dtypes = {"F32": np.float32, "I64": np.int64}
    return {name: torch.from_numpy(np.frombuffer(body[t["data_offsets"][0]:t["data_offsets"][1]], dtype=dtypes[t["dtype"]]).reshape(t["shape"]).copy())
            for name, t in header.items() if name != "__metadata__"}


model = SeedNet()
model.load_state_dict(torch.load(model_pt))  # strict: every name and shape must match
model.eval()
state = model.state_dict()
from_safetensors = safetensors(model_safetensors)
same = sorted(from_safetensors) == sorted(state) and all(torch.equal(from_safetensors[k], state[k]) for k in state)

images = np.frombuffer(idx("t10k-images-idx3-ubyte"), dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)[:limit]
labels = torch.from_numpy(np.frombuffer(idx("t10k-labels-idx1-ubyte"), dtype=np.uint8, offset=8)[:limit].astype(np.int64))
x = (torch.from_numpy(images.astype(np.float32)) / 255 - 0.1307) / 0.3081
with torch.no_grad():
    out = model(x)
print(json.dumps({
    "count": len(labels),
    "correct": int((out.argmax(1) == labels).sum()),
    "loss": float(F.nll_loss(out, labels)),
    "sha256": hashlib.sha256(b"".join(t.float().numpy().tobytes() for t in state.values())).hexdigest(),
    "safetensors_equal": bool(same),
    "torch": torch.__version__,
}))
