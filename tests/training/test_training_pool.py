"""The image pool of past fakes: fills, then returns a stored image with probability 1/2 and
stores the new one in its place; seeded; its state round-trips exactly."""

import io

import pytest
import torch

from gankit.training.pool import POOL_SIZE, ImagePool


def _batch(start, n=4):
    # image i is filled with the value start + i, so every image is recognisable by its value
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()


def _values(x):
    return [float(v) for v in x[:, 0, 0, 0]]


def test_published_size():
    assert POOL_SIZE == 50 and ImagePool().size == 50


def test_fills_first_returning_the_new_images():
    pool, rng = ImagePool(6), torch.Generator().manual_seed(0)
    state = rng.get_state()
    assert _values(pool.query(_batch(0), rng)) == [0, 1, 2, 3]
    assert pool.count == 4
    assert torch.equal(rng.get_state(), state)  # filling draws nothing
    assert _values(pool.query(_batch(4, 2), rng)) == [4, 5]
    assert pool.count == 6 and _values(pool.images) == [0, 1, 2, 3, 4, 5]
    assert torch.equal(rng.get_state(), state)
    pool.query(_batch(6), rng)                  # full now: every further image draws
    assert not torch.equal(rng.get_state(), state)


def test_once_full_half_the_images_come_from_the_pool_and_replace_it():
    pool, rng = ImagePool(10), torch.Generator().manual_seed(1)
    pool.query(_batch(0, 10), rng)
    stored_before = set(_values(pool.images))
    n = 2000
    out = pool.query(_batch(1000, n), rng)
    new = torch.arange(1000, 1000 + n, dtype=torch.float32)
    returned_new = (out[:, 0, 0, 0] == new).sum().item()
    # each image is returned itself with probability 1/2: 1000 +- 3 sigma (67)
    assert abs(returned_new - n / 2) < 70
    # a swapped-out image is one that was in the pool: an old one or an earlier image of this batch
    for i, v in enumerate(_values(out)):
        if v != 1000 + i:
            assert v in stored_before or 1000 <= v < 1000 + i
    assert pool.count == 10 and pool.images.shape == (10, 1, 2, 2)
    # every value returned from the pool left it: no image is both returned and still stored
    swapped = [v for i, v in enumerate(_values(out)) if v != 1000 + i]
    assert not set(swapped) & set(_values(pool.images))


def test_swap_rule_step_by_step_against_the_same_draws():
    """Replay the rule by hand with a second generator of the same seed."""
    pool, rng = ImagePool(3), torch.Generator().manual_seed(5)
    pool.query(_batch(0, 3), rng)
    mirror, shadow = [0.0, 1.0, 2.0], torch.Generator().manual_seed(5)
    out = pool.query(_batch(10, 8), rng)
    for i in range(8):
        new = 10.0 + i
        if float(torch.rand((), generator=shadow)) > 0.5:
            slot = int(torch.randint(3, (), generator=shadow))
            expect, mirror[slot] = mirror[slot], new
        else:
            expect = new
        assert _values(out)[i] == expect
    assert _values(pool.images) == mirror


def test_seeded_and_detached():
    a, b = ImagePool(4), ImagePool(4)
    ra, rb = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    x = _batch(0, 12).requires_grad_(True)
    oa, ob = a.query(x, ra), b.query(x, rb)
    assert torch.equal(oa, ob) and not oa.requires_grad


def test_size_zero_is_a_pass_through():
    pool, rng = ImagePool(0), torch.Generator().manual_seed(0)
    state = rng.get_state()
    x = _batch(0)
    assert torch.equal(pool.query(x, rng), x) and torch.equal(rng.get_state(), state)
    with pytest.raises(ValueError, match="pool size"):
        ImagePool(-1)


def test_state_round_trips_through_a_weights_only_load_and_continues_identically():
    pool, rng = ImagePool(5), torch.Generator().manual_seed(2)
    pool.query(_batch(0, 7), rng)
    buf = io.BytesIO()
    torch.save({"pool": pool.state_dict(), "rng": rng.get_state()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    again, rng2 = ImagePool(5), torch.Generator()
    again.load_state_dict(saved["pool"])
    rng2.set_state(saved["rng"])
    assert torch.equal(pool.query(_batch(100, 9), rng), again.query(_batch(100, 9), rng2))
    assert torch.equal(pool.images, again.images)
    # an empty pool round-trips too, and a pool of another size is refused
    empty = ImagePool(5)
    empty.load_state_dict(ImagePool(5).state_dict())
    assert empty.count == 0 and empty.images is None
    with pytest.raises(ValueError, match="holds 5 images"):
        ImagePool(6).load_state_dict(pool.state_dict())


def test_a_batch_of_another_shape_is_refused():
    pool, rng = ImagePool(3), torch.Generator().manual_seed(0)
    pool.query(_batch(0, 2), rng)
    with pytest.raises(ValueError, match="shape"):
        pool.query(torch.zeros(2, 1, 3, 3), rng)
