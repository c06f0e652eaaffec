"""Writing OffRL checkpoint files from the PyTorch references: safetensors (OffRL's reader checks every header field)
and atomic writes (temporary name, then rename). Serialization only: what the checkpoints hold is each reference's own."""
import json, os, struct

import torch


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def safetensors_bytes(tensors, source):
    header, blobs, offset = {"__metadata__": {"format": "pt", "source": source}}, [], 0
    for name, t in tensors.items():
        raw = t.contiguous().to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def linears(seq):
    return [m for m in seq if isinstance(m, torch.nn.Linear)]


def mlp_tensors(seq):
    """An Mlp's tensors as OffRL names them: "layers.i.weight" [out, in], "layers.i.bias" [out]."""
    out = {}
    for i, l in enumerate(linears(seq)):
        out[f"layers.{i}.weight"] = l.weight.detach()
        out[f"layers.{i}.bias"] = l.bias.detach()
    return out


def twin_tensors(q1, q2):
    """Two critics as OffRL's one ensemble: "layers.i.weight" [2, in, out], "layers.i.bias" [2, out]."""
    out = {}
    for i, (l1, l2) in enumerate(zip(linears(q1), linears(q2))):
        out[f"layers.{i}.weight"] = torch.stack([l1.weight.detach().t(), l2.weight.detach().t()])
        out[f"layers.{i}.bias"] = torch.stack([l1.bias.detach(), l2.bias.detach()])
    return out
