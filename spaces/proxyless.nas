# ProxylessNAS (Cai, Zhu & Han, ICLR 2019): a MobileNetV2-style chain.  Each
# searchable layer is one of 6 MBConv candidates (kernel 3/5/7 x expansion
# 3/6); a layer that keeps its stride and width may also be 'zero', which
# leaves only its residual shortcut (the layer is skipped).  Stage widths and
# strides follow the ProxylessNAS backbone for 224 x 224 ImageNet.
# Size: 6^6 (first layer of each stage) * 7^15 (the others) ~ 2.2 * 10^17.

ops mb_ops = [mbconv(k=3, e=3), mbconv(k=3, e=6), mbconv(k=5, e=3),
              mbconv(k=5, e=6), mbconv(k=7, e=3), mbconv(k=7, e=6)]
ops mb_or_zero = [mb_ops, zero]

block mb_layer(x) {
    return sum(x, x -> mb_or_zero)
}

block mb_stage(x, C, n, stride) {
    first = mb_ops(channels = C, stride = stride)
    return repeat (n - 1) { mb_layer }
}

network proxyless(classes = 1000) {
    input [3, 224, 224]
    stem  = conv_bn_relu(32, k = 3, stride = 2) -> mbconv(16, k = 3, e = 1)
    s1 = mb_stage(24, 4, 2)
    s2 = mb_stage(40, 4, 2)
    s3 = mb_stage(80, 4, 2)
    s4 = mb_stage(96, 4, 1)
    s5 = mb_stage(192, 4, 2)
    s6 = mb_stage(320, 1, 1)
    return conv_bn_relu(1280, k = 1) -> global_avg_pool -> linear(classes)
}
