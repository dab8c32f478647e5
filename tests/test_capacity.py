"""``cnncalc solve batch`` (issue 24, item 2): the footprint is fixed + batch × per-sample
bytes exactly, the largest batch is solved from it, mixed precision and checkpointing
follow their written rules, and the executor confirms a boundary by allocation."""

from __future__ import annotations

import json
import re

import pytest

import cnncalc
from cnncalc.analysis.capacity import Settings, checkpointed, footprint, solve_batch, split
from cnncalc.analysis.memory import estimate
from cnncalc.measure.capacity import check_batch
from cnncalc.measure.memory import executor_estimate
from tests.conftest import ROOT, SPECS
from tests.test_cli import run

GIB = 2 ** 30

SETTINGS = [Settings(), Settings(train=True), Settings(train=True, optimizer="sgd", dtype="float16"),
            Settings(train=True, amp=True), Settings(train=True, checkpoint=2),
            Settings(train=True, amp=True, checkpoint=1), Settings(amp=True)]


@pytest.mark.parametrize("spec", ["resnet50", "vgg16_bn", "mobilenet_v2", "unet_padded",
                                  "densenet121", "efficientnet_b0"])
def test_every_part_is_fixed_plus_batch_times_per_sample(spec):
    # the closed form rests on this: checked at batches the split was not taken from
    net = cnncalc.load(SPECS / f"{spec}.yaml")
    for settings in SETTINGS:
        if settings.checkpoint is not None and not any(
                g.count(".") + 1 == settings.checkpoint for g in net.groups):
            continue
        # from a batch where the backward pass holds more than the optimizer step's
        # temporaries need (below it, VGG's 102,760,448-weight fc6 under Adam makes the step
        # the larger: a flat piece, which solve_batch steps over; test_flat_piece_* below)
        fixed, per = split(net, settings, at=64)
        for b in (65, 100, 256):
            at = footprint(net, b, settings)
            assert at.parts == tuple((k, f + b * p) for (k, f), (_, p) in zip(fixed.parts, per.parts)), \
                (spec, settings, b)


def test_resnet50_adam_in_24_gib():
    # torchvision's ResNet-50: 25,557,032 parameters, all trainable; batch norm's running
    # mean and variance: 2 × (64 + 3·(64+64+256) + 256 + 4·(128+128+512) + 512
    # + 6·(256+256+1024) + 1024 + 3·(512+512+2048) + 2048) = 53,120 buffers.
    # Fixed, float32: parameters, gradients and Adam's two states (4 tensors of 4 bytes a
    # parameter), the buffers, and batch norm's saved mean and inverse std (float32, one per
    # channel for the whole batch: as many as the buffers)
    net = cnncalc.load(SPECS / "resnet50.yaml")
    buffers = 2 * (64 + 3 * (64 + 64 + 256) + 256 + 4 * (128 + 128 + 512) + 512
                   + 6 * (256 + 256 + 1024) + 1024 + 3 * (512 + 512 + 2048) + 2048)
    assert buffers == 53_120
    fixed = 25_557_032 * 4 * 4 + buffers * 4 + buffers * 4
    # per sample: the memory model's own split (cnncalc.analysis.memory, whose rules
    # tests/test_memory.py and tests/test_memory_torch.py derive tensor by tensor). The
    # backward peak is the largest of lines, one per moment of the engine's walk: at batch 1
    # it is in layer4 (the 512x512x3x3 weight's copy and blocked gradient, fixed), at the
    # answer earlier (a fixed part of 131,072 B), so the solve takes the line of the answer
    sol = solve_batch(net, 24 * GIB, Settings(train=True, optimizer="adam"))
    at = estimate(net, 4, sol.batch, "adam").training
    # the memory model's fixed bytes leave out batch norm's saved statistics (saved_fixed)
    # and the backward peak's fixed part
    assert at.fixed_bytes + at.saved_fixed_bytes == fixed
    assert at.backward_fixed_bytes == 131_072
    fixed += at.backward_fixed_bytes
    per = at.per_sample_bytes
    assert (sol.fixed, sol.per_sample) == (fixed, per)
    assert sol.batch == (24 * GIB - fixed) // per
    assert sol.at.total == fixed + sol.batch * per <= 24 * GIB < sol.next.total
    assert sol.next.total == fixed + (sol.batch + 1) * per
    # and the same figure as the memory model's own total at that batch
    assert sol.at.total == estimate(net, 4, sol.batch, "adam").training.total_bytes


