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
