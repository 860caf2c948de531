"""Dungeon Crawl Stone Soup's monsters, cut out of `dat/tiles/player.png` (Debian
crawl-tiles-data; CC0 / public domain for most tiles): the creature data of train_sprites.py
and train_creatures.py."""

import numpy as np
from PIL import Image

from common import DATA

SIZE = 32  # art pixels per side
SHEET = DATA / "crawl/usr/share/crawl/dat/tiles/player.png"
# player.png is packed by Crawl's tile_page: shelves of 32-pixel rows from y = 742 on, in which
# trimmed tiles sit side by side. These shelves hold monsters; 806–1029 hold tentacle segments.
MONSTER_SHELVES = [742, 774] + list(range(1030, 1606, 32))
LOOSE_MONSTERS = (640, 742)  # above the shelves: monsters that stand apart, cut as alpha components


def monsters() -> np.ndarray:
    """Crawl's monsters as [N, 32, 32, 4] uint8, hard alpha, each bottom-centred.

    Inside a shelf, neighbouring monsters often touch (the packer leaves no gap), so an
    8-connected component wider than 32 is split where the fewest opaque pixels touch across a
    vertical line, keeping parts at most 32 wide."""
    from scipy import ndimage

    sheet = np.asarray(Image.open(SHEET).convert("RGBA"))
    opaque = sheet[..., 3] >= 128
    pieces = []
    top, bottom = LOOSE_MONSTERS
    for box in ndimage.find_objects(ndimage.label(opaque[top:bottom], structure=np.ones((3, 3)))[0]):
        rows, cols = box
        if rows.stop - rows.start <= SIZE and cols.stop - cols.start <= SIZE:
            pieces.append((top + rows.start, top + rows.stop, cols.start, cols.stop))
    for shelf in MONSTER_SHELVES:
        labels, _ = ndimage.label(opaque[shelf:shelf + SIZE], structure=np.ones((3, 3)))
        for label, (rows, cols) in enumerate(ndimage.find_objects(labels), 1):
            mask = labels[rows, cols] == label
            for start, stop in split_columns(mask):
                part = mask[:, start:stop]
                ys, xs = np.nonzero(part)
                if len(ys) >= 120:  # smaller scraps are effects and stray bits, not monsters
                    y0, x0 = shelf + rows.start, cols.start + start
                    pieces.append((y0 + ys.min(), y0 + ys.max() + 1, x0 + xs.min(), x0 + xs.max() + 1))
    tiles = []
    for y0, y1, x0, x1 in pieces:
        crop = sheet[y0:y1, x0:x1].copy()
        if (crop[..., 3] >= 128).sum() < 120:
            continue
        tile = np.zeros((SIZE, SIZE, 4), np.uint8)
        h, w = crop.shape[:2]
        tile[SIZE - h:, (SIZE - w) // 2:(SIZE - w) // 2 + w] = crop
        keep = tile[..., 3] >= 128
        tile[..., 3] = np.where(keep, 255, 0)
        tile[~keep] = 0
        tiles.append(tile)
    return np.stack(tiles)


def split_columns(mask: np.ndarray) -> list[tuple[int, int]]:
    """Column ranges of at most SIZE that cut `mask` where the fewest opaque pixels touch."""
    width = mask.shape[1]
    if width <= SIZE:
        return [(0, width)]

    def touching(x):  # 8-connected pairs across the line between columns x - 1 and x
        left, right = mask[:, x - 1], mask[:, x]
        return int((left & right).sum() + (left[:-1] & right[1:]).sum() + (left[1:] & right[:-1]).sum())

    cut = min(range(8, SIZE + 1), key=lambda x: (touching(x), -x))
    return [(0, cut)] + [(cut + a, cut + b) for a, b in split_columns(mask[:, cut:])]
