# NASNet search space (Zoph, Vasudevan, Shlens & Le, CVPR 2018): a normal and
# a reduction cell of B = 5 blocks.  Each block picks two hidden states
# (independently, among the two cell inputs and the earlier blocks), applies
# one of 13 ops to each and adds the results; the blocks nothing else uses
# are concatenated.  (The paper also lists concatenation as a combiner;
# NASNet-A adds everywhere, and so does this space.)
# Size: (prod_{b=2..6} b^2 * 13^10)^2 = (720^2 * 13^10)^2 ~ 5.1 * 10^33.

ops nasnet_ops = [identity, conv_1x3_3x1, conv_1x7_7x1, dil_conv_3x3, avg_pool_3x3,
                  max_pool_3x3, max_pool_5x5, max_pool_7x7, conv_1x1, conv_3x3,
                  sep_conv_3x3, sep_conv_5x5, sep_conv_7x7]

cell nasnet_cell(h0, h1) {
    b1 = sum(pick 2 of [h0, h1]                 independently each nasnet_ops)
    b2 = sum(pick 2 of [h0, h1, b1]             independently each nasnet_ops)
    b3 = sum(pick 2 of [h0, h1, b1, b2]         independently each nasnet_ops)
    b4 = sum(pick 2 of [h0, h1, b1, b2, b3]     independently each nasnet_ops)
    b5 = sum(pick 2 of [h0, h1, b1, b2, b3, b4] independently each nasnet_ops)
    return concat(leaves of [b1, b2, b3, b4, b5])
}

network nasnet_cifar(C = 32, N = 6, classes = 10) {
    input [3, 32, 32]
    stem = conv_3x3(3 * C) -> batchnorm
    body = cells(3 * N + 2, channels = C, normal = nasnet_cell,
                 reduce = nasnet_cell as nasnet_reduce_cell, reduce_at = [N, 2 * N + 1])
    return global_avg_pool -> linear(classes)
}
