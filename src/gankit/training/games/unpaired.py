"""The unpaired translation games (data.task = "unpaired"): CycleGAN, and MUNIT-like example-guided style.

The loop holds both domains as one labelled dataset (`gankit.data.unpaired.load_union`: y 0 = A,
1 = B); these games split it into two independent shuffled streams, one per domain, so nothing
ever pairs an A image with a B image. Each stream's position (epoch, index) is game state, saved
in checkpoints and rollback snapshots, and its order of epoch e a permutation drawn from
(seed, domain, e) alone, so a resume continues both streams exactly. A step shows D a batch of each
domain: counters.images grows by 2 x batch_size, and an epoch is len(A) + len(B) images.

"unpaired" — CycleGAN (Zhu et al. 2017). G holds G_ab and G_ba, D holds D_a and D_b (composite
modules: one optimizer each, the published arrangement). With a ~ A, b ~ B:

    L_D = d_loss(D_b(b), D_b(pool_b(G_ab(a)))) + d_loss(D_a(a), D_a(pool_a(G_ba(b))))  + penalties
    L_G = s * [g_loss(D_b(G_ab(a))) + g_loss(D_a(G_ba(b)))]
          + loss.cycle_weight * (|G_ba(G_ab(a)) - a|_1 + |G_ab(G_ba(b)) - b|_1)
          + loss.identity_weight * loss.cycle_weight * (|G_ba(a) - a|_1 + |G_ab(b) - b|_1)

pool_x: the image pool of train.pool_size past translations (`gankit.training.pool`), its swaps
drawn from the loop's noise generator. s = `losses.cycle.adversarial_scale(loss.name)` (2 for
LSGAN, whose gankit G loss carries a 1/2 the paper's does not). The reference code takes the G
step before the D step on each batch; gankit's loop takes the D step(s) first and then the G step
on the last D step's translations, which is the same alternation shifted by half a step.

"unpaired-style" — MUNIT-like (Huang et al. 2018), model.arch = munit. Each domain has a content
encoder E^c, a style encoder E^s and a decoder; styles s ~ N(0, I) (8-D), drawn from the noise
generator. With c_a, s'_a = E_a(a) (and likewise for b), x_ab = Dec_b(c_a, s_b), x_ba = Dec_a(c_b, s_a):

    L_D = d_loss(D_b(b), D_b(x_ab)) + d_loss(D_a(a), D_a(x_ba))  + penalties   (no pool, as in MUNIT)
    L_G = s * [g_loss(D_b(x_ab)) + g_loss(D_a(x_ba))]
          + loss.cycle_weight * (|Dec_a(c_a, s'_a) - a|_1 + |Dec_b(c_b, s'_b) - b|_1)      image recon
          + |E^s_b(x_ab) - s_b|_1 + |E^s_a(x_ba) - s_a|_1                                 style recon
          + |E^c_b(x_ab) - c_a|_1 + |E^c_a(x_ba) - c_b|_1                                 content recon
          + loss.cycle_weight * (|Dec_a(E^c_b(x_ab), s'_a) - a|_1 + |Dec_b(E^c_a(x_ba), s'_b) - b|_1)  cycle

MUNIT's weights (recon_x_w 10, recon_s_w 1, recon_c_w 1) with its optional explicit cycle term
(recon_x_cyc_w) on at loss.cycle_weight: the cycle keeps content measurably (cycle PSNR).

Both: regularizers that call D themselves (R1, WGAN-GP) see each domain's D on its own images;
augmentation and packing apply to every D input alike. metrics.jsonl gets the window's mean
"adversarial", "cycle" and "identity" (CycleGAN) or "recon", "style", "content", "cycle" (style),
all unweighted.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from gankit.config import Config, ConfigError
from gankit.data import Dataset, to_float, to_uint8
from gankit.io.images import make_grid
from gankit.losses.cycle import adversarial_scale, cycle_loss, identity_loss, l1
from gankit.models import apply_spectral_norm, check as check_model, packed_shape
from gankit.models.cyclegan import build_unpaired_generator, patch_discriminators
from gankit.training import distributed
from gankit.training.games.base import Game
from gankit.training.pool import ImagePool

GRID_ROWS = 8
"""Images of each domain in a training grid at most."""


class DomainStream:
    """Batches of one domain drawn without replacement, in an order fixed by (seed, domain, epoch);
    its position is plain data (`state`), so a resume or rollback continues it exactly."""

    def __init__(self, x: Tensor, batch_size: int, seed: int, domain: int):
        self.x, self.batch_size, self.seed, self.domain = x, batch_size, seed, domain
        self.epoch, self.pos = 0, 0
        self._order, self._order_epoch = None, -1

    def _permutation(self) -> Tensor:
        if self._order_epoch != self.epoch:
            key = np.random.SeedSequence([self.seed, self.domain, self.epoch]).generate_state(1, dtype=np.uint64)[0]
            g = torch.Generator().manual_seed(int(key))
            self._order, self._order_epoch = torch.randperm(len(self.x), generator=g).to(self.x.device), self.epoch
        return self._order

    def next(self) -> Tensor:
        """(batch_size, C, H, W) float in [-1, 1]; a tail shorter than a batch is skipped."""
        b = self.batch_size
        idx = self._permutation()[self.pos:self.pos + b]
        self.pos += b
        if self.pos + b > len(self.x):
            self.epoch, self.pos = self.epoch + 1, 0
        return to_float(self.x[idx])

    def state(self) -> list[int]:
        return [self.epoch, self.pos]

    def load(self, state) -> None:
        epoch, pos = (int(v) for v in state)
        if epoch < 0 or not 0 <= pos <= max(0, len(self.x) - self.batch_size):
            raise ValueError(f"domain stream: position {pos} of epoch {epoch} does not fit {len(self.x)} images")
        self.epoch, self.pos = epoch, pos


class _OneDomain(nn.Module):
    """D judging one domain, as a one-argument module for the regularizers (R1, gradient penalty)."""

    def __init__(self, D: nn.Module, domain: str):
        super().__init__()
        self.D, self.domain = D, domain

    def forward(self, x: Tensor) -> Tensor:
        return self.D(x, self.domain)


def _split(data: Dataset) -> tuple[Tensor, Tensor]:
    return data.x[data.y == 0], data.x[data.y == 1]


class _UnpairedBase(Game):
    """What both unpaired games share: the two domain streams, D's step, logging windows, the grid."""

    checks_collapse = False  # a translation is tied to its input: no G.sample batch to measure
    log_names: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale = adversarial_scale(self.cfg.loss.name)
        self._window = torch.zeros(len(self.log_names) + 1, device=self.device)
        self._streams: list[DomainStream] | None = None
        self._pending: list | None = None  # stream positions restored before the loop hands the data
        self._last = None
        self._fixed = None

    # ---- the networks
    @classmethod
    def check(cls, cfg: Config, shape: tuple) -> None:
        check_model(cfg.model, shape)  # the family's check (cyclegan, munit or unet + PatchGAN)

    @classmethod
    def build(cls, cfg: Config, data: Dataset) -> tuple[nn.Module, nn.Module]:
        a, b = _split(data)
        for name, x, spec in (("A", a, cfg.data.domain_a), ("B", b, cfg.data.domain_b)):
            if len(x) < cfg.train.batch_size:
                raise ConfigError(f"train.batch_size: {cfg.train.batch_size} is larger than domain {name} "
                                  f"({spec!r}: {len(x)} images); lower it or add images")
        m, shape = cfg.model, data.sample_shape
        G = build_unpaired_generator(m, shape)
        D = patch_discriminators(m, packed_shape(shape, m.pack))
        if m.g_spectral_norm:
            apply_spectral_norm(G)
        if m.d_spectral_norm:
            apply_spectral_norm(D)
        return G, D

    # ---- the data: two streams cut from the loop's batches (set by the loop, again after a rollback)
    @property
    def batches(self):
        return self._batches

    @batches.setter
    def batches(self, batches) -> None:
        self._batches = batches
        t = self.cfg.train
        keep = self._pending or ([s.state() for s in self._streams] if self._streams else None)
        xa, xb = batches.x[batches.y == 0], batches.x[batches.y == 1]
        self._streams = [DomainStream(xa, t.batch_size, t.seed, 0), DomainStream(xb, t.batch_size, t.seed, 1)]
        if keep:
            for stream, state in zip(self._streams, keep):
                stream.load(state)
        self._pending = None
        self._fixed = None

    def draw(self) -> tuple[Tensor, Tensor]:
        """A batch of each domain, (B, C, H, W) in [-1, 1] each, with the loop's counters advanced:
        2B images shown to D; an epoch is len(A) + len(B) images."""
        # Each stream draws the global batch; under torchrun a process keeps its rows (games/__init__.py).
        a, b = self.shard(self._streams[0].next()), self.shard(self._streams[1].next())
        c, n = self.counters, 2 * self.cfg.train.batch_size
        c.images += n
        c.epoch_pos += n
        if c.epoch_pos + n > len(self._batches.x):
            c.epoch, c.epoch_pos = c.epoch + 1, 0
        return self.reg.real_batch(a), self.reg.real_batch(b)

    # ---- D: the same for both games
    def _d_loss(self, a: Tensor, b: Tensor, fake_a: Tensor, fake_b: Tensor, i: int):
        D, reg, t = self.D, self.reg, self.cfg.train
        D.requires_grad_(True)
        images = self.counters.images
        step = self.counters.step * t.d_steps + i
        loss, real_logits, fake_logits = 0.0, [], []
        for domain, real, fake in (("a", a, fake_a), ("b", b, fake_b)):
            real_view, fake_view = reg.view(real, images), reg.view(fake, images)
            r, f = D(real_view, domain), D(fake_view, domain)
            loss = loss + self.losses.d_loss(r, f) + reg.d_penalty(_OneDomain(D, domain), real_view, fake_view, step)
            real_logits.append(r.flatten())
            fake_logits.append(f.flatten())
        return loss, torch.cat(real_logits), torch.cat(fake_logits)

    def _adversarial(self, real: Tensor, fake: Tensor, domain: str) -> Tensor:
        D, reg, images = self.D, self.reg, self.counters.images
        real_logits = D(reg.view(real, images), domain).detach() if self.losses.g_needs_real else None
        return self.losses.g_loss(real_logits, D(reg.view(fake, images), domain))

    # ---- logging
    def _log(self, *parts: Tensor) -> None:
        with torch.no_grad():
            self._window += torch.stack([*(p.detach() for p in parts), torch.ones((), device=self.device)])

    def log_fields(self) -> dict:
        *sums, n = self._window.tolist()
        self._window.zero_()
        return {name: v / n for name, v in zip(self.log_names, sums)} if n else {}

    # ---- state: the streams' positions (the pools add theirs)
    def state_dict(self) -> dict:
        streams = [s.state() for s in self._streams] if self._streams else (self._pending or [[0, 0], [0, 0]])
        return {"streams": torch.tensor(streams, dtype=torch.int64)}

    def load_state_dict(self, state: dict) -> None:
        streams = state["streams"]  # KeyError on a checkpoint without it: reset only by an inexact resume
        positions = [[int(v) for v in row] for row in streams.tolist()]
        if len(positions) != 2 or any(len(p) != 2 for p in positions):
            raise ValueError(f"unpaired game: malformed stream positions {positions}")
        if self._streams:
            for stream, pos in zip(self._streams, positions):
                stream.load(pos)
        else:
            self._pending = positions
        self._window.zero_()  # a rollback or resume starts a fresh logging window
        self._last = None

    # ---- the training grid
    def fixed_batch(self) -> tuple[Tensor, Tensor]:
        """The grid's inputs: up to GRID_ROWS images of each domain, evenly strided through it."""
        if self._fixed is None:
            n = max(1, min(GRID_ROWS, self.cfg.train.grid_size // 2))
            xa, xb = self._streams[0].x, self._streams[1].x
            self._fixed = tuple(to_float(x[::max(1, len(x) // n)][:n]) for x in (xa, xb))
        return self._fixed

    @torch.no_grad()
    def picture(self, G: nn.Module):
        a, b = self.fixed_batch()
        was_training = G.training
        G.eval()
        try:
            rows = self.grid_rows(G, a, b)
        finally:
            G.train(was_training)
        cols = len(rows[0])
        # each row: one input and what the game makes of it; rows of A first, then rows of B
        tiles = torch.cat([torch.stack(list(r), 1).flatten(0, 1) for r in rows]).clamp(-1, 1)
        return make_grid(to_uint8(tiles), nrow=cols)


class CycleGame(_UnpairedBase):
    """CycleGAN: see the module docstring."""

    log_names = ("adversarial", "cycle", "identity")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        size = self.cfg.train.pool_size
        self.pools = {"a": ImagePool(size), "b": ImagePool(size)}

    def d_step(self, i: int, last: bool) -> tuple[Tensor, Tensor, Tensor]:
        G = self.G
        a, b = self.draw()
        with torch.set_grad_enabled(last):
            fake_b, fake_a = G(a, "a2b"), G(b, "b2a")
        # One pool of the global batch's fakes, the same in every process (so one process's checkpoint
        # holds every process's pool), queried with the shared stream; each process keeps its rows.
        pooled_a = self.shard(self.pools["a"].query(distributed.all_gather_cat(fake_a), self.noise))
        pooled_b = self.shard(self.pools["b"].query(distributed.all_gather_cat(fake_b), self.noise))
        self._last = (a, b, fake_a, fake_b)
        return self._d_loss(a, b, pooled_a, pooled_b, i)

    def g_step(self) -> Tensor:
        if self._last is None or not self._last[2].requires_grad:
            raise RuntimeError("g_step needs a d_step(i, last=True) before it (it reuses those translations)")
        (a, b, fake_a, fake_b), self._last = self._last, None
        G, lo = self.G, self.cfg.loss
        self.D.requires_grad_(False)
        adversarial = self._adversarial(b, fake_b, "b") + self._adversarial(a, fake_a, "a")
        cycle = cycle_loss(a, G(fake_b, "b2a"), b, G(fake_a, "a2b"), weight=1.0)
        loss = self.scale * adversarial + lo.cycle_weight * cycle
        if lo.identity_weight > 0:
            identity = identity_loss(a, G(a, "b2a"), b, G(b, "a2b"), cycle_weight=1.0, fraction=1.0)
            loss = loss + lo.identity_weight * lo.cycle_weight * identity
        else:
            identity = torch.zeros((), device=self.device)
        self._log(adversarial, cycle, identity)
        return loss

    def state_dict(self) -> dict:
        return {**super().state_dict(), "pool_a": self.pools["a"].state_dict(), "pool_b": self.pools["b"].state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.pools["a"].load_state_dict(state["pool_a"])
        self.pools["b"].load_state_dict(state["pool_b"])

    def grid_rows(self, G: nn.Module, a: Tensor, b: Tensor):
        """input | translation | round trip, for A's images then B's."""
        fb, fa = G(a, "a2b"), G(b, "b2a")
        return [(a, fb, G(fb, "b2a")), (b, fa, G(fa, "a2b"))]


class StyleGame(_UnpairedBase):
    """MUNIT-like example-guided translation: see the module docstring."""

    log_names = ("adversarial", "recon", "style", "content", "cycle")
    GRID_STYLES = 3

    def d_step(self, i: int, last: bool) -> tuple[Tensor, Tensor, Tensor]:
        T = self.G
        a, b = self.draw()
        s_a = self.shard(T.random_styles(self.cfg.train.batch_size, self.noise, self.device))  # global, cut
        s_b = self.shard(T.random_styles(self.cfg.train.batch_size, self.noise, self.device))
        with torch.set_grad_enabled(last):
            (c_a, sp_a), (c_b, sp_b) = T.encode(a, "a"), T.encode(b, "b")
            x_ab, x_ba = T.decode(c_a, s_b, "b"), T.decode(c_b, s_a, "a")
        self._last = (a, b, c_a, sp_a, c_b, sp_b, s_a, s_b, x_ab, x_ba)
        return self._d_loss(a, b, x_ba.detach(), x_ab.detach(), i)

    def g_step(self) -> Tensor:
        if self._last is None or not self._last[-1].requires_grad:
            raise RuntimeError("g_step needs a d_step(i, last=True) before it (it reuses those translations)")
        (a, b, c_a, sp_a, c_b, sp_b, s_a, s_b, x_ab, x_ba), self._last = self._last, None
        T, lo = self.G, self.cfg.loss
        self.D.requires_grad_(False)
        adversarial = self._adversarial(b, x_ab, "b") + self._adversarial(a, x_ba, "a")
        recon = l1(T.decode(c_a, sp_a, "a"), a) + l1(T.decode(c_b, sp_b, "b"), b)
        (c_a_r, s_b_r), (c_b_r, s_a_r) = T.encode(x_ab, "b"), T.encode(x_ba, "a")
        style = l1(s_b_r, s_b) + l1(s_a_r, s_a)
        content = l1(c_a_r, c_a.detach()) + l1(c_b_r, c_b.detach())
        cycle = l1(T.decode(c_a_r, sp_a, "a"), a) + l1(T.decode(c_b_r, sp_b, "b"), b)
        loss = self.scale * adversarial + lo.cycle_weight * (recon + cycle) + style + content
        self._log(adversarial, recon, style, content, cycle)
        return loss

    def _grid_styles(self, n: int) -> Tensor:
        """GRID_STYLES fixed style codes (from the run's seed), the same in every grid."""
        g = torch.Generator().manual_seed(self.cfg.train.seed + 17)
        return torch.randn(self.GRID_STYLES, self.G.style_dim, generator=g).to(self.device)

    def grid_rows(self, T: nn.Module, a: Tensor, b: Tensor):
        """input | its translation in each of GRID_STYLES fixed random styles | round trip."""
        styles = self._grid_styles(len(a))
        rows = []
        for x, direction, source in ((a, "a2b", "a"), (b, "b2a", "b")):
            outs = [T.translate(x, direction, s.expand(len(x), -1)) for s in styles]
            back = T.decode(T.domain(direction[-1]).content(outs[0]), T.encode_style(x, source), source)
            rows.append((x, *outs, back))
        return rows
