import numpy as np
import pytest

from score_noise import noise_summary, render


def test_a_ranking_that_every_block_repeats_agrees_with_itself_and_with_the_truth():
    images = np.arange(3000)
    correct = np.stack([(images % 10 < k + 4).astype(float) for k in range(5)])  # network k: 0.4 + 0.1 k per block
    loss = np.stack([np.full(3000, 2.0 - 0.3 * k) for k in range(5)])
    s = noise_summary(correct, loss, [0.80, 0.81, 0.83, 0.84, 0.86], block=1000)
    assert s["blocks"] == 3 and s["images"] == 3000 and s["networks"] == 5
    assert s["block_agreement"] == pytest.approx(1.0)
    assert s["tau_blocks"] == pytest.approx([1.0] * 3) and s["tau_top1_all"] == pytest.approx(1.0)
    assert s["tau_loss_all"] == pytest.approx(1.0)
    assert s["top1_range"] == pytest.approx([0.4, 0.8])


def test_networks_of_equal_accuracy_rank_by_the_images_drawn():
    rng = np.random.default_rng(0)
    correct = (rng.random((12, 10_000)) < 0.8).astype(float)  # every network 0.8: only the sample orders them
    s = noise_summary(correct, rng.random((12, 10_000)), list(np.linspace(0.8, 0.9, 12)), block=1000)
    assert s["blocks"] == 10 and abs(s["block_agreement"]) < 0.2
    assert abs(s["tau_blocks_mean"]) < 0.3


def test_the_truth_reversed_gives_minus_one_and_a_short_last_block_is_dropped():
    correct = np.stack([np.r_[np.ones(k * 100), np.zeros(1000 - k * 100)] for k in range(1, 5)])
    correct = np.concatenate([correct, correct, correct[:, :300]], axis=1)  # 2300 images: 2 blocks of 1000
    s = noise_summary(correct, np.zeros_like(correct), [0.9, 0.8, 0.7, 0.6], block=1000)
    assert s["blocks"] == 2 and s["tau_blocks"] == pytest.approx([-1.0, -1.0])
    with pytest.raises(ValueError, match="only 2300 validation images"):
        noise_summary(correct, correct, [0.9, 0.8, 0.7, 0.6], block=5000)


def test_the_report_names_the_replica_it_scored():
    setting = {"block_agreement": 0.9, "tau_blocks_mean": 0.4, "tau_blocks": [0.3, 0.5], "tau_top1_all": 0.45,
               "tau_top1_all_interval_90": (0.2, 0.6), "tau_loss_all": 0.4, "tau_loss_all_interval_90": (0.1, 0.6),
               "top1_range": [0.6, 0.8]}
    rep = {"run": "runs/x", "replica": 2, "supernet_sha256": "abcdef0123456789", "supernet_epochs": 8, "networks": 33,
           "images": 6000, "block": 1000, "search_val": 1000, "settings": {"8": setting}}
    text = render(rep)
    assert text.startswith("# Supernet score noise: runs/x, replica 2\n")
    assert "| re-estimated on 8 batches | 0.900 | 0.400 (0.300 to 0.500) | 0.450 (0.20 to 0.60) |" in text
    assert render({**rep, "replica": 0}).startswith("# Supernet score noise: runs/x\n")
