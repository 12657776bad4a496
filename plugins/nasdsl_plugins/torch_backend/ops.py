"""PyTorch implementations of the language's primitive ops.

One factory per base op of :mod:`nasdsl.primitives`:
``factory(args, in_shape) -> nn.Module``, where ``args`` is the resolved
argument dict that ``primitives.bind`` returns and ``in_shape`` is the input's
shape without the batch dimension (``(C, H, W)`` or ``(C,)``).  Every module's
output shape equals ``primitives.infer`` for that input ("same" padding: a
stride ``s`` gives ``ceil(H / s) x ceil(W / s)``, odd sizes included).

The DARTS ops follow the DARTS release (convs without bias, affine batch norm,
ReLU before the convs), so a DARTS_V2 CIFAR-10 network built from them has the
published parameter count.  Every module is TorchScript-scriptable and
ONNX-exportable: no data-dependent Python control flow, typed ``forward``s.

Sequences: an op on a sequence gets ``in_shape = (T, D)`` and a batched
``(N, T, D)`` tensor; ``linear``, ``mlp`` and ``tokens`` act on the last dim,
``multihead_attention`` mixes the tokens, ``seq_mean_pool`` averages them away.
``layernorm`` normalises the last dim of ``(N, C)`` / ``(N, T, D)`` and the
channels at each position of ``(N, C, H, W)`` (ConvNeXt's channels-first form).

The NAS-Bench-Graph ops (gat, gcn, ..., declared by that plugin) have no implementation here.
"""

from __future__ import annotations

from typing import Any, Callable, List, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from nasdsl.primitives import SAME

Shape = tuple[int, ...]  # without the batch dimension
Factory = Callable[[Mapping[str, Any], Shape], nn.Module]


# ----------------------------------------------------------------------------- argument helpers


def _spatial(op: str, in_shape: Shape) -> tuple[int, int, int]:
    """(C, H, W) of ``in_shape``, or a ValueError in words."""
    if len(in_shape) != 3:
        raise ValueError(f"op '{op}' needs a [C, H, W] input; got {list(in_shape)}")
    c, h, w = (int(v) for v in in_shape)
    return c, h, w


def _channels(args: Mapping[str, Any], in_shape: Shape) -> int:
    """The output channels: ``args['channels']``, or the input's when absent or 'same'."""
    c = args.get("channels", SAME)
    if c is None or c == SAME:
        return int(in_shape[0])
    return int(c)


def _int(args: Mapping[str, Any], name: str, default: int) -> int:
    v = args.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"argument '{name}' must be a positive integer; got {v!r}")
    return v


