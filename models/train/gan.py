"""The GAN machinery shared by Kiln's image generators (textures, sprites): FiLM-modulated
convolution blocks, DiffAugment, an EMA of the generator, checkpoints that resume, and one
hinge-loss training loop with a wall-clock budget. Runs on CUDA when present, else CPU."""

import argparse
import copy
import json
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import DATA


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class PixelNorm(nn.Module):
    """Normalises each pixel's feature vector (ProGAN); unlike BatchNorm it behaves the same
    in training and for one variant at a time in Kiln."""

    def forward(self, x):
        return x * torch.rsqrt((x * x).mean(1, keepdim=True) + 1e-8)


class ModulatedBlock(nn.Module):
    """conv → PixelNorm → FiLM from the style vector → LeakyReLU."""

    def __init__(self, cin, cout, style, padding_mode="zeros"):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, padding_mode=padding_mode)
        self.norm = PixelNorm()
        self.film = nn.Linear(style, 2 * cout)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x, style):
        gamma, beta = self.film(style)[:, :, None, None].chunk(2, 1)
        return F.leaky_relu(self.norm(self.conv(x)) * (1 + gamma) + beta, 0.2)


class MinibatchStd(nn.Module):
    """Appends the batch's mean feature standard deviation as one more channel (ProGAN), so the
    discriminator sees a batch that lacks variety: a guard against mode collapse."""

    def forward(self, x):
        spread = x.std(0, unbiased=False).mean().expand(x.shape[0], 1, *x.shape[2:])
        return torch.cat([x, spread], 1)


