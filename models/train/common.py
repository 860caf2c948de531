"""Helpers shared by Kiln's training scripts: data cache, ONNX export, manifests, sheets."""

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("KILN_DATA_DIR", Path.home() / ".cache" / "kiln-data"))


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(int(os.environ.get("KILN_TRAIN_THREADS", max(1, (os.cpu_count() or 2) - 1))))


def checkpoint_path(name: str) -> Path:
    """Where a trained generator's weights are kept (outside git) for re-export."""
    path = DATA / "checkpoints" / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def export_onnx(model: torch.nn.Module, args: tuple, path: Path, input_names, output_names, dynamic_axes) -> str:
    """Exports with the TorchScript exporter (opset 17) and returns the file's sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    torch.onnx.export(
        model,
        args,
        str(path),
        input_names=input_names,
        output_names=output_names,
        dynamic_axes=dynamic_axes,
        opset_version=17,
        dynamo=False,
    )
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_classes(folder: Path) -> list[str]:
    """The classes a model folder's `model.ron` lists, in order (the class input's values)."""
    manifest = (folder / "model.ron").read_text()
    return re.findall(r'"([^"]+)"', re.search(r"classes: \[([^\]]*)\]", manifest).group(1))


def save_sheet(rows: list[list[np.ndarray]], path: Path, scale: int = 1, background=(40, 40, 48)) -> None:
    """Saves a grid of equally sized HWC uint8 images, `scale`× nearest-neighbour, 4 px gaps."""
    h, w = rows[0][0].shape[:2]
    gap = 4
    cols = max(len(r) for r in rows)
    sheet = Image.new("RGBA", (cols * (w * scale + gap) + gap, len(rows) * (h * scale + gap) + gap), background + (255,))
    for y, row in enumerate(rows):
        for x, tile in enumerate(row):
            mode = "RGBA" if tile.shape[2] == 4 else "RGB"
            image = Image.fromarray(tile, mode).resize((w * scale, h * scale), Image.NEAREST)
            sheet.paste(image, (gap + x * (w * scale + gap), gap + y * (h * scale + gap)), image if mode == "RGBA" else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def write_palettes(path: Path, rows: list[np.ndarray]) -> None:
    """Writes a model's art palettes PNG (`ImageContract::palettes`): row k holds class k's
    colours (uint8 [K, 3], sorted) as opaque pixels from the left, transparent after."""
    sheet = np.zeros((len(rows), max(len(r) for r in rows), 4), np.uint8)
    for y, colours in enumerate(rows):
        colours = np.unique(colours.reshape(-1, 3), axis=0)
        sheet[y, :len(colours), :3] = colours
        sheet[y, :len(colours), 3] = 255
    Image.fromarray(sheet, "RGBA").save(path, optimize=True)


def read_palettes(path: Path) -> list[np.ndarray]:
    """The rows of an art palettes PNG (see `write_palettes`), each up to its first transparent pixel."""
    sheet = np.asarray(Image.open(path).convert("RGBA"))
    rows = []
    for row in sheet:
        end = np.flatnonzero(row[:, 3] < 128)
        rows.append(row[:end[0] if len(end) else len(row), :3].copy())
    return rows