def _same_pad(k: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding so a k x k window (with dilation) at stride s gives ceil(H / s).

    The total is ``dilation * (k - 1)``: symmetric for odd kernels, one more after for even ones.
    """
    total = dilation * (k - 1)
    return total // 2, total - total // 2


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, dilation: int = 1, groups: int = 1,
          kw: int | None = None) -> nn.Module:
    """A bias-free k x k (or k x kw) Conv2d with "same" padding (dilation * (k - 1) // 2 each side for odd kernels).

    An even effective kernel needs one more row and column of zeros after; a ZeroPad2d does that.
    """
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide both the input channels ({c_in}) "
                         f"and the output channels ({c_out})")
    if kw is None or kw == k:
        before, after = _same_pad(k, dilation)
        if before == after:
            return nn.Conv2d(c_in, c_out, k, stride=stride, padding=before, dilation=dilation, groups=groups, bias=False)
        return nn.Sequential(
            nn.ZeroPad2d((before, after, before, after)),
            nn.Conv2d(c_in, c_out, k, stride=stride, padding=0, dilation=dilation, groups=groups, bias=False),
        )
    (top, bottom), (left, right) = _same_pad(k, dilation), _same_pad(kw, dilation)
    if top == bottom and left == right:
        return nn.Conv2d(c_in, c_out, (k, kw), stride=stride, padding=(top, left), dilation=dilation, groups=groups,
                         bias=False)
    return nn.Sequential(
        nn.ZeroPad2d((left, right, top, bottom)),
        nn.Conv2d(c_in, c_out, (k, kw), stride=stride, padding=0, dilation=dilation, groups=groups, bias=False),
    )


# ----------------------------------------------------------------------------- modules


class ReLUConvBN(nn.Module):
    """ReLU, k x k conv, BN (DARTS preprocessing; NAS-Bench-201 nor_conv)."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, dilation: int = 1):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False), _conv(c_in, c_out, k, stride, dilation), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU, depthwise k x k (dilated, strided), 1x1 pointwise, BN (DARTS dil_conv; ENAS separable branch)."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, dilation: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            _conv(c_in, c_in, k, stride, dilation, groups=c_in),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """DARTS separable conv: (ReLU, depthwise k x k, 1x1, BN) twice; the stride is in the first depthwise conv only."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            _conv(c_in, c_in, k, stride, groups=c_in),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=False),
            _conv(c_in, c_in, k, 1, groups=c_in),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """ReLU, two 1x1 stride-2 convs to C_out / 2 (on x and on x shifted by one pixel), concat, BN.

    The input is padded by one zero row and column at the bottom and right before the shift,
    so an odd H (or W) gives ceil(H / 2) from both branches; for an even H the padding is
    never read and the op is exactly DARTS'.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"factorized_reduce needs an even number of output channels "
                             f"(it concatenates two halves of C_out / 2); got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, [0, 1, 0, 1])[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class Zero(nn.Module):
    """The zero op: zeros of the output shape (stride s subsamples H and W; the channels may change)."""

    def __init__(self, c_in: int, c_out: int, stride: int, rank: int):
        super().__init__()
        self.c_in = c_in
        self.c_out = c_out
        self.stride = stride
        self.rank = rank  # of the batched tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.c_out == self.c_in:
            return x.mul(0.0)
        repeats: List[int] = [1] * self.rank
        repeats[1] = self.c_out
        # keep the result attached to x (zero gradients) rather than a free-standing constant
        return x[:, :1].mul(0.0).repeat(repeats)


class MaxPoolSame(nn.Module):
    """Max pooling with "same" padding; an even kernel gets its extra row/column of -inf after."""

    def __init__(self, k: int, stride: int):
        super().__init__()
        before, after = _same_pad(k)
        self.pad = [before, after, before, after]
        self.pool = nn.MaxPool2d(k, stride=stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.pad(x, self.pad, mode="constant", value=float("-inf")))


class AvgPoolSame(nn.Module):
    """Average pooling with "same" padding for an even kernel, padding not counted.

    The padded sum over each window is divided by the number of real pixels in it (the
    same pooling over a padded map of ones), which is what ``count_include_pad=False`` does.
    """

    def __init__(self, k: int, stride: int):
        super().__init__()
        before, after = _same_pad(k)
        self.pad = [before, after, before, after]
        self.pool = nn.AvgPool2d(k, stride=stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = self.pool(F.pad(x, self.pad))
        count = self.pool(F.pad(torch.ones_like(x[:, :1]), self.pad))
        return total / count


class MBConv(nn.Module):
    """MobileNetV2 inverted residual without its shortcut (the .nas space adds the residual):
    1x1 expand to C_in * e + BN + ReLU6 (omitted when e == 1), depthwise k x k + BN + ReLU6,
    1x1 project + BN."""

    def __init__(self, c_in: int, c_out: int, k: int, e: int, stride: int):
        super().__init__()
        hidden = c_in * e
        layers: list[nn.Module] = []
        if e != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=False)]
        layers += [
            _conv(hidden, hidden, k, stride, groups=hidden), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=False),
            nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
        ]
        self.op = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ResNetBlock(nn.Module):
    """NAS-Bench-201's ResNet basic block: b(a(x)) + shortcut(x).

    a = ReLUConvBN 3x3 at the stride, b = ReLUConvBN 3x3; the shortcut is AvgPool(s, s) then a
    1x1 conv when strided (ceil_mode, so odd sizes match a's ceil(H / s)), a ReLUConvBN 1x1 when
    only the channels change, the identity otherwise.
    """

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        downsample: nn.Module
        if stride > 1:
            downsample = nn.Sequential(
                nn.AvgPool2d(stride, stride=stride, padding=0, ceil_mode=True),
                nn.Conv2d(c_in, c_out, 1, bias=False),
            )
        elif c_in != c_out:
            downsample = ReLUConvBN(c_in, c_out, 1, 1)
        else:
            downsample = nn.Identity()
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