def test_amp_on_a_chain_written_out():
    # input 1x8 -> conv 4 (8 parameters) -> relu -> conv 2 (10 parameters); SGD, batch 1.
    # params float32 18·4 = 72; autocast's half copy of both convolutions' weights 18·2 = 36;
    # gradients float32 72. Saved at 2 bytes: conv1's input 8·2 = 16, relu's output (which
    # conv2 keeps too, stored once) 32·2 = 64. Backward (the output's gradient 16·2 = 32 held
    # through the pass by the caller): conv2 (1x1, slow_conv2d) allocates relu's output
    # gradient 64 and its weight's and bias's (10·2 = 20): 116; relu's threshold_backward
    # allocates conv1's output gradient 64 beside relu's: 32 + 64 + 64 = 160, the peak.
    net = cnncalc.loads("input: [1, 8]\nlayers:\n  - conv: {out_channels: 4, kernel_size: 1}\n"
                        "  - relu\n  - conv: {out_channels: 2, kernel_size: 1}\n", "c.yaml")
    f = footprint(net, 1, Settings(train=True, optimizer="sgd", amp=True))
    assert dict(f.parts) == {"params": 72, "half_weights": 36, "buffers": 0, "grads": 72,
                             "optimizer": 0, "saved": 16 + 64, "backward": 32 + 64 + 64, "step": 0}  # SGD: no step temporaries
    assert f.total == 72 + 36 + 72 + 80 + 160


TWO_BLOCKS = """input: [1, 8]
layers:
  - {conv: {out_channels: 4, kernel_size: 1}, name: stem}
  - {residual: {body: [{conv: {out_channels: 4, kernel_size: 1}}, relu]}, name: b1}
  - {residual: {body: [{conv: {out_channels: 4, kernel_size: 1}}, relu]}, name: b2}
"""


def test_checkpoint_per_block_written_out():
    # every activation 4x8 float32 = 128 B, the input 1x8 = 32 B; SGD, batch 1.
    # Without checkpointing the step saves: stem's input 32, b1.conv1's input (stem) 128,
    # b1.relu1's output 128, b2.conv1's input (b1.add1) 128, b2.relu1's output 128 = 544.
    # Checkpointing b1 and b2 (depth 1) keeps stem's 32 and each block's input: stem 128
    # and b1.add1 128 = 288; each block recomputes its relu's output (128) for its backward.
    # The backward walk (PyTorch's engine, docs/conventions.md "Memory"): the output's
    # gradient g (128, the caller's, held through the pass); b2.add1 hands g itself to b2's
    # relu and to b1.add1's buffer; b2.conv1 returns a new gradient for b1.add1, whose
    # buffer holds g, which the caller holds too: old + new, a new sum S (128). b1.add1
    # hands S to b1's relu and the stem; b1.relu1 allocates its input's gradient (128);
    # b1.conv1 (1x1, slow_conv2d) allocates its input's (128), weight's (16·4) and bias's
    # (4·4) gradients: 128 + 128 + 128 + 128 + 80 = 592, the plain step's peak; checkpointed,
    # b1's recomputed relu output (128) is live beside it: 720.
    net = cnncalc.loads(TWO_BLOCKS, "b.yaml")
    plain = footprint(net, 1, Settings(train=True, optimizer="sgd"))
    ckpt = footprint(net, 1, Settings(train=True, optimizer="sgd", checkpoint=1))
    assert (plain.part("saved"), plain.part("backward")) == (32 + 4 * 128, 4 * 128 + 80)
    assert (ckpt.part("kept"), ckpt.part("recompute")) == (32 + 2 * 128, 4 * 128 + 80 + 128)


@pytest.mark.parametrize("spec", ["resnet18", "mobilenet_v2", "vgg16"])
def test_checkpoint_with_no_block_is_the_plain_step(spec):
    # the checkpoint walk uses memory's saved tensors and backward walk (plus the kept block
    # inputs and recomputed tensors): with nothing checkpointed it gives the plain figures
    net = cnncalc.load(SPECS / f"{spec}.yaml")
    kept, peak = checkpointed(net, 4, 3, {n.name: None for n in net.nodes})
    t = estimate(net, 4, 3).training
    assert (kept, peak) == (t.saved_bytes, t.backward_peak_bytes)


def test_checkpointing_resnet50_bottlenecks_fits_more():
    net = cnncalc.load(SPECS / "resnet50.yaml")
    plain = solve_batch(net, 24 * GIB, Settings(train=True))
    ckpt = solve_batch(net, 24 * GIB, Settings(train=True, checkpoint=2))
    for part in ("params", "buffers", "grads", "optimizer"):  # what checkpointing leaves alone
        assert dict(ckpt.fixed_parts)[part] == dict(plain.fixed_parts)[part]
    assert ckpt.per_sample < plain.per_sample and ckpt.batch > plain.batch


def test_executor_confirms_the_boundary_on_a_small_net():
    # All-CNN-C at 32x32, one training step of the executor: the budget lies halfway between
    # its policy's estimates at batches 4 and 5; tracemalloc must measure batch 4 within it
    # and batch 5 above it
    net = cnncalc.load(SPECS / "allcnn_c.yaml")
    e4, e5 = executor_estimate(net, True, 4), executor_estimate(net, True, 5)
    budget = (e4 + e5) // 2
    c = check_batch(net, budget, train=True)
    assert c.batch == 4 and c.estimated == (e4, e5)
    assert c.measured[0] <= budget < c.measured[1]
    assert c.confirmed