def roll_each(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Rolls each image of the batch circularly by its own (dy, dx)."""
    n, c, h, w = x.shape
    rows = (torch.arange(h, device=x.device)[None, :] - dy[:, None]) % h
    cols = (torch.arange(w, device=x.device)[None, :] - dx[:, None]) % w
    return x.gather(2, rows[:, None, :, None].expand(n, c, h, w)).gather(3, cols[:, None, None, :].expand(n, c, h, w))


def diff_augment(x: torch.Tensor, shift: int, step: int = 1, cutout: float = 0.25) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020) for small data, applied alike to real and generated
    images: circular translation by a multiple of `step` up to ±`shift` pixels, horizontal
    flip and a random cutout."""
    n, c, h, w = x.shape
    if shift:
        dy = torch.randint(-shift // step, shift // step + 1, (n,), device=x.device) * step
        dx = torch.randint(-shift // step, shift // step + 1, (n,), device=x.device) * step
        x = roll_each(x, dy, dx)
    flip = torch.rand(n, device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if cutout:
        ch, cw = int(h * cutout), int(w * cutout)
        ys = torch.randint(0, h - ch + 1, (n,), device=x.device)
        xs = torch.randint(0, w - cw + 1, (n,), device=x.device)
        rows = torch.arange(h, device=x.device)[None, :, None]
        cols = torch.arange(w, device=x.device)[None, None, :]
        hole = (rows >= ys[:, None, None]) & (rows < (ys + ch)[:, None, None]) & (cols >= xs[:, None, None]) & (cols < (xs + cw)[:, None, None])
        x = x * (~hole)[:, None].to(x.dtype)
    return x


def checkpoint_dir(name: str) -> Path:
    """Where a model's training state is kept (outside git), one file per part so each stays small."""
    path = DATA / "checkpoints" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def train(name, g, d, sample_real, sample_latent, *, minutes, augment, diversity=0.0, lr_g=2e-4, lr_d=2e-4, log_every=500, checkpoint_minutes=1.0):
    """Hinge-loss GAN training for `minutes` of wall clock, resuming from `checkpoint_dir(name)`
    when it holds a previous run; returns the EMA generator (what gets exported), on the CPU.

    `sample_real()` -> (images, labels); `sample_latent(labels)` -> generator inputs, latent first.
    `diversity` > 0 adds the mode-seeking term (Mao et al. 2019) between the batch's two halves,
    which must carry the same labels: outputs must differ as their latents do."""
    dev = device()
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    g, d = g.to(dev), d.to(dev)
    ema = copy.deepcopy(g).eval()
    folder = checkpoint_dir(name)
    opt_g = torch.optim.Adam(g.parameters(), lr_g, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(d.parameters(), lr_d, betas=(0.0, 0.99))
    step = warm_up = 0
    if (folder / "ema.pt").exists():
        # The live generator resumes from its own weights, or from the EMA ones where only those were kept.
        g.load_state_dict(torch.load(folder / ("g.pt" if (folder / "g.pt").exists() else "ema.pt"), map_location=dev))
        ema.load_state_dict(torch.load(folder / "ema.pt", map_location=dev))
        if (folder / "d.pt").exists():
            d.load_state_dict(torch.load(folder / "d.pt", map_location=dev))
        else:  # started from a shipped model (start_from_exported): a fresh critic learns first
            warm_up = D_WARM_UP
        if (folder / "opt.pt").exists():
            state = torch.load(folder / "opt.pt", map_location=dev)
            opt_g.load_state_dict(state["g"])
            opt_d.load_state_dict(state["d"])
        step = int((folder / "step.txt").read_text()) if (folder / "step.txt").exists() else 0
        print(f"resumed {name} at step {step} from {folder}", flush=True)

    def save():
        torch.save(g.state_dict(), folder / "g.pt")
        torch.save(d.state_dict(), folder / "d.pt")
        torch.save(ema.state_dict(), folder / "ema.pt")
        torch.save({"g": opt_g.state_dict(), "d": opt_d.state_dict()}, folder / "opt.pt")
        (folder / "step.txt").write_text(str(step))

    first = step

    def one_step(seconds):
        nonlocal step, warm_up
        real, label = sample_real()
        real, label = real.to(dev, non_blocking=True), label.to(dev)
        if warm_up:
            with torch.no_grad():
                fake = g(*sample_latent(label))
            loss_d = discriminator_step(d, opt_d, real, fake, label, augment)
            warm_up -= 1
            if not warm_up:
                print(f"{name} critic warmed up alone for {D_WARM_UP} steps, {seconds:.0f}s: loss_d {loss_d.item():.3f}", flush=True)
            return
        loss_d, loss_g, fake = hinge_step(g, d, opt_g, opt_d, real, label, sample_latent(label), augment, diversity)
        with torch.no_grad():
            beta = 0.999 if step > 2000 else 0.99
            for pe, p in zip(ema.parameters(), g.parameters()):
                pe.lerp_(p, 1 - beta)
        step += 1
        if step % log_every == 0:
            spread = fake.detach().std(0).mean().item()
            print(f"{name} step {step} {seconds:.0f}s loss_d {loss_d.item():.3f} loss_g {loss_g.item():.3f} spread {spread:.3f}", flush=True)

    seconds = run_for(minutes, checkpoint_minutes, one_step, save)
    print(f"{name}: {step - first} steps this run ({step} in all) in {seconds:.0f}s on {dev}", flush=True)
    return ema.cpu().eval(), step


def hinge_step(g, d, opt_g, opt_d, real, label, latent, augment, diversity=0.0):
    """One hinge-loss step of the discriminator, then of the generator, on a batch of `real`
    images with their `label`s and the generator inputs `latent` (latent first). `diversity` > 0
    adds the mode-seeking term between the batch's two halves (see `train`). Returns the two
    losses and the generated batch."""
    fake = g(*latent)
    loss_d = discriminator_step(d, opt_d, real, fake.detach(), label, augment)
    loss_g = -d(augment(fake), label).mean()
    if diversity:
        half = len(fake) // 2
        ratio = (fake[:half] - fake[half:]).abs().mean() / (latent[0][:half] - latent[0][half:]).abs().mean()
        loss_g = loss_g + diversity / (ratio + 1e-5)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return loss_d, loss_g, fake


def discriminator_step(d, opt_d, real, fake, label, augment):
    """One hinge-loss step of the discriminator on `real` and (detached) `fake` images; returns its loss."""
    loss_d = F.relu(1 - d(augment(real), label)).mean() + F.relu(1 + d(augment(fake), label)).mean()
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    return loss_d


def run_for(minutes, checkpoint_minutes, one_step, save):
    """Calls `one_step(seconds so far)` until `minutes` of wall clock have passed, and `save()`
    every `checkpoint_minutes` and at the end; returns the seconds taken."""
    start = last_save = time.time()
    while time.time() - start < minutes * 60:
        one_step(time.time() - start)
        if time.time() - last_save > checkpoint_minutes * 60:
            save()
            last_save = time.time()
    save()
    return time.time() - start


def set_class_rows(name: str, rows: list[int], values: torch.Tensor) -> None:
    """Writes `values` into rows `rows` of the generator's class embedding (`embed.weight`) in
    the checkpoint's EMA and live generator."""
    for part in ("ema", "g"):
        path = checkpoint_dir(name) / f"{part}.pt"
        if path.exists():
            state = torch.load(path, map_location="cpu")
            state["embed.weight"][rows] = values.to(state["embed.weight"].dtype)
            path.unlink()  # a file copied back from a GPU machine may be read-only
            torch.save(state, path)


def tune_class_rows(name, g, d, rows, sample_real, sample_latent, *, minutes, augment, lr=5e-3, lr_d=2e-4, log_every=50, checkpoint_minutes=1.0):
    """Trains only the rows `rows` of the generator's class embedding (`g.embed`), starting from
    the checkpoint's EMA weights (what ships), and the whole discriminator, for `minutes`; every
    other generator weight stays as it is, so the other classes draw exactly what they drew.

    For classes split off from a family (a new embedding row copied from the old one): with the
    main loop's learning rate an embedding entry moves at most about 2e-4 a step, and rows that
    start a little noise apart did not part in 2,075 steps; a few free rows with a larger rate
    can, and cost no more per step than a forward and backward pass. Saves the tuned rows into
    `ema.pt` and `g.pt` of the checkpoint (and `d.pt`); returns the generator and the step count."""
    dev = device()
    folder = checkpoint_dir(name)
    g.load_state_dict(torch.load(folder / "ema.pt", map_location="cpu"))
    d.load_state_dict(torch.load(folder / "d.pt", map_location="cpu"))
    g, d = g.to(dev).train(), d.to(dev)
    for p in g.parameters():
        p.requires_grad_(False)
    table = g.embed.weight.requires_grad_(True)
    mask = torch.zeros(table.shape[0], 1, device=dev)
    mask[rows] = 1
    table.register_hook(lambda grad: grad * mask)
    opt_g = torch.optim.Adam([table], lr, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(d.parameters(), lr_d, betas=(0.0, 0.99))
    step = first = int((folder / "step.txt").read_text())

    def save():
        torch.save(d.state_dict(), folder / "d.pt")
        set_class_rows(name, rows, table.detach()[rows].cpu())
        (folder / "step.txt").write_text(str(step))

    def one_step(seconds):
        nonlocal step
        real, label = sample_real()
        real, label = real.to(dev), label.to(dev)
        loss_d, loss_g, fake = hinge_step(g, d, opt_g, opt_d, real, label, sample_latent(label), augment)
        step += 1
        if (step - first) % log_every == 0:
            gaps = {int(c): round(float((fake.detach()[label == c].mean((0, 2, 3)) - real[label == c].mean((0, 2, 3))).norm() * 127.5), 1)
                    for c in label.unique()}
            print(f"{name} tune step {step - first} {seconds:.0f}s loss_d {loss_d.item():.3f} loss_g {loss_g.item():.3f} "
                  f"batch colour gap per row {gaps}", flush=True)

    seconds = run_for(minutes, checkpoint_minutes, one_step, save)
    print(f"{name}: tuned rows {rows} for {step - first} steps in {seconds:.0f}s on {dev}", flush=True)
    return g.cpu().eval(), step


def arguments() -> argparse.ArgumentParser:
    """The command line both image scripts share (a script may add its own options)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-clock training budget (resumes from the checkpoint)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--export-only", action="store_true", help="export the checkpoint's EMA generator and measure it")
    parser.add_argument("--trained-on", default="", help="where and how long it trained, for the manifest (e.g. '8 min on an NVIDIA H100')")
    parser.add_argument("--no-export", action="store_true", help="train and checkpoint only (e.g. on a GPU machine)")
    parser.add_argument("--pack-only", action="store_true", help="write the data pack (to carry to a GPU machine) and stop")
    parser.add_argument("--from-shipped", action="store_true",
                        help="with no checkpoint, start from the shipped model's weights and a fresh discriminator (see start_from_exported)")
    parser.add_argument("--state-out", default="", help="after training, also write the checkpoint small enough to carry (see save_compact)")
    return parser


def save_compact(name: str, folder: Path) -> None:
    """Writes the checkpoint of `name` to `folder` in a form that fits a GPU machine's transfer
    limits (16 MiB a file, 64 MiB a call with the project): the EMA generator, the live generator
    and the discriminator in float16, and the step count; no optimiser state. `train` resumes
    from such a folder (as the checkpoint folder) with fresh Adam moments."""
    source = checkpoint_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("ema", "g", "d"):
        if (source / f"{part}.pt").exists():
            state = torch.load(source / f"{part}.pt", map_location="cpu")
            torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, folder / f"{part}.pt")
    (folder / "step.txt").write_text((source / "step.txt").read_text())


def load_exported(name: str, generator: nn.Module) -> int:
    """Loads the checkpoint's EMA weights into `generator` (CPU); returns the steps trained."""
    folder = checkpoint_dir(name)
    generator.load_state_dict(torch.load(folder / "ema.pt", map_location="cpu"))
    return int((folder / "step.txt").read_text())


# Steps a fresh discriminator trains alone, against a generator started from a shipped model,
# before the generator learns from it: an untrained critic's gradients would only undo it.
D_WARM_UP = 500


def start_from_exported(name: str, generator: nn.Module, folder: Path, prefix: str = "") -> None:
    """Seeds the checkpoint of `name`, when it has none, from the shipped model in `folder`, for when the
    training state is gone (checkpoints live outside git): the ONNX file's weights (the EMA
    generator's, under `prefix` in the exported graph) become the EMA and the live generator, and
    `quality.json`'s step count the step count. There is no discriminator, so `train` starts a
    fresh one and warms it up first (D_WARM_UP)."""
    import onnx
    from onnx import numpy_helper

    checkpoint = checkpoint_dir(name)
    if (checkpoint / "ema.pt").exists():
        return  # training goes on from the checkpoint
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(folder / "model.onnx")).graph.initializer}
    state = generator.state_dict()
    missing = [key for key in state if prefix + key not in weights]
    assert not missing, f"{folder / 'model.onnx'} lacks {missing}: not this generator's export"
    state = {key: torch.from_numpy(weights[prefix + key].copy()).to(value.dtype) for key, value in state.items()}
    generator.load_state_dict(state)
    steps = json.loads((folder / "quality.json").read_text())["steps"]
    for part in ("ema", "g"):
        torch.save(state, checkpoint / f"{part}.pt")
    (checkpoint / "step.txt").write_text(str(steps))
    print(f"started {name} from {folder / 'model.onnx'} ({steps} steps), with a fresh discriminator", flush=True)