class GlobalAvgPool(nn.Module):
    """(N, C, H, W) -> (N, C)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(x), 1)


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channels at each position of (N, C, H, W) (ConvNeXt's channels-first form)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): x * sigmoid(W2 relu(W1 mean_hw(x))), W1: C -> hidden, W2: hidden -> C."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, hidden, 1, bias=True)
        self.expand = nn.Conv2d(hidden, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(F.relu(self.reduce(s))))


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle: view the channels as (groups, C / groups), transpose, flatten."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], x.shape[1]
        return x.reshape(n, self.groups, c // self.groups, -1).transpose(1, 2).reshape(x.shape)


class PatchEmbed(nn.Module):
    """(N, C, H, W) -> (N, H/p * W/p, dim): a p x p stride-p conv, then one token per patch, row-major."""

    def __init__(self, c_in: int, dim: int, patch: int):
        super().__init__()
        self.proj = nn.Conv2d(c_in, dim, patch, stride=patch, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class SelfAttention(nn.Module):
    """Multi-head self-attention on (N, T, D): q, k, v = one linear D -> 3 * dim, ``heads`` heads of dim / heads,
    softmax(q k^T / sqrt(dim / heads)) v, heads concatenated, output linear dim -> dim."""

    slice_chunks = {"qkv.weight": 3, "qkv.bias": 3}  # q, k and v rows stacked: a narrower one keeps each one's prefix

    def __init__(self, d_in: int, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"multihead_attention: dim {dim} is not divisible by heads={heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = float(self.head_dim) ** -0.5
        self.qkv = nn.Linear(d_in, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[0], x.shape[1]
        qkv = self.qkv(x).reshape(n, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (N, heads, T, head_dim)
        att = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
        out = torch.matmul(att, v).transpose(1, 2).reshape(n, t, self.heads * self.head_dim)
        return self.proj(out)


class TokenMean(nn.Module):
    """(N, T, D) -> (N, D): the mean over the tokens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


# ----------------------------------------------------------------------------- factories


