"""Residual nets for 32x32 images written here: ResNet-20 [MS] and WRN-28-10 [PWA].

ResNet-20 is the CIFAR network of He et al. 2016 ("Deep residual learning for image
recognition", §4.2): a 3x3 convolution with 16 channels, three stages of n = 3 basic
blocks with 16, 32 and 64 channels (stride 2 entering stages 2 and 3), global average
pooling and the ``output`` layer; 6n + 2 = 20 weight layers. Shortcuts are option A:
identity, subsampled and zero-padded in channels where the shape changes, so they carry
no parameters (about 0.27 M parameters in all).

(ResNet-18/34/50 are torchvision's, adapted in ``torchvision_cifar``.)

WRN-28-10 is the wide residual net of Zagoruyko & Komodakis 2016 ("Wide residual
networks"): pre-activation basic blocks (BN-ReLU-conv3x3 twice), depth 28 = 6n + 4
with n = 4 blocks per stage, widths 16·10, 32·10, 64·10, 1x1 convolution shortcuts where
the shape changes (about 36.5 M parameters). Dropout between the convolutions is 0 (an
option takes the WRN paper's 0.3): [PWA] mentions none, and its SGD error on CIFAR-10
(4.07%) is the WRN paper's without dropout (4.17%), not with it (3.89%).
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional


def _init(model: nn.Module) -> nn.Module:
    """He initialization of convolutions (He et al. 2015), as the ResNet papers use."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


class PadShortcut(nn.Module):
    """Option A shortcut: take every other pixel and zero-pad the new channels."""

    def __init__(self, extra_channels: int) -> None:
        super().__init__()
        self.extra = extra_channels

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, ::2, ::2]
        return functional.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU (He et al. 2016)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        changes = stride != 1 or cin != cout
        self.shortcut = PadShortcut(cout - cin) if changes else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = functional.relu(self.bn1(self.conv1(x)))
        return functional.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet(nn.Module):
    """He et al.'s CIFAR ResNet with 6n + 2 layers (n = 3: ResNet-20)."""

    def __init__(self, in_channels: int, num_classes: int, blocks_per_stage: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        layers: list[nn.Module] = []
        cin = 16
        for stage, cout in enumerate((16, 32, 64)):
            for b in range(blocks_per_stage):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        self.stages = nn.Sequential(*layers)
        self.output = nn.Linear(64, num_classes)
        _init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stages(self.stem(x))
        return self.output(functional.adaptive_avg_pool2d(x, 1).flatten(1))


class WideBlock(nn.Module):
    """Pre-activation wide basic block: BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        changes = stride != 1 or cin != cout
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False) if changes else None

    def forward(self, x: Tensor) -> Tensor:
        pre = functional.relu(self.bn1(x))
        out = self.conv2(self.dropout(functional.relu(self.bn2(self.conv1(pre)))))
        # Where the shape changes the shortcut also starts from the pre-activation.
        return out + (self.shortcut(pre) if self.shortcut is not None else x)


class WideResNet(nn.Module):
    """WRN-depth-k of Zagoruyko & Komodakis 2016 for 32x32 images."""

    def __init__(
        self, in_channels: int, num_classes: int, depth: int = 28, k: int = 10, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        self.stem = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        layers: list[nn.Module] = []
        cin = 16
        for stage, cout in enumerate((16 * k, 32 * k, 64 * k)):
            for b in range(n):
                layers.append(WideBlock(cin, cout, 2 if stage > 0 and b == 0 else 1, dropout))
                cin = cout
        self.stages = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(cin)
        self.output = nn.Linear(cin, num_classes)
        _init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = functional.relu(self.bn(self.stages(self.stem(x))))
        return self.output(functional.adaptive_avg_pool2d(x, 1).flatten(1))


def resnet20(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[MS] ResNet-20 (He et al. 2016, CIFAR variant, option A shortcuts)."""
    return CifarResNet(input_shape[0], num_classes, blocks_per_stage=3)


def wrn28_10(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[PWA] WRN-28-10 (Zagoruyko & Komodakis 2016), dropout 0."""
    return WideResNet(input_shape[0], num_classes, depth=28, k=10)
