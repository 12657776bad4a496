# PNAS (Liu et al., ECCV 2018): a cell of 5 blocks.  Block b takes two inputs,
# each chosen independently among the two cell inputs and the blocks before it,
# applies one of 8 ops to each, and adds them.  One cell is used both as the
# normal and (at stride 2) as the reduction cell.  PNAS searches it
# progressively, 1 block, then 2, ... up to 5.
# Published size at 5 blocks: prod_{b=1..5} ((b+1)^2 * 8^2) = 720^2 * 64^5
#                           = 556,627,761,561,600 (~ 5.6 * 10^14).

ops pnas_ops = [sep_conv_3x3, sep_conv_5x5, sep_conv_7x7, conv_1x7_7x1,
                identity, avg_pool_3x3, max_pool_3x3, dil_conv_3x3]

cell pnas_cell(h0, h1) {
    b1 = sum(pick 2 of [h0, h1]                 independently each pnas_ops)
    b2 = sum(pick 2 of [h0, h1, b1]             independently each pnas_ops)
    b3 = sum(pick 2 of [h0, h1, b1, b2]         independently each pnas_ops)
    b4 = sum(pick 2 of [h0, h1, b1, b2, b3]     independently each pnas_ops)
    b5 = sum(pick 2 of [h0, h1, b1, b2, b3, b4] independently each pnas_ops)
    return concat(b1, b2, b3, b4, b5)
}

network pnas_cifar(C = 32, N = 3, classes = 10) {
    input [3, 32, 32]
    stem = conv_3x3(3 * C) -> batchnorm
    body = cells(3 * N + 2, channels = C, normal = pnas_cell, reduce = pnas_cell,
                 reduce_at = [N, 2 * N + 1])
    return global_avg_pool -> linear(classes)
}
