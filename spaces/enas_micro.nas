# ENAS micro space (Pham et al., ICML 2018): NASNet-like cells with B = 7
# nodes (2 inputs + 5).  Each new node takes two inputs, chosen independently
# among the earlier nodes, applies one of 5 ops to each and adds them; the
# nodes that no other node uses are concatenated.  The normal and the
# reduction cell are decided separately.
# Published size: "(5 * (B - 2)!)^4 ~ 1.3 * 10^11" for both cells.  Counting
# the space as the paper defines it (an ordered pair of inputs and an op for
# each, per node) gives (prod_{b=2..6} b^2 * 5^10)^2 = (720^2 * 5^10)^2
# ~ 2.6 * 10^25, which is what `nasdsl count` prints; the paper's closed form
# counts one op and one input per node.

ops enas_micro_ops = [identity, sep_conv_3x3, sep_conv_5x5, avg_pool_3x3, max_pool_3x3]

cell enas_cell(h0, h1) {
    n2 = sum(pick 2 of [h0, h1]                 independently each enas_micro_ops)
    n3 = sum(pick 2 of [h0, h1, n2]             independently each enas_micro_ops)
    n4 = sum(pick 2 of [h0, h1, n2, n3]         independently each enas_micro_ops)
    n5 = sum(pick 2 of [h0, h1, n2, n3, n4]     independently each enas_micro_ops)
    n6 = sum(pick 2 of [h0, h1, n2, n3, n4, n5] independently each enas_micro_ops)
    return concat(leaves of [n2, n3, n4, n5, n6])
}

network enas_micro(C = 20, N = 5, classes = 10) {
    input [3, 32, 32]
    stem = conv_3x3(3 * C) -> batchnorm
    body = cells(3 * N + 2, channels = C, normal = enas_cell,
                 reduce = enas_cell as enas_reduce_cell, reduce_at = [N, 2 * N + 1])
    return global_avg_pool -> linear(classes)
}
