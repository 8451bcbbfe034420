"""Model builders: layer counts, widths and parameter counts pinned to the papers' text
(and to the references they cite), the ``output`` layer, and which models can stack.

Large models are built on torch's meta device: shapes and parameter counts without
allocating or initializing any weight, so the whole file takes a few seconds.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optbench.tasks import models
from optbench.tasks.models.convnets import FractionalMaxPool
from optbench.tasks.registry import TASKS, build_model
from optbench.tasks.text import MAX_LEN, MAX_VOCAB

MNIST, CIFAR = (1, 28, 28), (3, 32, 32)

# builder, input shape, classes, parameters, Conv2d layers, Linear layers
COUNTS = [
    ("digits_mlp", (64,), 10, 9_610, 0, 2),  # 64*128+128 + 128*10+10
    ("nn2", MNIST, 10, 1_796_010, 0, 3),  # 784*1000+1000 + 1000*1000+1000 + 1000*10+10
    ("nn3", MNIST, 10, 2_797_010, 0, 4),  # + 1000*1000+1000
    ("lenet4", MNIST, 10, 51_050, 2, 2),
    ("vgg9", MNIST, 10, 2_574_314, 6, 3),
    # 4*32+32 + 32*64+64 + 64*256+256 + 256*128+128 + 128*3+3 + 2 PReLU slopes
    ("dsa_mlp", (4,), 3, 52_197, 0, 5),
    ("dsa_mlp", (13,), 3, 52_485, 0, 5),  # WINE
    ("dsa_mlp", (6,), 4, 52_390, 0, 5),  # CAR
    ("dsa_mlp", (116,), 2, 55_652, 0, 5),  # AGARICUS
    ("mix_mlp", MNIST, 10, 109_386, 0, 3),  # 784*128+128 + 128*64+64 + 64*10+10
    ("lenet5", MNIST, 10, 61_706, 2, 3),
    ("lenet5", CIFAR, 10, 62_006, 2, 3),  # PyTorch's CIFAR-10 tutorial net: 62,006
    ("lenet5", CIFAR, 100, 69_656, 2, 3),
    ("fmp", MNIST, 10, 653_776, 6, 1),
    ("fmp", CIFAR, 10, 654_352, 6, 1),
    ("fmp", CIFAR, 100, 723_562, 6, 1),
    ("resnet20", CIFAR, 10, 269_722, 19, 1),  # He et al. 2016: 0.27 M
    ("resnet20", CIFAR, 100, 275_572, 19, 1),
    ("resnet18", CIFAR, 10, 11_173_962, 20, 1),  # the CIFAR ResNet-18: 11.17 M
    ("resnet18", CIFAR, 100, 11_220_132, 20, 1),
    ("resnet34", CIFAR, 10, 21_282_122, 36, 1),  # 21.28 M
    ("resnet34", CIFAR, 100, 21_328_292, 36, 1),
    ("resnet50", CIFAR, 10, 23_520_842, 53, 1),  # 23.52 M
    ("resnet50", CIFAR, 100, 23_705_252, 53, 1),
    ("densenet121", CIFAR, 10, 6_956_426, 120, 1),  # 6.96 M
    ("densenet121", CIFAR, 100, 7_048_676, 120, 1),
    ("googlenet", CIFAR, 10, 5_602_474, 57, 1),
    ("googlenet", CIFAR, 100, 5_694_724, 57, 1),
    ("vgg19", CIFAR, 10, 20_035_018, 16, 1),  # configuration E with BN, no conv bias
    ("vgg19", CIFAR, 100, 20_081_188, 16, 1),
    ("cnn13", CIFAR, 10, 3_121_802, 9, 1),
    ("cnn13", CIFAR, 100, 3_133_412, 9, 1),
    ("wrn28_10", CIFAR, 10, 36_479_194, 28, 1),  # Zagoruyko & Komodakis: 36.5 M
    ("wrn28_10", CIFAR, 100, 36_536_884, 28, 1),
    ("lstm_classifier", (MAX_LEN,), 2, 2_692_354, 0, 1),  # 20000*128 + LSTM + 258
]
SMALL = {"digits_mlp", "nn2", "nn3", "lenet4", "vgg9", "dsa_mlp", "mix_mlp", "lenet5", "fmp"}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def on_meta(builder: str, shape: tuple[int, ...], classes: int) -> nn.Module:
    with torch.device("meta"):
        return getattr(models, builder)(shape, classes)


def sample(shape: tuple[int, ...], batch: int, device: str = "cpu") -> torch.Tensor:
    if len(shape) == 1 and shape[0] == MAX_LEN:  # word ids
        return torch.randint(0, MAX_VOCAB, (batch, *shape), device=device)
    return torch.randn(batch, *shape, device=device)


@pytest.mark.parametrize(("builder", "shape", "classes", "params", "convs", "linears"), COUNTS)
def test_parameter_and_layer_counts_and_the_output_layer(
    builder, shape, classes, params, convs, linears
):
    model = on_meta(builder, shape, classes)
    assert n_params(model) == params
    assert count(model, nn.Conv2d) == convs and count(model, nn.Linear) == linears
    assert isinstance(model.output, nn.Linear) and model.output.out_features == classes
    names = [name for name, _ in model.named_parameters()]
    assert names[-2:] == ["output.weight", "output.bias"]  # the last layer is ``output``
    assert model(sample(shape, 2, "meta")).shape == (2, classes)


@pytest.mark.parametrize(
    ("builder", "shape", "classes"), sorted({(b, s, c) for b, s, c, *_ in COUNTS if b in SMALL})
)
def test_small_models_run_on_real_tensors(builder, shape, classes):
    torch.manual_seed(0)
    model = getattr(models, builder)(shape, classes)
    out = model(sample(shape, 3))
    assert out.shape == (3, classes) and torch.isfinite(out).all()


def linear_widths(model: nn.Module) -> list[int]:
    return [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]


def test_ann_nn2_and_nn3_have_two_and_three_hidden_layers():
    assert linear_widths(models.nn2(MNIST, 10)) == [1000, 1000, 10]
    assert linear_widths(models.nn3(MNIST, 10)) == [1000, 1000, 1000, 10]


def test_dsa_mlp_is_the_papers_widths_activations_and_log_softmax():
    model = models.dsa_mlp((4,), 3)
    assert linear_widths(model) == [32, 64, 256, 128, 3]
    acts = [type(m) for n, m in model.named_children() if n.startswith("act")]
    assert acts == [nn.Sigmoid, nn.PReLU, nn.Sigmoid, nn.PReLU]
    out = model(torch.randn(5, 4))
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(5))  # log-probabilities
    # cross-entropy on log-probabilities is the paper's NLL: log_softmax is idempotent
    y = torch.tensor([0, 1, 2, 0, 1])
    assert torch.allclose(nn.functional.cross_entropy(out, y), nn.functional.nll_loss(out, y))


def test_mix_mlp_layers_are_selectable_by_name():
    model = models.mix_mlp(MNIST, 10)
    names = [n for n, _ in model.named_parameters()]
    assert names == [
        f"{layer}.{p}" for layer in ("fc1", "fc2", "output") for p in ("weight", "bias")
    ]
    assert linear_widths(model) == [128, 64, 10]


def test_lenet5_takes_28_and_32_pixel_images_into_the_same_16x5x5_features():
    for shape in (MNIST, CIFAR, (3, 28, 28)):
        model = models.lenet5(shape, 10)
        assert [model.conv1.out_channels, model.conv2.out_channels] == [6, 16]
        assert model.fc1.in_features == 400 and linear_widths(model) == [120, 84, 10]
        assert model(torch.randn(2, *shape)).shape == (2, 10)


def test_cnn13_is_the_13_layer_net_of_laine_and_aila():
    model = models.cnn13(CIFAR, 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [128] * 3 + [256] * 3 + [512, 256, 128]
    assert [c.kernel_size[0] for c in convs] == [3] * 7 + [1, 1]
    assert convs[6].padding == (0, 0)  # 8x8 -> 6x6 before the global pooling
    assert count(model, nn.BatchNorm2d) == 9 and count(model, nn.MaxPool2d) == 2
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    assert {m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)} == {0.1}
    assert model.output.in_features == 128


@pytest.mark.parametrize("shape", [MNIST, CIFAR])
def test_fmp_has_six_blocks_ending_at_2x2(shape):
    model = models.fmp(shape, 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 96, 128, 160, 192]
    assert count(model, FractionalMaxPool) == 6 and count(model, nn.PReLU) == 6
    assert model.output.in_features == 192 * 2 * 2
    assert model.features(torch.randn(1, *shape)).shape == (1, 192, 2, 2)


def test_fmp_pools_at_random_in_training_and_on_a_fixed_grid_in_evaluation():
    model = models.fmp(CIFAR, 10)
    x = torch.randn(4, *CIFAR)
    torch.manual_seed(1)
    first = model(x)
    assert not torch.equal(first, model(x))  # new regions every call
    torch.manual_seed(1)
    assert torch.equal(first, model(x))  # ... drawn from the global generator
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize(
    ("builder", "blocks"), [("resnet34", [3, 4, 6, 3]), ("resnet50", [3, 4, 6, 3])]
)
def test_torchvision_resnets_have_a_cifar_stem(builder, blocks):
    model = on_meta(builder, CIFAR, 10)
    body = model.body
    assert body.conv1.kernel_size == (3, 3) and body.conv1.stride == (1, 1)
    assert isinstance(body.maxpool, nn.Identity) and isinstance(body.fc, nn.Identity)
    assert [len(getattr(body, f"layer{i}")) for i in range(1, 5)] == blocks
    kind = "Bottleneck" if builder == "resnet50" else "BasicBlock"
    assert type(body.layer1[0]).__name__ == kind


def test_densenet121_and_googlenet_have_a_cifar_stem():
    dense = on_meta("densenet121", CIFAR, 10).body
    assert dense.features.conv0.kernel_size == (3, 3) and dense.features.conv0.stride == (1, 1)
    assert isinstance(dense.features.pool0, nn.Identity)
    blocks = [len(getattr(dense.features, f"denseblock{i}")) for i in range(1, 5)]
    assert blocks == [6, 12, 24, 16]
    google = on_meta("googlenet", CIFAR, 10).body
    assert google.conv1.conv.kernel_size == (3, 3) and google.conv1.conv.stride == (1, 1)
    assert isinstance(google.maxpool1, nn.Identity) and isinstance(google.maxpool2, nn.Identity)
    assert google.aux1 is None and google.aux2 is None and google.dropout.p == 0.2


def test_resnet20_is_the_027m_cifar_resnet_with_parameter_free_shortcuts():
    model = models.resnet20(CIFAR, 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 19  # + the output layer = 20 weight layers
    assert {m.out_channels for m in convs} == {16, 32, 64}


@pytest.mark.parametrize("builder", ["lenet4", "vgg9", "resnet20", "nn3", "lenet5", "fmp"])
@pytest.mark.parametrize("shape", [MNIST, CIFAR, (3, 28, 28)])
def test_image_models_take_28_and_32_pixel_inputs(builder, shape):
    model = on_meta(builder, shape, 10)
    assert model(torch.empty(2, *shape, device="meta")).shape == (2, 10)


def test_lstm_ignores_leading_padding_in_its_embedding():
    model = models.lstm_classifier((MAX_LEN,), 2)
    assert model.embedding.num_embeddings == MAX_VOCAB and model.embedding.embedding_dim == 128
    assert torch.equal(model.embedding.weight[0], torch.zeros(128))  # PAD row


SHAPES = {  # each dataset's input shape and classes
    "mnist": (MNIST, 10), "fashion-mnist": (MNIST, 10), "cifar10": (CIFAR, 10),
    "cifar100": (CIFAR, 100), "svhn": (CIFAR, 10), "digits": ((64,), 10), "iris": ((4,), 3),
    "wine": ((13,), 3), "car": ((6,), 4), "agaricus": ((116,), 2), "imdb": ((MAX_LEN,), 2),
}  # fmt: skip
RANDOM = (nn.Dropout, nn.FractionalMaxPool2d)  # modules that draw from the global RNG


@pytest.mark.parametrize("name", sorted(n for n, t in TASKS.items() if t.kind == "classify"))
def test_a_task_stacks_exactly_when_its_model_has_no_randomness_and_no_recurrence(name):
    task = TASKS[name]
    shape, classes = SHAPES[task.dataset]
    with torch.device("meta"):
        model = build_model(task)(shape, classes)
    random = any(isinstance(m, RANDOM) and getattr(m, "p", 1) > 0 for m in model.modules())
    recurrent = any(isinstance(m, nn.RNNBase) for m in model.modules())
    assert task.stacks is not (random or recurrent)
