"""Model builders: parameter counts pinned to their references, shapes, the ``output`` layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optbench.tasks import models
from optbench.tasks.text import MAX_LEN, MAX_VOCAB

MNIST, CIFAR = (1, 28, 28), (3, 32, 32)

# builder, input shape, classes, exact parameter count
COUNTS = [
    ("digits_mlp", (64,), 10, 9_610),  # 64*128+128 + 128*10+10
    ("nn2", MNIST, 10, 795_010),  # 784*1000+1000 + 1000*10+10
    ("nn3", MNIST, 10, 1_796_010),  # + 1000*1000+1000
    ("lenet4", MNIST, 10, 51_050),
    ("vgg9", MNIST, 10, 2_574_314),
    ("tabular_mlp", (4,), 3, 4_675),  # iris: 4*64+64 + 64*64+64 + 64*3+3
    ("tabular_mlp", (13,), 3, 5_251),  # wine
    ("resnet20", CIFAR, 10, 269_722),  # He et al. 2016: 0.27 M
    ("resnet20", CIFAR, 100, 275_572),
    ("resnet18", CIFAR, 10, 11_173_962),  # the usual CIFAR ResNet-18: 11.17 M
    ("vgg19", CIFAR, 10, 20_035_018),  # configuration E with BN, no bias in convolutions
    ("lstm_classifier", (MAX_LEN,), 2, 2_692_354),  # 20000*128 + 4*(128*128*2+2*128) + 258
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def sample(shape: tuple[int, ...], batch: int) -> torch.Tensor:
    if len(shape) == 1 and shape[0] == MAX_LEN:  # word ids
        return torch.randint(0, MAX_VOCAB, (batch, *shape))
    return torch.randn(batch, *shape)


@pytest.mark.parametrize(("builder", "shape", "classes", "count"), COUNTS)
def test_parameter_count_forward_and_output_layer(builder, shape, classes, count):
    torch.manual_seed(0)
    model = getattr(models, builder)(shape, classes)
    assert n_params(model) == count
    assert isinstance(model.output, nn.Linear) and model.output.out_features == classes
    assert any(name.startswith("output.") for name, _ in model.named_parameters())
    out = model(sample(shape, 3))
    assert out.shape == (3, classes) and torch.isfinite(out).all()


def test_resnet20_is_the_027m_cifar_resnet_with_parameter_free_shortcuts():
    model = models.resnet20(CIFAR, 10)
    assert 260_000 <= n_params(model) <= 280_000
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 19  # + the output layer = 20 weight layers
    assert {m.out_channels for m in convs} == {16, 32, 64}


def test_wrn28_10_has_36_5m_parameters():
    model = models.wrn28_10(CIFAR, 10)
    assert n_params(model) == 36_479_194
    assert isinstance(model.output, nn.Linear) and model.output.in_features == 640
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, *CIFAR)).shape == (1, 10)


@pytest.mark.parametrize("builder", ["lenet4", "vgg9", "resnet20", "nn3"])
@pytest.mark.parametrize("shape", [MNIST, CIFAR, (3, 28, 28)])
def test_image_models_take_28_and_32_pixel_inputs(builder, shape):
    model = getattr(models, builder)(shape, 10)
    assert model(torch.randn(2, *shape)).shape == (2, 10)


def test_lstm_ignores_leading_padding_in_its_embedding():
    model = models.lstm_classifier((MAX_LEN,), 2)
    assert model.embedding.num_embeddings == MAX_VOCAB and model.embedding.embedding_dim == 128
    assert torch.equal(model.embedding.weight[0], torch.zeros(128))  # PAD row
