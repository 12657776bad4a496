# ENAS macro space (Pham et al., ICML 2018): a chain of 12 layers.  Layer i
# applies one of 6 ops to the layer before it and adds any subset of the
# layers 0..i-1 as skip connections; after layers 3 and 7 the feature maps are
# halved (earlier layers feeding a skip are reduced the same way).
# Published size: 6^12 * 2^66 ~ 1.6 * 10^29.

ops enas_ops = [enas_conv(k=3), enas_conv(k=5), enas_sep_conv(k=3), enas_sep_conv(k=5),
                max_pool(k=3), avg_pool(k=3)]

network enas_macro(C = 36, layers = 12, classes = 10) {
    input [3, 32, 32]
    stem = conv_3x3(C) -> batchnorm
    for i in range(layers) {
        # the op is applied to the tensor before (the previous layer, or the stem)
        l[i] = sum(enas_ops, any subset of l[0:i])
        if i == layers / 3 - 1 or i == 2 * layers / 3 - 1 {
            pool[i] = factorized_reduce
        }
    }
    return global_avg_pool -> linear(classes)
}
