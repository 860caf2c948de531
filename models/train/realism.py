"""Realism measures shared by the image training scripts (issue #10): a two-sample classifier
that tries to tell generated images from held-back real ones, the stray-pixel rate, and the
texture seam score (the same formula as `kiln_gen`'s seam score).

Images are uint8 HWC arrays (RGB or RGBA) at their art resolution, as a user sees them.
"""

import numpy as np

# Two colours are "unlike" when some channel differs by more than this (of 255).
UNLIKE = 24


def stray_rate(images: list[np.ndarray]) -> float:
    """Share of (opaque) interior pixels that are unlike all eight neighbours: isolated specks
    that pixel artists never draw. Transparent pixels count as unlike any opaque one."""
    stray = total = 0
    for image in images:
        a = image.astype(np.int16)
        if a.shape[2] == 4:
            opaque = a[..., 3] >= 128
            a = np.where(opaque[..., None], a, -1000)  # transparent: unlike every colour
        else:
            opaque = np.ones(a.shape[:2], bool)
        h, w = a.shape[:2]
        centre = a[1:-1, 1:-1]
        unlike_all = np.ones(centre.shape[:2], bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy or dx:
                    neighbour = a[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx]
                    unlike_all &= np.abs(neighbour - centre).max(2) > UNLIKE
        mask = opaque[1:-1, 1:-1]
        stray += int((unlike_all & mask).sum())
        total += int(mask.sum())
    return stray / max(total, 1)


def seam_score(image: np.ndarray, stride: int) -> float:
    """Mean colour step across the wrap-around edges divided by the mean step across interior
    stride boundaries (kiln_gen::texture::seam_score): about 1 for a seamless tile."""
    a = image[..., :3].astype(np.float64)
    h, w, _ = a.shape
    dx = np.abs(a[:, 1:] - a[:, :-1]).sum(2)
    dy = np.abs(a[1:] - a[:-1]).sum(2)
    ix = [i for i in range(w - 1) if (i + 1) % stride == 0]
    iy = [i for i in range(h - 1) if (i + 1) % stride == 0]
    inner = (dx[:, ix].sum() + dy[iy, :].sum()) / (dx[:, ix].size + dy[iy, :].size)
    wx = np.abs(a[:, -1] - a[:, 0]).sum(1)
    wy = np.abs(a[-1] - a[0]).sum(1)
    return float(((wx.sum() + wy.sum()) / (wx.size + wy.size)) / max(inner, 1e-9))


def features(image: np.ndarray) -> np.ndarray:
    """Image statistics a two-sample test can use: colour moments, colour count, gradient and
    second-difference histograms, autocorrelation at short lags (structure), alpha shape."""
    a = image.astype(np.float32) / 255.0
    rgb = a[..., :3]
    alpha = a[..., 3] >= 0.5 if a.shape[2] == 4 else np.ones(a.shape[:2], bool)
    pixels = rgb[alpha] if alpha.any() else rgb.reshape(-1, 3)
    grey = rgb.mean(2)
    out = [pixels.mean(0), pixels.std(0), np.percentile(pixels, [10, 50, 90], axis=0).ravel()]
    colours = len(np.unique((pixels * 255).astype(np.uint8), axis=0))
    out.append([np.log1p(colours), alpha.mean()])
    gx = np.abs(np.diff(grey, axis=1)).ravel()
    gy = np.abs(np.diff(grey, axis=0)).ravel()
    bins = [0, 0.02, 0.05, 0.1, 0.2, 0.4, 1.01]
    out.append(np.histogram(gx, bins)[0] / gx.size)
    out.append(np.histogram(gy, bins)[0] / gy.size)
    lap = np.abs(grey[1:-1, 1:-1] * 4 - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]).ravel()
    out.append(np.histogram(lap, [0, 0.05, 0.1, 0.2, 0.4, 4.1])[0] / lap.size)
    centred = grey - grey.mean()
    var = (centred ** 2).mean() + 1e-6
    lags = [(0, 1), (1, 0), (0, 2), (2, 0), (0, 4), (4, 0), (0, 8), (8, 0), (4, 4)]
    out.append([(centred * np.roll(centred, lag, (0, 1))).mean() / var for lag in lags])
    if a.shape[2] == 4:  # silhouette: rows/columns covered, edge length
        out.append([alpha.any(1).mean(), alpha.any(0).mean(), np.abs(np.diff(alpha.astype(np.int8), axis=1)).mean()])
    out.append([stray_rate([image])])
    return np.concatenate([np.ravel(np.asarray(x, np.float32)) for x in out])


def classifier_accuracy(real: list[np.ndarray], generated: list[np.ndarray], seed: int = 0,
                        groups: tuple[list, list] | None = None) -> float:
    """5-fold cross-validated accuracy of gradient-boosted trees telling generated from real
    images by `features` (balanced classes: 0.5 means indistinguishable).

    With `groups` (a label per image of `real` and of `generated`, e.g. its material class),
    each fold holds whole groups out (6 folds): the classifier is scored on groups it never
    saw. Where a class has a few real tiles, whose windows are near copies of each other, the
    ungrouped test learns those tiles by heart and tells *any* other images from them, real ones
    too; held-out groups leave it only what generated images have in common across groups."""
    # Imported here: a GPU machine that only trains (--no-export) need not have scikit-learn.
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score

    n = min(len(real), len(generated))
    rng = np.random.default_rng(seed)
    real_picks, generated_picks = rng.permutation(len(real))[:n], rng.permutation(len(generated))[:n]
    x = np.stack([features(real[i]) for i in real_picks] + [features(generated[i]) for i in generated_picks])
    y = np.array([0] * n + [1] * n)
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=seed)
    if groups is None:
        folds = StratifiedKFold(5, shuffle=True, random_state=seed)
        return float(cross_val_score(model, x, y, cv=folds, scoring="accuracy").mean())
    labels = np.array([groups[0][i] for i in real_picks] + [groups[1][i] for i in generated_picks])
    return float(cross_val_score(model, x, y, cv=GroupKFold(6), groups=labels, scoring="accuracy").mean())


def median_cut(image: np.ndarray, colours: int) -> np.ndarray:
    """A bounded palette as Kiln applies it (median cut), for images as a recipe with `palette` bakes them."""
    from PIL import Image

    rgb = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    quantised = np.asarray(rgb.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).convert("RGB"))
    if image.shape[2] == 4:
        return np.concatenate([quantised, image[..., 3:]], 2)
    return quantised


def snap_to_palette(image: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Every pixel's colour replaced by the nearest of `colours` (uint8 [K, 3]; squared RGB
    distance, of equally near ones the least in (r, g, b) order), alpha kept: what Kiln does
    with a model's art palettes (`kiln_gen::art_palette`)."""
    from scipy.spatial import cKDTree

    colours = np.unique(colours.reshape(-1, 3), axis=0)  # sorted: index order is (r, g, b) order
    rgb = image[..., :3].reshape(-1, 3).astype(np.float64)
    k = min(4, len(colours))
    distance, index = cKDTree(colours.astype(np.float64)).query(rgb, k=k)
    if k > 1:  # among ties (equal integer distances), the least colour
        distance, index = np.round(distance ** 2), index
        tied = distance == distance[:, :1]
        index = np.where(tied, index, len(colours)).min(1)
    snapped = colours[index].reshape(image.shape[:-1] + (3,))
    return np.concatenate([snapped, image[..., 3:]], -1) if image.shape[-1] == 4 else snapped
