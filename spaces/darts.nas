# DARTS (Liu, Simonyan & Yang, ICLR 2019): the CNN cell space, built as the
# CIFAR-10 evaluation network of the paper (C = 36, 20 cells, reductions at
# cells 6 and 13, stem conv3x3 -> 3C + BN, global average pool + linear head).
# A cell has 2 inputs and 4 nodes; each node sums 2 edges from distinct earlier
# states, each edge one of 7 ops; the output concatenates the 4 nodes.  The
# normal and the reduction cell are decided separately.
# Published size: (prod_{k=1..4} k(k+1)/2 * 7^2)^2 = (180 * 49^4)^2
#               = 1,076,746,950,455,072,400.

ops darts_ops = [skip_connect, max_pool_3x3, avg_pool_3x3,
                 sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5]

# A cell's decisions are made once and shared by every place it is used.
cell darts_cell(s0, s1) {
    n2 = sum(pick 2 of [s0, s1]             each darts_ops)
    n3 = sum(pick 2 of [s0, s1, n2]         each darts_ops)
    n4 = sum(pick 2 of [s0, s1, n2, n3]     each darts_ops)
    n5 = sum(pick 2 of [s0, s1, n2, n3, n4] each darts_ops)
    return concat(n2, n3, n4, n5)
}

network darts_cifar(C = 36, layers = 20, classes = 10) {
    input [3, 32, 32]
    stem = conv_3x3(3 * C) -> batchnorm
    body = cells(layers, channels = C, normal = darts_cell,
                 reduce = darts_cell as reduce_cell,
                 reduce_at = [layers / 3, 2 * layers / 3])
    return global_avg_pool -> linear(classes)
}