def conv(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c, _, _ = _spatial("conv", in_shape)
    k = _int(args, "k", 3)
    return _conv(c, _channels(args, in_shape), _int(args, "kh", k), _int(args, "stride", 1),
                 _int(args, "dilation", 1), _int(args, "groups", 1), kw=_int(args, "kw", k))


def conv_bn_relu(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c, _, _ = _spatial("conv_bn_relu", in_shape)
    c_out = _channels(args, in_shape)
    return nn.Sequential(_conv(c, c_out, _int(args, "k", 3), _int(args, "stride", 1)),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=False))


def relu_conv_bn(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c, _, _ = _spatial("relu_conv_bn", in_shape)
    return ReLUConvBN(c, _channels(args, in_shape), _int(args, "k", 1), _int(args, "stride", 1))


def sep_conv(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c, _, _ = _spatial("sep_conv", in_shape)
    return SepConv(c, _channels(args, in_shape), _int(args, "k", 3), _int(args, "stride", 1))


def dil_conv(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c, _, _ = _spatial("dil_conv", in_shape)
    return DilConv(c, _channels(args, in_shape), _int(args, "k", 3), _int(args, "stride", 1),
                   _int(args, "dilation", 2))


def dw_conv(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c, _, _ = _spatial("dw_conv", in_shape)
    if _channels(args, in_shape) != c:
        raise ValueError("a depthwise conv keeps its channels")
    return nn.Sequential(_conv(c, c, _int(args, "k", 3), _int(args, "stride", 1), groups=c),
                         nn.BatchNorm2d(c), nn.ReLU(inplace=False))


def _factorized_conv(op: str, n: int, args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    """ReLU, 1 x n conv (stride (1, s)), n x 1 conv (stride (s, 1)), BN; n odd."""
    c, _, _ = _spatial(op, in_shape)
    c_out = _channels(args, in_shape)
    s = _int(args, "stride", 1)
    p = n // 2
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c_out, (1, n), stride=(1, s), padding=(0, p), bias=False),
        nn.Conv2d(c_out, c_out, (n, 1), stride=(s, 1), padding=(p, 0), bias=False),
        nn.BatchNorm2d(c_out),
    )


def conv_7x1_1x7(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    return _factorized_conv("conv_7x1_1x7", 7, args, in_shape)


def conv_3x1_1x3(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    return _factorized_conv("conv_3x1_1x3", 3, args, in_shape)


def enas_conv(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c, _, _ = _spatial("enas_conv", in_shape)
    return ReLUConvBN(c, _channels(args, in_shape), _int(args, "k", 3), _int(args, "stride", 1))


def enas_sep_conv(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c, _, _ = _spatial("enas_sep_conv", in_shape)
    return DilConv(c, _channels(args, in_shape), _int(args, "k", 3), _int(args, "stride", 1), 1)


def mbconv(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c, _, _ = _spatial("mbconv", in_shape)
    return MBConv(c, _channels(args, in_shape), _int(args, "k", 3), _int(args, "e", 6), _int(args, "stride", 1))


def resnet_block(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c, _, _ = _spatial("resnet_block", in_shape)
    return ResNetBlock(c, _channels(args, in_shape), _int(args, "stride", 2))


def max_pool(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    _spatial("max_pool", in_shape)
    k, s = _int(args, "k", 3), _int(args, "stride", 1)
    if k % 2:
        return nn.MaxPool2d(k, stride=s, padding=(k - 1) // 2)
    return MaxPoolSame(k, s)


def avg_pool(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    _spatial("avg_pool", in_shape)
    k, s = _int(args, "k", 3), _int(args, "stride", 1)
    if k % 2:
        return nn.AvgPool2d(k, stride=s, padding=(k - 1) // 2, count_include_pad=False)
    return AvgPoolSame(k, s)


def factorized_reduce(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c, _, _ = _spatial("factorized_reduce", in_shape)
    return FactorizedReduce(c, _channels(args, in_shape))


def skip_connect(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    s = _int(args, "stride", 1)
    if s == 1:
        return nn.Identity()
    if s == 2:
        # the compiler already turns a strided skip into factorized_reduce; same thing here (DARTS)
        _spatial("skip_connect", in_shape)
        return FactorizedReduce(int(in_shape[0]), int(in_shape[0]))
    raise ValueError(f"skip_connect takes stride 1 (or 2, as factorized_reduce); got {s}")


def none(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    s = _int(args, "stride", 1)
    if s != 1 and len(in_shape) != 3:
        raise ValueError(f"op 'none' with stride {s} needs a [C, H, W] input; got {list(in_shape)}")
    return Zero(int(in_shape[0]), _channels(args, in_shape), s, len(in_shape) + 1)


def batchnorm(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c = int(in_shape[0])
    if len(in_shape) == 3:
        return nn.BatchNorm2d(c)
    if len(in_shape) in (1, 2):
        return nn.BatchNorm1d(c)
    raise ValueError(f"batchnorm needs a [C], [C, L] or [C, H, W] input; got {list(in_shape)}")


def relu(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    return nn.ReLU(inplace=False)


def dropout(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    p = args.get("p", 0.0)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"argument 'p' of dropout must be a number in [0, 1); got {p!r}")
    return nn.Dropout(float(p))


def global_avg_pool(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    _spatial("global_avg_pool", in_shape)
    return GlobalAvgPool()


def flatten(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    return nn.Flatten(1)


def linear(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    if len(in_shape) not in (1, 2):
        raise ValueError(f"linear needs a flat [C] input or a sequence [T, D]; got {list(in_shape)} "
                         "(add global_avg_pool or flatten first)")
    if "out" not in args:
        raise ValueError("linear needs argument 'out'")
    return nn.Linear(int(in_shape[-1]), _int(args, "out", 1), bias=True)  # on the last dim


def _last(op: str, in_shape: Shape, ranks: tuple[int, ...] = (1, 2)) -> int:
    """The feature size of a [C] input or a [T, D] sequence, or a ValueError in words."""
    if len(in_shape) not in ranks:
        want = " or ".join({1: "[C]", 2: "[T, D]", 3: "[C, H, W]"}[r] for r in ranks)
        raise ValueError(f"op '{op}' needs a {want} input; got {list(in_shape)}")
    return int(in_shape[-1])


def _same_or(args: Mapping[str, Any], name: str, default: int) -> int:
    v = args.get(name, SAME)
    return default if v is None or v == SAME else _int(args, name, default)


def gelu(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    return nn.GELU()


def tanh(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    return nn.Tanh()


def sigmoid(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    return nn.Sigmoid()


def layernorm(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    if len(in_shape) == 3:
        return ChannelLayerNorm(int(in_shape[0]))
    return nn.LayerNorm(_last("layernorm", in_shape))


def se(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    c, _, _ = _spatial("se", in_shape)
    return SqueezeExcite(c, max(1, c // _int(args, "ratio", 4)))


def channel_shuffle(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    if len(in_shape) not in (1, 3):
        raise ValueError(f"op 'channel_shuffle' needs a [C, H, W] or [C] input; got {list(in_shape)}")
    g = _int(args, "groups", 2)
    if int(in_shape[0]) % g:
        raise ValueError(f"channel_shuffle: groups={g} must divide the channels ({in_shape[0]})")
    return ChannelShuffle(g)


def tokens(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    dim, p = _int(args, "dim", 1), _int(args, "patch", 1)
    if len(in_shape) == 3:
        c, h, w = _spatial("tokens", in_shape)
        if h % p or w % p:
            raise ValueError(f"tokens: patch={p} must divide the height and width of {list(in_shape)}")
        return PatchEmbed(c, dim, p)
    if p != 1:
        raise ValueError(f"tokens with patch={p} needs a [C, H, W] input; got {list(in_shape)}")
    return nn.Linear(_last("tokens", in_shape, (2,)), dim)


def multihead_attention(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    d = _last("multihead_attention", in_shape, (2,))
    return SelfAttention(d, _same_or(args, "dim", d), _int(args, "heads", 1))


def mlp(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    d = _last("mlp", in_shape)
    hidden = _int(args, "hidden", 1)
    return nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, _same_or(args, "out", d)))


def seq_mean_pool(args: Mapping[str, Any], in_shape: Shape) -> nn.Module:
    _last("seq_mean_pool", in_shape, (2,))
    return TokenMean()


FACTORIES: dict[str, Factory] = {
    "conv": conv,
    "conv_bn_relu": conv_bn_relu,
    "relu_conv_bn": relu_conv_bn,
    "sep_conv": sep_conv,
    "dil_conv": dil_conv,
    "dw_conv": dw_conv,
    "conv_7x1_1x7": conv_7x1_1x7,
    "conv_3x1_1x3": conv_3x1_1x3,
    "enas_conv": enas_conv,
    "enas_sep_conv": enas_sep_conv,
    "mbconv": mbconv,
    "resnet_block": resnet_block,
    "max_pool": max_pool,
    "avg_pool": avg_pool,
    "factorized_reduce": factorized_reduce,
    "skip_connect": skip_connect,
    "none": none,
    "batchnorm": batchnorm,
    "relu": relu,
    "dropout": dropout,
    "global_avg_pool": global_avg_pool,
    "flatten": flatten,
    "linear": linear,
    "gelu": gelu,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "layernorm": layernorm,
    "se": se,
    "channel_shuffle": channel_shuffle,
    "tokens": tokens,
    "multihead_attention": multihead_attention,
    "mlp": mlp,
    "seq_mean_pool": seq_mean_pool,
}


def register_all(register: Callable[..., None]) -> None:
    """Register every factory with the op registry, for the "torch" backend."""
    for name, factory in FACTORIES.items():
        register(name, factory, backend="torch")
