"""The games: what one discriminator step and one generator step compute, chosen by `train.game`.

Unconditional, class-conditional, paired image-to-image and unpaired training
differ only in which batch a step draws, which networks it calls and which
losses it adds. The loop (`gankit.training.loop`) owns everything else — the
schedule of k D steps per G step, backward and optimizer steps, EMA, logging,
grids, alarms, NaN rollback, checkpoints and exact resume — and calls a game
for the two computations. The contract (`Game` in `base.py`):

    game.batches = Batches(...)         set by the loop before the first step, and again
                                        after a rollback (the data order restarts there)
    loss_d, real_logits, fake_logits = game.d_step(i, last)
        D step i of k: draw the real batch (game.batches) and the latents (the
        loop's noise generator), run G and D, add the regularizer penalties;
        return the scalar D loss and D's logits on the real and fake batches
        (the loop logs D(x) and D(G(z)) from them and adapts augmentation).
        `last` (i == k - 1) asks to keep G's graph for the coming G step.
    loss_g = game.g_step()
        The G step through the freshly updated D; may reuse the last D step's
        fake batch (one G forward saved per step).
    state = game.state_dict(); game.load_state_dict(state)
        What the game keeps beyond the networks, optimizers and RNGs the loop
        already saves, as plain data (torch.load(weights_only=True) must read it):
        e.g. a CycleGAN image pool of past fakes. It is saved in the checkpoint's
        state.pt under "game" only when not empty (an unconditional checkpoint
        is unchanged by games existing) and is part of every rollback snapshot.
        A checkpoint without it restores `{}`; a game that needs state treats
        that as missing (KeyError/ValueError), which an inexact resume resets.

Many processes (torchrun, `gankit.training.distributed`): `game.batches` already hands each
rank its rows of the global batch. Every random tensor a step draws from the loop's noise
generator (z, fake labels, ...) is drawn for the *global* batch (train.batch_size rows) and cut
with `self.shard(x)` — `self.latents()` does both for z — so that every rank draws the same
stream and keeps different rows (a game whose per-image draws happen inside a helper, such as
the paired game's degradations, takes the whole global batch with `batches.next(shard=False)`,
draws for all of it and cuts the results; CycleGAN's image pool holds the global batch's fakes,
all-gathered, so it is the same in every process and in rank 0's checkpoint), and N processes with batch B train exactly like one process
with batch B. A game holds no rank logic beyond that; the loop averages gradients and keeps
the ranks in step. Losses are means over the rank's rows (as in a single process).

A game never calls backward() or steps an optimizer (the loop does; the
regularizers' after-D-step hooks run there too), and draws randomness only
from the generators it is handed (the loop's noise generator, the regularizers'
own) or torch's global RNG (dropout), all of which checkpoints save, so resumes
stay bitwise exact.

Three more hooks let a game shape the run without a copy of the loop:
    Game.check(cfg, shape) / Game.build(cfg, data)   classmethods: the preflight check of its
        networks and the (G, D) it plays with. A game with more networks (CycleGAN's two G's and
        two D's) builds composite modules: the loop keeps one G, one D, one optimizer each, and
        saves, restores, averages (EMA) and rolls back each whole.
    game.picture(G_show)    the training grid (uint8 (H, W, C)), or None for the loop's G.sample grid
    game.log_fields()       extra numbers for each logged metrics.jsonl record
and `checks_collapse` says whether the loop's mode-collapse alarm (G.sample diversity) applies.

Adding a game: a new file here with a `Game` subclass, an entry in GAMES, and
its tests (tests/training/test_training_games.py shows the contract tests).
"""

from gankit.training.games.base import Game
from gankit.training.games.conditional import ConditionalGame
from gankit.training.games.paired import PairedGame
from gankit.training.games.unconditional import UnconditionalGame
from gankit.training.games.unpaired import CycleGame, StyleGame

# name -> Game class; train.game is checked against it before training (like model.arch and loss.name).
GAMES: dict[str, type[Game]] = {
    "unconditional": UnconditionalGame,
    "conditional": ConditionalGame,  # trained whenever model.conditional is not "none" (config.game_of)
    "paired": PairedGame,  # pix2pix; trained whenever data.task is not "none" (config.game_of)
    "unpaired": CycleGame,  # CycleGAN; trained whenever data.task is "unpaired" (config.game_of)
    "unpaired-style": StyleGame,  # MUNIT-like; data.task "unpaired" with model.arch "munit"
}

__all__ = ["GAMES", "ConditionalGame", "CycleGame", "Game", "PairedGame", "StyleGame", "UnconditionalGame"]