def test_cli_answers_and_exit_codes(capsys):
    code, out, err = run(capsys, "solve", "batch", SPECS / "resnet50.yaml", "--memory", "24GiB",
                         "--train", "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["budget_bytes"] == 24 * GIB and doc["next"]["total_bytes"] > 24 * GIB
    assert doc["at"]["total_bytes"] == doc["fixed_bytes"] + doc["batch"] * doc["per_sample_bytes"]
    code, out, err = run(capsys, "solve", "batch", SPECS / "vgg16.yaml", "--memory", "24")
    assert code == 1 and "even batch 1 does not fit" in out and "write a unit" in out
    code, out, err = run(capsys, "solve", "batch", SPECS / "vgg16.yaml", "--memory", "24GB")
    assert code == 0 and "24GiB is 25,769,803,776 bytes" in out
    code, out, err = run(capsys, "solve", "batch", SPECS / "vgg16.yaml", "--memory", "24XB")
    assert code == 2 and "--memory '24XB' is not a size" in err and "Traceback" not in err
    code, out, err = run(capsys, "solve", "batch", SPECS / "vgg16.yaml", "--memory", "24GiB",
                         "--train", "--checkpoint", "2")
    assert code == 2 and "no block at depth 2" in err
    code, out, err = run(capsys, "solve", "batch", SPECS / "resnet18.yaml", "--memory", "24GiB",
                         "--amp", "--dtype", "float16")
    assert code == 2 and "--amp keeps float32 master weights" in err


@pytest.mark.parametrize("policy", ["eager", "graph"])
@pytest.mark.parametrize("spec", ["resnet18", "densenet121", "unet_padded"])
def test_inference_follows_the_memory_policy(policy, spec):
    # inference: parameters and buffers, plus the policy's inference peak. Under the graph
    # policy the peak is one line in the batch; under the eager policy the largest of
    # several (batch-independent kernel temporaries beside per-sample tensors), solved
    # piece by piece. The footprint only grows with the batch, so fitting at the batch found
    # and not at the next proves it the largest, for any budget.
    net = cnncalc.load(SPECS / f"{spec}.yaml")

    def total(b):
        mem = estimate(net, 4, b, policy=policy)
        return mem.param_bytes + mem.buffer_bytes + mem.inference_peak_bytes

    for budget in (total(1) - 1, total(1), total(3) + 1, 2 * GIB, 24 * GIB):
        sol = solve_batch(net, budget, Settings(policy=policy))
        assert sol.next.total == total(sol.batch + 1) > budget
        if sol.batch:
            assert sol.at.total == total(sol.batch) <= budget
            # the split is the line through the answer and the next batch
            assert sol.at.total == sol.fixed + sol.batch * sol.per_sample
            assert sol.next.total == sol.fixed + (sol.batch + 1) * sol.per_sample
        else:
            assert budget < total(1)
    if policy == "graph":  # one line: the split at batch 1 holds everywhere
        fixed, per = split(net, Settings(policy=policy))
        assert total(50) == fixed.total + 50 * per.total


def test_planning_md_table_is_what_solve_batch_answers():
    # docs/planning.md's table of ResNet-50 in 24 GiB, row by row, against the solve
    text = (ROOT / "docs" / "planning.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (.+?) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|$", text, flags=re.M)
    net = cnncalc.load(SPECS / "resnet50.yaml")
    assert len(rows) == 6
    for label, fixed, per, batch in rows:
        settings = Settings(train="--train" in label, amp="--amp" in label,
                            checkpoint=2 if "--checkpoint 2" in label else None,
                            policy="eager" if "eager" in label else "graph")
        sol = solve_batch(net, 24 * GIB, settings)
        assert (sol.fixed, sol.per_sample, sol.batch) == tuple(
            int(v.replace(",", "")) for v in (fixed, per, batch)), label


def test_flat_piece_where_the_optimizer_step_outweighs_the_backward_pass():
    # VGG-16 with Adam, float32: the step's temporaries are 2 x its largest weight
    # (fc6: 4096 x 25088 = 102,760,448 elements, 4 bytes): 822,083,584 bytes
    # (cnncalc.analysis.memory, docs/conventions.md "Memory"); below the batch where saved
    # tensors + backward peak exceed that, the footprint is flat at fixed + step
    net = cnncalc.load(SPECS / "vgg16.yaml")
    settings = Settings(train=True, optimizer="adam")
    step = 2 * 4096 * 25088 * 4
    one, two = footprint(net, 1, settings), footprint(net, 2, settings)
    assert one.total == two.total  # flat
    walk = one.part("saved") + one.part("backward")
    assert one.part("step") == step - walk > 0
    assert one.total == estimate(net, 4, 1, "adam").training.total_bytes
    # a budget on the flat piece: the answer lies past the bend, and fits
    sol = solve_batch(net, one.total + 10 * (2 ** 20) + 4 * 10 ** 8, settings)
    assert sol.at.total <= sol.budget < sol.next.total
    assert sol.batch >= 1
    # a budget below the flat piece: nothing fits
    assert solve_batch(net, one.total - 1, settings).batch == 0
